"""chainmine's frequent-chain search alone, the part of ``mine`` that does what an n-gram counter does.

``python -m bench.peers.chainmine_search DB`` counts every chain of 2-6 steps that
meets the default frequency and success thresholds (and the cohesion and
closure rules, which only remove chains), without sampling or synthesis, and
prints the chains kept and the seconds taken as JSON.
"""

from __future__ import annotations

import json
import sys
import time


def main(db: str) -> dict:
    """Time :func:`chainmine.miner.chains.find_chains` with default parameters on a read-only store.

    Examples
    --------
    >>> import os, tempfile
    >>> from chainmine.miner.chains.search import toy_store
    >>> path = os.path.join(tempfile.mkdtemp(), "t.duckdb")
    >>> con = toy_store("ab", 5)
    >>> _ = con.execute(f"ATTACH '{path}' AS t; COPY FROM DATABASE memory TO t; DETACH t")
    >>> main(path)["chains"]
    1
    """
    from chainmine.miner.chains import MiningParams, find_chains
    from chainmine.miner.store import connect

    started = time.perf_counter()
    con = connect(db, read_only=True)
    con.execute("SET enable_progress_bar = false")
    search = find_chains(con, MiningParams())
    found = {"chains": len(search.chains), "frequent": search.stats.get("frequent", 0)}
    search.close()
    done = time.perf_counter()
    return {**found, "seconds": round(done - started, 3)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
