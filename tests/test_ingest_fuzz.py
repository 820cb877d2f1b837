"""Fuzzing the ingest: mutated real and sample files of every format never crash it or lose a row.

Each example takes a seed file (the samples, a τ-bench slice as a wrapped list and as
JSON Lines), mutates it (nesting past Python's recursion limit, values of the wrong
type, a byte-order mark, mixed line ends, truncation, invalid UTF-8, gzip) and ingests
it through the CLI with auto-detection. The command must end with exit code 0 or 1,
never a traceback, and when it reports counts, every record read must be accounted for:
accepted + rejected + duplicates equals the records of the file as an independent
reader here counts them (for conversations: their tool calls, bad records, and the
results that paired with no call).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import sys
import tempfile
from pathlib import Path

import duckdb
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainmine.miner.cli import cli
from chainmine.miner.ingest.conversations import MESSAGE_KEYS
from chainmine.miner.ingest.pairing import AMBIGUOUS, BEFORE_ANY_CALL, NO_CALL

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
TAU = Path(__file__).resolve().parent / "data" / "tau_airline_gpt4o_slice.json.gz"
DEPTH = 1200  # past Python's default recursion limit (1000)
DEEP = "__deep__"
BOM = b"\xef\xbb\xbf"


def _tau() -> list:
    return json.loads(gzip.decompress(TAU.read_bytes()))[:4]


def _lines(name: str) -> list:
    return [json.loads(ln) for ln in (SAMPLES / name).read_text().splitlines() if ln.strip()]


SEEDS = {
    "canonical.jsonl": ("jsonl", lambda: _lines("canonical.jsonl")),
    "aliases.jsonl": ("jsonl", lambda: _lines("aliases.jsonl")),
    "openai_chat.jsonl": ("jsonl", lambda: _lines("openai_chat.jsonl")),
    "anthropic.jsonl": ("jsonl", lambda: _lines("anthropic.jsonl")),
    "otel.jsonl": ("jsonl", lambda: _lines("otel.jsonl")),
    "openai_responses.json": ("json", lambda: json.loads((SAMPLES / "openai_responses.json").read_text())),
    "tau.json": ("json", _tau),
    "tau.jsonl": ("jsonl", lambda: [{"id": f"{r['task_id']}-{r['trial']}", "messages": r["traj"],
                                     "reward": r["reward"]} for r in _tau()]),
    "canonical.csv": ("csv", lambda: list(csv.reader(io.StringIO((SAMPLES / "canonical.csv").read_text())))),
    "canonical.parquet": ("parquet", lambda: (SAMPLES / "canonical.parquet").read_bytes()),
}
ODD_VALUES = [0, -1.5, "", "x", "Error: no", None, True, [], {}, [1, "a"], {"a": {"b": []}}, DEEP]


def _paths(value, prefix=()):
    """Every path (tuple of keys/indices) into a JSON value, the value itself first."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _replace(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    return [_replace(v, rest, new) if i == head else v for i, v in enumerate(value)]


def _dumps(value) -> str:
    """JSON text; the marker DEEP becomes arrays nested :data:`DEPTH` levels deep."""
    return json.dumps(value).replace(f'"{DEEP}"', "[" * DEPTH + "]" * DEPTH)


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(SEEDS)))
    container, load = SEEDS[name]
    seed = load()
    if container == "parquet":
        data = seed
    elif container == "csv":
        rows = [list(r) for r in seed]
        for _ in range(draw(st.integers(0, 3))):
            i, j = draw(st.integers(1, len(rows) - 1)), draw(st.integers(0, len(rows[0]) - 1))
            rows[i][j] = draw(st.sampled_from(["", "x", "-3", "a,b", 'q"q', "two\nlines", "[" * DEPTH, "nan"]))
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        data = out.getvalue().encode()
    else:
        records = seed
        for _ in range(draw(st.integers(0, 3))):
            i = draw(st.integers(0, len(records) - 1))
            paths = list(_paths(records[i]))
            path = paths[draw(st.integers(0, min(len(paths), 400) - 1))]
            records = _replace(records, (i,) + path, draw(st.sampled_from(ODD_VALUES)))
        if container == "json":
            data = _dumps(records).encode()
        else:
            data = "".join(_dumps(r) + "\n" for r in records).encode()
    if draw(st.booleans()):
        data = BOM + data
    if draw(st.booleans()):
        parts = data.split(b"\n")
        ends = draw(st.lists(st.booleans(), min_size=len(parts), max_size=len(parts)))
        data = b"".join(p + (b"\r\n" if e else b"\n") for p, e in zip(parts[:-1], ends)) + parts[-1]
    if draw(st.integers(0, 4)) == 0:
        data = data[:draw(st.integers(1, len(data)))]
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\xff\xc3" + data[at:]
    gz = draw(st.integers(0, 3)) == 0
    suffix = {"jsonl": ".jsonl", "json": ".json", "csv": ".csv", "parquet": ".parquet"}[container]
    return name, (suffix + ".gz" if gz else suffix), (gzip.compress(data) if gz else data)


