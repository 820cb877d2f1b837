"""The ``prefixspan`` package on a sample of sessions (it cannot finish on the full log).

``python -m bench.peers.prefixspan_mine LOG.parquet --sessions N --min-support K``
prints patterns and seconds as JSON. PrefixSpan finds gapped subsequences, a
superset of contiguous chains, which is why it needs a sample.
"""

from __future__ import annotations

import argparse
import json
import time


def sample_sequences(path: str, sessions: int) -> list[list[str]]:
    """The tool sequences of the first ``sessions`` sessions (by id), in call order."""
    import duckdb

    rows = duckdb.execute(
        """SELECT list(tool ORDER BY ts, seq) FROM read_parquet(?)
           WHERE session_id IN (SELECT DISTINCT session_id FROM read_parquet(?) ORDER BY session_id LIMIT ?)
           GROUP BY session_id ORDER BY session_id""", [path, path, sessions]).fetchall()
    return [r[0] for r in rows]


def main(path: str, sessions: int, min_support: int) -> dict:
    """Mine closed frequent sequences of length 2-6 with PrefixSpan."""
    from prefixspan import PrefixSpan

    started = time.perf_counter()
    db = sample_sequences(path, sessions)
    loaded = time.perf_counter()
    ps = PrefixSpan(db)
    ps.minlen, ps.maxlen = 2, 6
    patterns = ps.frequent(min_support, closed=True)
    done = time.perf_counter()
    return {"patterns": len(patterns), "sessions": len(db), "load_seconds": round(loaded - started, 3),
            "mine_seconds": round(done - loaded, 3), "seconds": round(done - started, 3)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--min-support", type=int, default=3)
    a = ap.parse_args()
    print(json.dumps(main(a.log, a.sessions, a.min_support)))
