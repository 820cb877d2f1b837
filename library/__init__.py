"""The workflow library: model, JSON store with review states, merging, search, builder.

Public names are importable from here (``from chainmine.library import WorkflowLibrary``)
and are loaded on first use, so ``import chainmine.library.model`` stays cheap. The
search function is ``search_workflows`` here, because ``chainmine.library.search`` is
its module.

Examples
--------
>>> from chainmine.library import WorkflowBuilder, search_workflows
>>> wf = WorkflowBuilder("w").add_step("a", "github_create_pr").build()
>>> [h.workflow.name for h in search_workflows([wf], query="create pull request")]
['w']
"""

from __future__ import annotations

from chainmine.library.lazy import lazy_exports

_EXPORTS = {
    "chainmine.library.model": ("WorkflowTemplate", "WorkflowStep", "InputSpec", "WorkflowStats", "ParameterSource",
                      "Compensation", "STATUSES", "SOURCES"),
    "chainmine.library.errors": ("LibraryError", "ValidationError", "LibraryFileError", "NotFoundError",
                       "DuplicateNameError", "ReviewError", "TemplateError", "ConditionError", "RunError"),
    "chainmine.library.validate": ("workflow_problems", "validate_workflow"),
    "chainmine.library.store": ("WorkflowLibrary",),
    "chainmine.library.merge": ("MergeReport", "MergeOutcome", "merge_workflows"),
    "chainmine.library.search": ("SearchHit", "suggest_for_tools"),
    "chainmine.library.builder": ("WorkflowBuilder",),
    "chainmine.library.schema": ("SCHEMA_VERSION", "library_json_schema"),
}
_WHERE = {name: (module, name) for module, names in _EXPORTS.items() for name in names}
_WHERE["search_workflows"] = ("chainmine.library.search", "search")

__all__ = sorted(_WHERE)


__getattr__, __dir__ = lazy_exports("chainmine.library", globals(), _WHERE)
