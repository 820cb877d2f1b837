"""The plain approach: parse JSON lines in Python and count contiguous n-grams in dicts.

This is the baseline chainmine is compared with: one dict entry per chain of
length 2-6, then frequency and success filters. Usage:
``python -m bench.peers.ngram_counter LOG.jsonl [--min-frequency 3] [--min-success 0.8]``
prints the number of chains kept and the seconds taken, as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict


def count_ngrams(path: str, min_len: int = 2, max_len: int = 6, min_frequency: int = 3,
                 min_success: float = 0.8) -> dict:
    """Count contiguous tool n-grams per session; return kept chains and timings.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "l.jsonl")
    >>> rows = [{"session_id": "s", "seq": i, "tool": t, "success": True} for i, t in enumerate("abab")]
    >>> _ = open(p, "w").write("\\n".join(json.dumps(r) for r in rows))
    >>> count_ngrams(p, min_frequency=2)["kept"]
    1
    """
    started = time.perf_counter()
    sessions: dict[str, list] = defaultdict(list)
    with open(path) as fh:
        for line in fh:
            rec = json.loads(line)
            sessions[rec["session_id"]].append((rec.get("ts") or "", rec.get("seq") or 0,
                                                rec["tool"], rec.get("success", True)))
    parsed = time.perf_counter()
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for calls in sessions.values():
        calls.sort()
        tools = [c[2] for c in calls]
        ok = [c[3] for c in calls]
        for n in range(min_len, max_len + 1):
            for i in range(len(tools) - n + 1):
                entry = counts[tuple(tools[i:i + n])]
                entry[0] += 1
                entry[1] += all(ok[i:i + n])
    kept = sum(1 for c, s in counts.values() if c >= min_frequency and s / c >= min_success)
    done = time.perf_counter()
    return {"kept": kept, "chains": len(counts), "parse_seconds": round(parsed - started, 3),
            "count_seconds": round(done - parsed, 3), "seconds": round(done - started, 3)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--min-frequency", type=int, default=3)
    ap.add_argument("--min-success", type=float, default=0.8)
    a = ap.parse_args()
    print(json.dumps(count_ngrams(a.log, min_frequency=a.min_frequency, min_success=a.min_success)))
