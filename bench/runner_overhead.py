"""The runner's own overhead per step (a figure, not a test).

Two shapes, each run a few times (best run reported):

* a wide DAG of 10,000 no-op async steps (one root, 9,998 parallel steps, one
  join) at ``max_concurrency`` 100: wall time per step, planning apart;
* a map step over 1,000 items calling a tool with 1 ms latency at
  ``max_concurrency`` 100: (wall − ideal) per item, where ideal =
  items / concurrency × latency.

Each shape runs bare and with an in-memory recorder plus an event subscriber.
CPU time of this process is reported next to wall time: on a shared machine
wall time also counts waiting for a core.

Usage: ``python bench/runner_overhead.py [--steps 10000] [--items 1000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chainmine.library.model import WorkflowTemplate  # noqa: E402
from chainmine.library.runner import EventBus, MemoryRecorder, ToolGuards, WorkflowExecutor  # noqa: E402
from chainmine.library.runner.plan import build_plan  # noqa: E402
from chainmine.library.runner.registry import PythonRegistry  # noqa: E402

LATENCY_S = 0.001


async def noop() -> None:
    return None


async def one_ms(i: int) -> int:
    await asyncio.sleep(LATENCY_S)
    return i


def wide_dag(n: int) -> WorkflowTemplate:
    middle = [{"id": f"s{i}", "tool_name": "noop", "depends_on": ["root"]} for i in range(n - 2)]
    steps = [{"id": "root", "tool_name": "noop"}, *middle,
             {"id": "join", "tool_name": "noop", "depends_on": [s["id"] for s in middle]}]
    return WorkflowTemplate.from_dict({"name": "wide", "status": "accepted", "steps": steps})


def big_map(items: int) -> WorkflowTemplate:
    return WorkflowTemplate.from_dict({
        "name": "fanout", "status": "accepted", "inputs": {"xs": {"type": "array"}},
        "steps": [{"id": "each", "tool_name": "one_ms", "parameters": {"i": "{{item}}"},
                   "map_over": "{{xs}}", "max_concurrency": 100}]})


def executor(registry, instrumented: bool) -> WorkflowExecutor:
    events = EventBus()
    if instrumented:
        events.subscribe(lambda e: None)
    return WorkflowExecutor(registry, max_concurrency=100, recorder=MemoryRecorder() if instrumented else None,
                            events=events, guards=ToolGuards())


def _timed(fn):
    """Run ``fn``; return (result, wall seconds, CPU seconds of this process)."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def measure_dag(registry, n: int, instrumented: bool, repeat: int) -> dict:
    wf = wide_dag(n)
    plan_wall, plan_cpu, run_wall, run_cpu = [], [], [], []
    for _ in range(repeat):
        _, w, c = _timed(lambda: build_plan(wf, registry))
        plan_wall.append(w)
        plan_cpu.append(c)
        ex = executor(registry, instrumented)
        result, w, c = _timed(lambda: ex.execute(wf, {}))     # plans again, then runs
        assert result.status == "completed", result.error
        run_wall.append(w)
        run_cpu.append(c)
    plan_w, plan_c = min(plan_wall), min(plan_cpu)
    return {"shape": "wide DAG", "steps": n, "instrumented": instrumented,
            "plan_cpu_s": round(plan_c, 3), "plan_wall_s": round(plan_w, 3),
            "us_per_step_cpu": round(max(0.0, min(run_cpu) - plan_c) / n * 1e6, 1),
            "us_per_step_wall": round(max(0.0, min(run_wall) - plan_w) / n * 1e6, 1)}


def measure_map(registry, items: int, instrumented: bool, repeat: int) -> dict:
    wf = big_map(items)
    ideal = items / 100 * LATENCY_S
    walls, cpus = [], []
    for _ in range(repeat):
        ex = executor(registry, instrumented)
        result, w, c = _timed(lambda: ex.execute(wf, {"xs": list(range(items))}))
        assert result.status == "completed" and result.outputs["each"] == list(range(items))
        walls.append(w)
        cpus.append(c)
    # The tool itself only sleeps, so all CPU time is the runner's (plus the event loop's timers).
    return {"shape": "map, 1 ms tool", "steps": items, "instrumented": instrumented,
            "wall_s": round(min(walls), 3), "ideal_wall_s": round(ideal, 3),
            "us_per_step_cpu": round(min(cpus) / items * 1e6, 1),
            "us_per_step_wall": round(max(0.0, min(walls) - ideal) / items * 1e6, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    registry = PythonRegistry.from_mapping({"noop": noop, "one_ms": one_ms})
    rows = []
    for instrumented in (False, True):
        rows.append(measure_dag(registry, args.steps, instrumented, args.repeat))
        rows.append(measure_map(registry, args.items, instrumented, args.repeat))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'shape':<16} {'steps':>6}  {'mode':<15} {'µs/step CPU':>12} {'µs/step wall':>13}  notes")
    for r in rows:
        note = (f"planning {r['plan_cpu_s']:.3f}s CPU ({r['plan_cpu_s'] / r['steps'] * 1e6:.0f} µs/step) not included"
                if "plan_cpu_s" in r else f"wall {r['wall_s']:.3f}s vs ideal {r['ideal_wall_s']:.3f}s")
        mode = "recorded+events" if r["instrumented"] else "bare"
        print(f"{r['shape']:<16} {r['steps']:>6}  {mode:<15} {r['us_per_step_cpu']:>12.1f} "
              f"{r['us_per_step_wall']:>13.1f}  {note}")


if __name__ == "__main__":
    main()
