"""pm4py's directly-follows graph (length-2 chains only) on the same Parquet log.

``python -m bench.peers.pm4py_dfg LOG.parquet`` prints edges and seconds as JSON.
pm4py is AGPL-3: a benchmark peer installed with the ``bench`` extra, never a
dependency of chainmine.
"""

from __future__ import annotations

import json
import sys
import time


def main(path: str) -> dict:
    """Load the log with pandas and discover the DFG with pm4py."""
    import pandas as pd
    import pm4py

    started = time.perf_counter()
    df = pd.read_parquet(path, columns=["session_id", "ts", "seq", "tool"])
    df["ts"] = pd.to_datetime(df["ts"], utc=True, format="ISO8601")
    df = pm4py.format_dataframe(df, case_id="session_id", activity_key="tool", timestamp_key="ts")
    loaded = time.perf_counter()
    dfg, _start, _end = pm4py.discover_dfg(df)
    done = time.perf_counter()
    return {"edges": len(dfg), "load_seconds": round(loaded - started, 3),
            "discover_seconds": round(done - loaded, 3), "seconds": round(done - started, 3)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
