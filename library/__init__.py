"""The workflow library: model, JSON store with review states, merging, search, builder.

Public names are importable from here (``from library import WorkflowLibrary``)
and are loaded on first use, so ``import library.model`` stays cheap. The
search function is ``search_workflows`` here, because ``library.search`` is
its module.

Examples
--------
>>> from library import WorkflowBuilder, search_workflows
>>> wf = WorkflowBuilder("w").add_step("a", "github_create_pr").build()
>>> [h.workflow.name for h in search_workflows([wf], query="create pull request")]
['w']
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "library.model": ("WorkflowTemplate", "WorkflowStep", "InputSpec", "WorkflowStats", "ParameterSource",
                      "Compensation", "STATUSES", "SOURCES"),
    "library.errors": ("LibraryError", "ValidationError", "LibraryFileError", "NotFoundError",
                       "DuplicateNameError", "ReviewError", "TemplateError", "ConditionError", "RunError"),
    "library.validate": ("workflow_problems", "validate_workflow"),
    "library.store": ("WorkflowLibrary",),
    "library.merge": ("MergeReport", "MergeOutcome", "merge_workflows"),
    "library.search": ("SearchHit", "suggest_for_tools"),
    "library.builder": ("WorkflowBuilder",),
    "library.schema": ("SCHEMA_VERSION", "library_json_schema"),
}
_WHERE = {name: (module, name) for module, names in _EXPORTS.items() for name in names}
_WHERE["search_workflows"] = ("library.search", "search")

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'library' has no attribute {name!r}")
    module, attr = _WHERE[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
