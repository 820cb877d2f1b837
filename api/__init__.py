"""chainmine: mine AI-agent tool-call logs for recurring tool chains, and run them as workflows.

The public API, loaded on first use so ``import chainmine`` stays cheap:

* :class:`ChainMiner` finds the recurring chains in a store of logs and turns them
  into workflows (``chainmine.miner``);
* :class:`Workflow` is one workflow, :class:`Library` the reviewed JSON file that
  keeps them (``chainmine.library``);
* :func:`run_workflow` runs one against your tools, :func:`serve` serves the
  accepted ones to agents as MCP tools;
* :func:`tool`, :class:`RetryableError`, :class:`NonRetryableError` and
  :class:`Failure` are what a tools module uses to describe its tools.

Everything else lives in the subpackages ``chainmine.miner``,
``chainmine.library`` and ``chainmine.dashboards``.

Examples
--------
>>> import chainmine
>>> wf = chainmine.Workflow.model_validate({"name": "double", "status": "accepted", "inputs": {"n": {"type": "integer"}},
...     "steps": [{"id": "d", "tool_name": "double", "parameters": {"n": "{{n}}"}}]})
>>> chainmine.run_workflow(wf, {"n": 21}, tools={"double": lambda n: n * 2}).outputs
{'d': 42}
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from chainmine.library.lazy import lazy_exports

try:
    __version__ = version("chainmine")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

_WHERE = {
    "ChainMiner": ("chainmine.miner.estimator", "ChainMiner"),
    "Workflow": ("chainmine.library.model", "WorkflowTemplate"),
    "Library": ("chainmine.library.store", "WorkflowLibrary"),
    "run_workflow": ("chainmine.library.runner.executor", "run_workflow"),
    "serve": ("chainmine.library.serve.app", "serve_workflows"),
    "tool": ("chainmine.library.runner.registry", "tool"),
    "RetryableError": ("chainmine.library.runner.errors", "RetryableError"),
    "NonRetryableError": ("chainmine.library.runner.errors", "NonRetryableError"),
    "Failure": ("chainmine.library.failures", "Failure"),
}

__all__ = sorted(_WHERE) + ["__version__"]


__getattr__, __dir__ = lazy_exports("chainmine", globals(), _WHERE)
