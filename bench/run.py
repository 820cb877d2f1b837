"""``make bench``: ingest, stats and mining at 100k, 1M and 10M calls, with peers.

Logs come from the project's generator and are cached in ``bench/cache``.
Every measured step runs as its own process (wall seconds and that process's
peak resident memory). Results are printed as a table and written to
``bench/results/bench.json``.

Usage: ``python -m bench.run [--sizes 100k,1M,10M] [--peers-at 1M] [--skip-peers] [--spark-at 1M,10M]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from bench.measure import measure

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / "cache"
RESULTS = ROOT / "results"
BIN = Path(sys.executable).parent
SEED = 7


def parse_size(text: str) -> int:
    """``"100k"`` → 100000, ``"1M"`` → 1000000.

    Examples
    --------
    >>> parse_size("10M"), parse_size("250k"), parse_size("5000")
    (10000000, 250000, 5000)
    """
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * scale)


def calls_per_session() -> float:
    """Average calls per generated session, measured on a small sample."""
    from chainmine.miner.generate import generate_records

    n = sum(1 for _ in generate_records(sessions=2000, seed=SEED))
    return n / 2000


def ensure_logs(label: str, calls: int, ratio: float) -> dict:
    """Generate (once per generator log version) JSONL and Parquet logs of about ``calls`` calls."""
    from chainmine.miner.generate.writer import LOG_VERSION

    CACHE.mkdir(parents=True, exist_ok=True)
    meta_path = CACHE / f"{label}.meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("log_version") == LOG_VERSION:
            return meta
    sessions = max(10, round(calls / ratio))
    meta = {"label": label, "sessions": sessions, "log_version": LOG_VERSION}
    for fmt in ("parquet", "jsonl"):
        out = CACHE / f"{label}.{fmt}"
        step = measure([str(BIN / "chainmine"), "generate", "--out", str(out), "--sessions", str(sessions),
                        "--seed", str(SEED), "--json", "--quiet"], keep_output=True)
        if step["returncode"] != 0:
            raise SystemExit(f"generate failed: {step['stderr_tail']}")
        report = json.loads(step["output"])
        meta["calls"] = report["calls"]
        meta[f"generate_{fmt}_seconds"] = step["seconds"]
    meta_path.write_text(json.dumps(meta))
    return meta


def chainmine(*args: str, env: dict[str, str]) -> dict:
    """Run one chainmine command as its own process and measure it."""
    step = measure([str(BIN / "chainmine"), *args], env=env, keep_output=True)
    if step["returncode"] != 0:
        raise SystemExit(f"chainmine {' '.join(args)} failed:\n{step['stderr_tail']}")
    return step


def bench_size(label: str, meta: dict, work: Path, env: dict[str, str]) -> dict:
    """Ingest from JSONL and Parquet, then stats and mine, for one log size."""
    calls = meta["calls"]
    row: dict = {"size": label, "calls": calls, "sessions": meta["sessions"]}
    for fmt in ("jsonl", "parquet"):
        db = work / f"{label}-{fmt}.duckdb"
        for stale in work.glob(f"{label}-{fmt}.duckdb*"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        step = chainmine("ingest", str(CACHE / f"{label}.{fmt}"), "--db", str(db), "--json", "--quiet", env=env)
        row[f"ingest_{fmt}_seconds"] = step["seconds"]
        row[f"ingest_{fmt}_calls_per_s"] = round(calls / step["seconds"])
        row[f"ingest_{fmt}_rss_mb"] = step["max_rss_mb"]
    db = work / f"{label}-parquet.duckdb"
    row["db_mb"] = round(db.stat().st_size / 2**20, 1)
    for name, args in (("stats", ["stats", "--json"]), ("mine", ["mine", "--json", "--quiet"])):
        step = chainmine(*args, "--db", str(db), env=env)
        row[f"{name}_seconds"] = step["seconds"]
        row[f"{name}_rss_mb"] = step["max_rss_mb"]
        if name == "mine":
            row["workflows"] = len(json.loads(step["output"]))
    row["peak_rss_mb"] = max(v for k, v in row.items() if k.endswith("_rss_mb"))
    return row


def bench_spark(label: str, row: dict, work: Path, env: dict[str, str]) -> dict:
    """Export the store to Parquet and mine it on Spark local[2], beside DuckDB's ``mine``.

    The process's resident memory is the Python driver's; Spark's JVM runs as its child.
    """
    db, lake = work / f"{label}-parquet.duckdb", work / f"{label}-lake"
    shutil.rmtree(lake, ignore_errors=True)
    exported = chainmine("export", "--format", "parquet", "--out", str(lake), "--db", str(db), "--json", env=env)
    step = chainmine("mine", "--engine", "spark", "--source", str(lake), "--spark-master", "local[2]",
                     "--json", "--quiet", env=env)
    same = json.loads(step["output"]) == json.loads(chainmine("mine", "--db", str(db), "--json", "--quiet",
                                                               env=env)["output"])
    return {"size": label, "export_seconds": exported["seconds"], "spark_local2_mine_seconds": step["seconds"],
            "duckdb_mine_seconds": row["mine_seconds"], "same_workflows": same}


def bench_peers(label: str, row: dict, work: Path, env: dict[str, str]) -> dict:
    """The plain n-gram counter, pm4py's DFG and PrefixSpan on the same log."""
    py = str(BIN / "python")
    peers: dict = {"size": label}
    counter = measure([py, "-m", "bench.peers.ngram_counter", str(CACHE / f"{label}.jsonl")], keep_output=True)
    counted = json.loads(counter["output"] or "{}")
    peers["ngram_counter_seconds"] = counter["seconds"]
    peers["ngram_counter_count_seconds"] = counted.get("count_seconds")
    peers["ngram_counter_vs_mine"] = round(counter["seconds"] / row["mine_seconds"], 1)
    peers["ngram_counter_vs_ingest_and_mine"] = round(
        counter["seconds"] / (row["mine_seconds"] + row["ingest_jsonl_seconds"]), 1)
    db = str(work / f"{label}-parquet.duckdb")
    # The counter's own work (count and filter chains of 2-6 calls) against chainmine's chain
    # search alone, each a whole process; mine also samples, infers dataflow and validates.
    search = measure([py, "-m", "bench.peers.chainmine_search", db], env=env, keep_output=True)
    searched = json.loads(search["output"] or "{}")
    peers["chainmine_search_seconds"] = search["seconds"]
    peers["chainmine_search_inner_seconds"] = searched.get("seconds")
    peers["ngram_counter_vs_chain_search"] = round(counter["seconds"] / search["seconds"], 1)
    if counted.get("count_seconds") and searched.get("seconds"):
        peers["ngram_count_vs_chain_search_inner"] = round(counted["count_seconds"] / searched["seconds"], 1)
    ours = measure([py, "-m", "bench.peers.chainmine_dfg", db], env=env)
    pm = measure([py, "-m", "bench.peers.pm4py_dfg", str(CACHE / f"{label}.parquet")])
    peers["chainmine_dfg_seconds"] = ours["seconds"]
    if pm["returncode"] == 0:
        peers["pm4py_dfg_seconds"] = pm["seconds"]
        peers["pm4py_dfg_vs_chainmine"] = round(pm["seconds"] / ours["seconds"], 1)
    else:
        peers["pm4py_dfg_error"] = (pm["stderr_tail"].strip().splitlines() or ["?"])[-1]
    sample_sessions = 2000
    sample = work / "sample.parquet"
    import duckdb
    duckdb.execute(f"""COPY (SELECT * FROM read_parquet('{CACHE / f"{label}.parquet"}')
                   WHERE session_id IN (SELECT DISTINCT session_id FROM read_parquet('{CACHE / f"{label}.parquet"}')
                                        ORDER BY session_id LIMIT {sample_sessions}))
                   TO '{sample}' (FORMAT parquet)""")
    sample_db = work / "sample.duckdb"
    for stale in work.glob("sample.duckdb*"):
        stale.unlink()
    chainmine("ingest", str(sample), "--db", str(sample_db), "--quiet", "--json", env=env)
    ours_mine = chainmine("mine", "--db", str(sample_db), "--json", "--quiet", env=env)
    ps = measure([py, "-m", "bench.peers.prefixspan_mine", str(sample), "--sessions", str(sample_sessions)],
                 timeout=900)
    peers["prefixspan_sample_sessions"] = sample_sessions
    peers["chainmine_mine_sample_seconds"] = ours_mine["seconds"]
    if ps["returncode"] == 0:
        peers["prefixspan_seconds"] = ps["seconds"]
        peers["prefixspan_vs_chainmine"] = round(ps["seconds"] / ours_mine["seconds"], 1)
    else:
        peers["prefixspan_error"] = "did not finish in 900 s" if ps["returncode"] == -9 else ps["stderr_tail"][-300:]
    return peers


