"""Run one command as a child process and report its wall time and peak memory.

``python -m bench.measure -- CMD ARGS...`` prints one JSON line:
``{"seconds": float, "max_rss_mb": float, "returncode": int, "stdout_tail": str}``.
Peak memory is the child's own ``ru_maxrss`` (from ``wait4``), so each step is
measured alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time


def measure(cmd: list[str], env: dict[str, str] | None = None, timeout: float | None = None,
            keep_output: bool = False) -> dict:
    """Run ``cmd``; return seconds, peak RSS in MB, return code and the end of its output
    (all of it as ``output`` when ``keep_output``).

    Examples
    --------
    >>> measure([sys.executable, "-c", "print('hi')"])["returncode"]
    0
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        deadline = None if timeout is None else started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                status = -9
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status) if status != -9 else -9
        out.seek(0)
        text = out.read()
        err.seek(0)
        errors = err.read()
    result = {"seconds": round(seconds, 3), "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
              "returncode": proc.returncode, "stdout_tail": text[-2000:], "stderr_tail": errors[-2000:]}
    if keep_output:
        result["output"] = text
    return result


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--":
        args = args[1:]
    print(json.dumps(measure(args)))