@contextlib.contextmanager
def _deep_parsing():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10 * DEPTH))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _json_records(data: bytes, container: str) -> list | None:
    """The records as DuckDB's readers split them; an unparseable record is None (it is one reject)."""
    if data.startswith(BOM):
        data = data[len(BOM):]
    with _deep_parsing():
        if container == "jsonl":
            out = []
            for line in data.split(b"\n"):
                if not line.strip(b" \t\r\n"):
                    continue
                try:
                    out.append(json.loads(line.decode("utf-8")))
                except ValueError:
                    out.append(None)
            return out
        try:
            doc = json.loads(data.decode("utf-8"))
        except ValueError:
            return None  # DuckDB may read some of it, or fail: not counted here
    return doc if isinstance(doc, list) else [doc]


def _messages(rec: dict):
    """The message list: ``messages``, else the first other key holding a list with a role message."""
    for key in MESSAGE_KEYS:
        value = rec.get(key)
        if isinstance(value, list) and (key == "messages" or any(isinstance(m, dict) and "role" in m for m in value)):
            return value
    return None


def _conversation_rows(rec, fmt: str) -> tuple[int, int]:
    """``(rows, results)``: rows the record gives besides unpaired results (calls, or 1 for a bad record)."""
    if not isinstance(rec, dict):
        return 1, 0
    if fmt == "openai-responses":
        if isinstance(rec.get("items"), list):
            items = rec["items"]
        elif any(isinstance(rec.get(k), list) for k in ("input", "output")):
            items = [i for k in ("input", "output") if isinstance(rec.get(k), list) for i in rec[k]]
        else:
            return 1, 0
        kinds = [i.get("type") if isinstance(i, dict) else None for i in items]
        return kinds.count("function_call"), kinds.count("function_call_output")
    msgs = _messages(rec)
    if msgs is None:
        return 1, 0
    msgs = [m for m in msgs if isinstance(m, dict)]
    if fmt == "openai":
        calls = sum(len(m["tool_calls"]) for m in msgs if isinstance(m.get("tool_calls"), list))
        return calls, sum(m.get("role") == "tool" for m in msgs)
    blocks = [b for m in msgs if isinstance(m.get("content"), list) for b in m["content"] if isinstance(b, dict)]
    return sum(b.get("type") == "tool_use" for b in blocks), sum(b.get("type") == "tool_result" for b in blocks)


def _otel_rows(rec) -> tuple[int, int]:
    """``(least, most)`` rows of one OTel line: a bad line is one reject; else at most one per span."""
    if not isinstance(rec, dict) or not isinstance(rec.get("resourceSpans"), list):
        return 1, 1
    spans = [s for r in rec["resourceSpans"] if isinstance(r, dict) and isinstance(r.get("scopeSpans"), list)
             for sc in r["scopeSpans"] if isinstance(sc, dict) and isinstance(sc.get("spans"), list)
             for s in sc["spans"]]
    return 0, len(spans)


def _csv_rows(data: bytes) -> int | None:
    try:
        text = data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return None  # DuckDB's sniffer may then give up on quoting or the delimiter: rows part ways
    if text.count('"') % 2:
        return None  # an unterminated quote: DuckDB's and Python's readers part ways
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return sum(1 for r in rows[1:] if any(c.strip() for c in r))


def _check_counts(data: bytes, fmt: str, container: str, counts: dict, pairing_rejects: int) -> None:
    total = counts["accepted"] + counts["rejected"] + counts["duplicates"]
    if container == "parquet":
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "p.parquet").write_bytes(data)
            rows = duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)",
                                            [str(Path(tmp) / "p.parquet")]).fetchone()[0]
        assert total == rows
        return
    if container == "csv":
        expected = _csv_rows(data)
        assert expected is None or total == expected, (total, expected)
        return
    records = _json_records(data, container)
    if records is None:
        return
    if fmt == "canonical":
        assert total == len(records)
    elif fmt == "otel":
        least = sum(_otel_rows(r)[0] for r in records)
        most = sum(_otel_rows(r)[1] for r in records)
        assert least <= total <= most, (least, total, most)
    else:
        rows, results = map(sum, zip(*[_conversation_rows(r, fmt) for r in records])) if records else (0, 0)
        assert total == rows + pairing_rejects, (total, rows, pairing_rejects)
        assert pairing_rejects <= results


@settings(max_examples=45, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_files_are_ingested_or_refused_never_crash(case):
    name, suffix, data = case
    with tempfile.TemporaryDirectory() as tmp:
        path, db = Path(tmp) / f"fuzz{suffix}", Path(tmp) / "t.duckdb"
        path.write_bytes(data)
        result = CliRunner().invoke(cli, ["ingest", str(path), "--db", str(db), "--json", "--quiet"])
        assert result.exit_code in (0, 1), (name, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (name, result.exc_info)
        assert "Traceback" not in result.output
        if not result.stdout.strip():
            assert result.exit_code == 1 and result.stderr.startswith("error: ")
            assert len(result.stderr.strip().splitlines()) == 1
            return
        report = json.loads(result.stdout)
        fmt = report["files"][0]["format"]
        with duckdb.connect(str(db), read_only=True) as con:
            container = json.loads(con.execute("SELECT options FROM ingests").fetchone()[0])["container"]
            pairing = con.execute("SELECT count(*) FROM rejects WHERE reason IN (?, ?, ?)",
                                  [BEFORE_ANY_CALL, NO_CALL, AMBIGUOUS]).fetchone()[0]
        plain = gzip.decompress(data) if suffix.endswith(".gz") else data
        _check_counts(plain, fmt, container, report, pairing)
        nothing = report["accepted"] == 0 and report["duplicates"] == 0 and report["rejected"] > 0
        assert result.exit_code == (1 if nothing else 0)