def runner_overhead() -> dict | None:
    """The runner's own overhead per step (bench/runner_overhead.py), if present."""
    script = ROOT / "runner_overhead.py"
    if not script.exists():
        return None
    step = measure([str(BIN / "python"), str(script), "--json"], keep_output=True)
    try:
        return {"shapes": json.loads(step["output"])}
    except ValueError:
        return {"error": (step["stderr_tail"] or step["output"])[-300:]}


def print_table(rows: list[dict], peers: list[dict], runner: dict | None) -> None:
    """Print the figures as plain text tables."""
    head = f"{'size':>6} {'calls':>11} {'ingest jsonl/s':>15} {'ingest parquet/s':>17} {'stats s':>8} " \
           f"{'mine s':>7} {'peak MB':>8} {'db MB':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['size']:>6} {r['calls']:>11,} {r['ingest_jsonl_calls_per_s']:>15,} "
              f"{r['ingest_parquet_calls_per_s']:>17,} {r['stats_seconds']:>8.2f} {r['mine_seconds']:>7.2f} "
              f"{r['peak_rss_mb']:>8.0f} {r['db_mb']:>7.1f}")
    for p in peers:
        print(f"\npeers at {p['size']}:")
        for k, v in p.items():
            if k != "size":
                print(f"  {k:<36} {v}")
    if runner:
        print("\nrunner overhead:")
        for k, v in runner.items():
            print(f"  {k:<36} {v}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", "100k,1M,10M"))
    ap.add_argument("--peers-at", default="1M")
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--spark-at", default=os.environ.get("BENCH_SPARK", "1M,10M"),
                    help="sizes also mined on Spark local[2] (needs pyspark and Java; empty: none)")
    # DuckDB keeps its buffers within the limit; Python and the rest add about 0.2 GB on top.
    ap.add_argument("--memory-limit", default=os.environ.get("CHAINMINE_MEMORY_LIMIT", "2GB"))
    a = ap.parse_args(argv)
    env = dict(os.environ, CHAINMINE_MEMORY_LIMIT=a.memory_limit)
    work = ROOT / "cache" / "work"
    work.mkdir(parents=True, exist_ok=True)
    ratio = calls_per_session()
    rows, peers, spark = [], [], []
    spark_sizes = {s.strip() for s in a.spark_at.split(",") if s.strip()}
    for label in [s.strip() for s in a.sizes.split(",") if s.strip()]:
        meta = ensure_logs(label, parse_size(label), ratio)
        print(f"[bench] {label}: {meta['calls']:,} calls", file=sys.stderr, flush=True)
        row = bench_size(label, meta, work, env)
        rows.append(row)
        if not a.skip_peers and label == a.peers_at:
            peers.append(bench_peers(label, row, work, env))
        if label in spark_sizes:
            spark.append(bench_spark(label, row, work, env))
    runner = runner_overhead()
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
           "memory_limit": a.memory_limit, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
           "sizes": rows, "peers": peers, "spark": spark, "runner": runner}
    (RESULTS / "bench.json").write_text(json.dumps(doc, indent=2))
    print_table(rows, peers + spark, runner)
    print(f"\nfigures written to {RESULTS / 'bench.json'}")


if __name__ == "__main__":
    main()
