"""Run accepted workflows against real tools (Python modules, MCP servers).

Plan first (:func:`build_plan`), then run with a :class:`WorkflowExecutor`:
steps start as soon as their own dependencies finish, with timeouts, retries
with backoff, fallbacks, conditions, map steps, sub-workflows, budgets,
compensation on failure, live events and durable records.

Examples
--------
>>> from chainmine.library.model import WorkflowTemplate, WorkflowStep
>>> wf = WorkflowTemplate(name="greet", status="accepted", inputs={"name": {"type": "string"}},
...     steps=[WorkflowStep(id="hello", tool_name="hello", parameters={"who": "{{name}}"})])
>>> run_workflow(wf, {"name": "Ada"}, tools={"hello": lambda who: f"hi {who}"}).outputs
{'hello': 'hi Ada'}
"""

from chainmine.library.runner.context import WorkflowContext
from chainmine.library.runner.errors import NonRetryableError, RetryableError
from chainmine.library.runner.events import Event, EventBus
from chainmine.library.runner.executor import WorkflowExecutor, run_workflow
from chainmine.library.runner.plan import Plan, build_plan
from chainmine.library.runner.recorder import CallRecord, MemoryRecorder, RunRecord, RunRecorder, StepRecord, StoredRun
from chainmine.library.runner.registry import CombinedRegistry, PythonRegistry, ToolRegistry, ToolSpec, tool
from chainmine.library.runner.loading import load_registries, load_registry
from chainmine.library.runner.resilience import CircuitBreaker, RateLimiter, RetryPolicy, ToolGuards, default_guards
from chainmine.library.runner.results import RunResult, StepResult

__all__ = [
    "WorkflowExecutor", "WorkflowContext", "run_workflow", "RunResult", "StepResult", "Plan", "build_plan",
    "tool", "RetryableError", "NonRetryableError", "ToolRegistry", "ToolSpec", "PythonRegistry",
    "CombinedRegistry", "load_registry", "load_registries", "Event", "EventBus", "RunRecorder",
    "MemoryRecorder", "RunRecord", "StepRecord", "CallRecord", "StoredRun", "RetryPolicy", "CircuitBreaker",
    "RateLimiter", "ToolGuards", "default_guards",
]
