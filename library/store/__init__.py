"""The workflow library: one JSON file shared safely by the CLI, the dashboard and scripts.

:class:`WorkflowLibrary` reads the file on demand (a missing file is an
empty library) and performs every change as read-modify-write under the
file's cross-process lock, re-reading the file inside the lock, so two
writers never lose each other's update. A corrupt or invalid file is reported
with its position and never overwritten; each successful write keeps the
previous version as ``<file>.bak``. See :mod:`chainmine.library.store.file`,
:mod:`chainmine.library.store.atomic` and :mod:`chainmine.library.schema`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from chainmine.library.errors import DuplicateNameError, NotFoundError, ValidationError
from chainmine.library.store.atomic import DEFAULT_LOCK_TIMEOUT, read_json
from chainmine.library.store.file import LibraryFile, State
from chainmine.library.merge import MergeReport, merge_workflows
from chainmine.library.model import WORKFLOW_TOOL_PREFIX, WorkflowTemplate, utc_now
from chainmine.library.review import apply_edit, set_status
from chainmine.library.schema import dump_library, parse_exchange
from chainmine.library.search import SearchHit, search, suggest_for_tools
from chainmine.library.validate import validate_workflow, workflow_problems

log = logging.getLogger(__name__)


class WorkflowLibrary:
    """A JSON workflow library with review states, merging and search.

    Every mutating method persists at once under the file lock; reading
    methods see the file's latest content.

    Parameters
    ----------
    path : the library file (created on the first change).
    lock_timeout : seconds to wait for another writer before giving up.

    Examples
    --------
    >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
    >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "workflows.json"))
    >>> _ = lib.register(WorkflowBuilder("greet").add_step("hello", "say_hello").build())
    >>> lib.accept("greet").status
    'accepted'
    >>> [wf.name for wf in lib.list_all(status="accepted")]
    ['greet']
    """

    def __init__(self, path: str | os.PathLike[str] = "workflows.json", *,
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT):
        self._file = LibraryFile(path, lock_timeout)

    @property
    def path(self) -> Path:
        """The library file."""
        return self._file.path

    def __repr__(self) -> str:
        return f"WorkflowLibrary({str(self.path)!r})"

    # -- reading -------------------------------------------------------------------------------

    def load(self) -> list[WorkflowTemplate]:
        """Read the file again and return its workflows sorted by name.

        Raises :class:`chainmine.library.errors.LibraryFileError` (bad JSON, with line
        and column, or a newer ``schema_version``) or
        :class:`chainmine.library.errors.ValidationError` (with every workflow path).

        Examples
        --------
        >>> import tempfile, os
        >>> WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "missing.json")).load()
        []
        """
        return sorted(self._file.read().values(), key=lambda w: w.name)

    def _current(self) -> State:
        return self._file.current()

    def __len__(self) -> int:
        return len(self._current())

    def __iter__(self) -> Iterator[WorkflowTemplate]:
        return iter(self.list_all())

    def __contains__(self, name: object) -> bool:
        return name in self._current()

    def get(self, name: str) -> WorkflowTemplate:
        """The workflow called ``name``; :class:`NotFoundError` names close matches.

        Examples
        --------
        >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> _ = lib.register(WorkflowBuilder("lookup").add_step("a", "t").build())
        >>> lib.get("lookup").tools
        ['t']
        >>> lib.get("lokup")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        chainmine.library.errors.NotFoundError: no workflow named 'lokup' in ...; did you mean lookup?
        """
        return self._file.find(self._current(), name)

    def list_all(self, status: str | None = None) -> list[WorkflowTemplate]:
        """All workflows (or those with ``status``), sorted by name.

        Examples
        --------
        >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> for name in ("b", "a"):
        ...     _ = lib.register(WorkflowBuilder(name).add_step("s", "t").build())
        >>> [w.name for w in lib.list_all()], lib.list_all(status="accepted")
        (['a', 'b'], [])
        """
        hits = search(self._current().values(), status=status)
        return sorted((h.workflow for h in hits), key=lambda w: w.name)

    def search(self, query: str | None = None, category: str | None = None, tool_name: str | None = None,
               status: str | None = None, limit: int | None = None) -> list[SearchHit]:
        """Ranked search; see :func:`chainmine.library.search.search` (``tool_name`` may be a glob).

        Examples
        --------
        >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> _ = lib.register(WorkflowBuilder("open_pr").add_step("s", "github_create_pr").build())
        >>> [h.workflow.name for h in lib.search("pull request", tool_name="github_*")]
        ['open_pr']
        """
        return search(self._current().values(), query=query, tool=tool_name, category=category,
                      status=status, limit=limit)

    def suggest_for_tools(self, tools: Sequence[str], status: str | None = None,
                          limit: int | None = None) -> list[SearchHit]:
        """Workflows covering most of the tool sequence; see :func:`chainmine.library.search.suggest_for_tools`.

        Examples
        --------
        >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> _ = lib.register(WorkflowBuilder("w").add_step("a", "x").add_step("b", "y").build())
        >>> [(h.workflow.name, h.score) for h in lib.suggest_for_tools(["x", "z"])]
        [('w', 0.5)]
        """
        return suggest_for_tools(self._current().values(), tools, status=status, limit=limit)

    def export_text(self, status: str | None = None) -> str:
        """A library file's text holding every workflow (or those with ``status``).

        Examples
        --------
        >>> import tempfile, os
        >>> WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json")).export_text()
        '{\\n  "schema_version": 1,\\n  "workflows": []\\n}\\n'
        """
        return dump_library(self.list_all(status=status))

    # -- writing -------------------------------------------------------------------------------

    def save(self) -> None:
        """Rewrite the file from its current content in canonical form.

        Every mutating method already saves; use this to create an empty
        library file or to write an old file in the current ``schema_version``.
        A corrupt or invalid file is reported and left as it is.

        Examples
        --------
        >>> import tempfile, os
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> lib.save(); lib.path.exists()
        True
        """
        self._file.rewrite()

    def register(self, wf: WorkflowTemplate, overwrite: bool = False) -> WorkflowTemplate:
        """Add ``wf`` (validated) under its own name; with ``overwrite`` replace that entry.

        Replacing keeps ``created_at`` and raises ``version`` past the old one.

        Examples
        --------
        >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> lib.register(WorkflowBuilder("w").add_step("a", "t").build()).version
        1
        >>> lib.register(WorkflowBuilder("w").add_step("a", "u").build(), overwrite=True).version
        2
        """
        validate_workflow(wf)
        now = utc_now()

        def change(state: State) -> WorkflowTemplate:
            old = state.get(wf.name)
            if old is not None and not overwrite:
                raise DuplicateNameError(f"workflow {wf.name!r} already exists in {self.path}; "
                                         "choose another name or pass overwrite=True")
            new = wf.model_copy(update={
                "created_at": (old.created_at if old else None) or wf.created_at or now,
                "updated_at": now,
                "version": max(wf.version, old.version + 1) if old else wf.version,
                "origin_signature": wf.origin_signature or wf.signature()})
            state[wf.name] = new
            return new

        return self._file.update(change)

    def set_evidence(self, key: str, values: Mapping[str, Any]) -> list[WorkflowTemplate]:
        """Store ``values[name]`` as ``evidence[key]`` of each named workflow, in one write (all or none).

        Other evidence is kept. Evidence describes checks of a workflow, not the
        workflow itself, so neither ``version`` nor ``updated_at`` changes.

        Examples
        --------
        >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> _ = lib.register(WorkflowBuilder("w").add_step("a", "t").build())
        >>> lib.set_evidence("replay", {"w": {"pass_rate": 1.0}})[0].evidence, lib.get("w").version
        ({'replay': {'pass_rate': 1.0}}, 1)
        """
        def change(state: State) -> list[WorkflowTemplate]:
            found = [self._file.find(state, name) for name in values]
            for old in found:
                state[old.name] = old.model_copy(update={"evidence": {**(old.evidence or {}), key: values[old.name]}})
            return [state[wf.name] for wf in found]

        return self._file.update(change)

    def review(self, names: Iterable[str], status: str, *, force: bool = False,
               reason: str | None = None) -> list[WorkflowTemplate]:
        """Move every named workflow to ``status`` in one write (all or nothing).

        See :mod:`chainmine.library.review` for the allowed moves and ``force``.

        Examples
        --------
        >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> for name in ("a", "b"):
        ...     _ = lib.register(WorkflowBuilder(name).add_step("s", "t").build())
        >>> [w.status for w in lib.review(["a", "b"], "accepted")]
        ['accepted', 'accepted']
        """
        names = list(dict.fromkeys(names))
        now = utc_now()

        def change(state: State) -> list[WorkflowTemplate]:
            found = [self._file.find(state, n) for n in names]
            for wf in found:
                state[wf.name] = set_status(wf, status, force=force, reason=reason, now=now)
            return [state[wf.name] for wf in found]

        return self._file.update(change)

    def accept(self, name: str, force: bool = False) -> WorkflowTemplate:
        """Accept a suggested workflow (a rejected one only with ``force``).

        Examples
        --------
        >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> _ = lib.register(WorkflowBuilder("w").add_step("s", "t").build())
        >>> lib.reject("w").status
        'rejected'
        >>> lib.accept("w", force=True).status
        'accepted'
        """
        return self.review([name], "accepted", force=force)[0]

    def reject(self, name: str, reason: str | None = None, force: bool = False) -> WorkflowTemplate:
        """Reject a suggested workflow, keeping ``reason`` (an accepted one only with ``force``).

        Examples
        --------
        >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> _ = lib.register(WorkflowBuilder("w").add_step("s", "t").build())
        >>> lib.reject("w", reason="one-off").review_note
        'one-off'
        """
        return self.review([name], "rejected", force=force, reason=reason)[0]

    def reopen(self, name: str) -> WorkflowTemplate:
        """Put an accepted or rejected workflow back to ``suggested``.

        Examples
        --------
        >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> _ = lib.register(WorkflowBuilder("w").add_step("s", "t").status("accepted").build())
        >>> lib.reopen("w").status
        'suggested'
        """
        return self.review([name], "suggested")[0]

    def edit(self, name: str, /, **changes: Any) -> WorkflowTemplate:
        """Edit a workflow; see :func:`chainmine.library.review.apply_edit` for ``changes``.

        A new name must be free; ``replaces`` pointers and ``workflow:NAME``
        sub-workflow steps of other workflows follow the rename.

        Examples
        --------
        >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> _ = lib.register(WorkflowBuilder("w").add_step("a", "t", x=1).build())
        >>> lib.edit("w", parameters={"a": {"x": 2}}, options={"a": {"max_retries": 3}}).version
        2
        """
        now = utc_now()

        def change(state: State) -> WorkflowTemplate:
            old = self._file.find(state, name)
            new = apply_edit(old, changes, now=now)
            if new.name != old.name:
                if new.name in state:
                    raise DuplicateNameError(f"cannot rename {old.name!r} to {new.name!r}: that name is taken")
                del state[old.name]
                _follow_rename(state, old.name, new.name, now)
            state[new.name] = new
            return new

        return self._file.update(change)

    def remove(self, name: str) -> WorkflowTemplate:
        """Delete a workflow and return it; ``replaces`` pointers to it are cleared.

        Examples
        --------
        >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> _ = lib.register(WorkflowBuilder("w").add_step("s", "t").build())
        >>> lib.remove("w").name, len(lib)
        ('w', 0)
        """
        def change(state: State) -> WorkflowTemplate:
            old = self._file.find(state, name)
            del state[old.name]
            for other in list(state.values()):
                if other.replaces == old.name:
                    state[other.name] = other.model_copy(update={"replaces": None})
            return old

        return self._file.update(change)

    def merge_suggestions(self, workflows: Iterable[WorkflowTemplate], *, keep_status: bool = False,
                          source: str | None = None) -> MergeReport:
        """Merge mined workflows by signature; see :mod:`chainmine.library.merge` for the rules.

        Each workflow is validated first; nothing is written if one is invalid.

        Examples
        --------
        >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
        >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> wf = WorkflowBuilder("w").add_step("s", "t").build()
        >>> lib.merge_suggestions([wf]).added, lib.merge_suggestions([wf]).unchanged
        (1, 1)
        """
        incoming = list(workflows)
        problems = [f"workflows[{i}] ({wf.name}).{p}" for i, wf in enumerate(incoming) for p in workflow_problems(wf)]
        if problems:
            raise ValidationError(f"{len(problems)} problem(s) in the workflows to merge, nothing saved: "
                                  + "; ".join(problems), problems)

        def change(state: State) -> MergeReport:
            merged, report = merge_workflows(state.values(), incoming, keep_status=keep_status, source=source)
            state.clear()
            state.update((wf.name, wf) for wf in merged)
            return report

        return self._file.update(change)

    def import_file(self, path: str | os.PathLike[str], keep_status: bool = False) -> MergeReport:
        """Import a library file, a list of workflows or one workflow from ``path``.

        Everything is validated first (every problem listed with its path,
        nothing written if any is invalid), then merged like suggestions with
        ``source="imported"``; the file's statuses are kept only with ``keep_status``.

        Examples
        --------
        >>> import tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> with open(os.path.join(folder, "in.json"), "w") as fh:
        ...     _ = fh.write('{"name": "w", "steps": [{"id": "s", "tool_name": "t"}]}')
        >>> lib = WorkflowLibrary(os.path.join(folder, "w.json"))
        >>> lib.import_file(os.path.join(folder, "in.json")).added, lib.get("w").source
        (1, 'imported')
        """
        data = read_json(path)
        if data is None:
            raise NotFoundError(f"import file {path} does not exist")
        try:
            workflows = parse_exchange(data, str(path))
        except ValidationError as exc:
            raise ValidationError(f"{exc}; nothing was imported", exc.problems) from None
        return self.merge_suggestions(workflows, keep_status=keep_status, source="imported")


def _follow_rename(state: State, old: str, new: str, now: str) -> None:
    for other in list(state.values()):
        update: dict[str, Any] = {}
        if other.replaces == old:
            update["replaces"] = new
        if any(s.tool_name == WORKFLOW_TOOL_PREFIX + old for s in other.steps):
            update["steps"] = [s.model_copy(update={"tool_name": WORKFLOW_TOOL_PREFIX + new})
                               if s.tool_name == WORKFLOW_TOOL_PREFIX + old else s for s in other.steps]
        if update:
            update["updated_at"] = now
            state[other.name] = other.model_copy(update=update)
