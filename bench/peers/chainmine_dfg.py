"""chainmine's directly-follows counts on an ingested store, for the pm4py comparison.

``python -m bench.peers.chainmine_dfg DB`` prints edges and seconds as JSON.
"""

from __future__ import annotations

import json
import sys
import time


def main(db: str) -> dict:
    """Time :func:`chainmine.miner.analytics.transitions` on a read-only store."""
    from chainmine.miner.analytics import transitions
    from chainmine.miner.store import connect

    started = time.perf_counter()
    con = connect(db, read_only=True)
    edges = transitions(con)
    done = time.perf_counter()
    return {"edges": len(edges), "seconds": round(done - started, 3)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
