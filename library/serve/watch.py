"""Follow the workflow library while serving: the tool list is the accepted workflows.

A :class:`WorkflowCatalog` keeps the accepted workflows of one library file
and re-reads the file only when a cheap ``stat`` says it changed (inode,
size or modification time). A file that becomes unreadable or invalid is
logged once and the last good set keeps being served, so a half-written or
hand-broken file never takes tools away from a running agent.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

import anyio

from chainmine.library.errors import LibraryError
from chainmine.library.model import WorkflowTemplate
from chainmine.library.serve.errors import ServeError, one_line
from chainmine.library.validate import validate_workflow

log = logging.getLogger(__name__)

Loader = Callable[[Path], Iterable[WorkflowTemplate]]
"""Reads a library file and returns its accepted workflows."""

Check = Callable[[WorkflowTemplate], Any]
"""Raises :class:`~chainmine.library.errors.LibraryError` when a workflow cannot be served."""

FileSignature = tuple[int, int, int]


def load_accepted(path: Path) -> list[WorkflowTemplate]:
    """The accepted workflows of the library file at ``path`` (through :mod:`chainmine.library.store`).

    Examples
    --------
    >>> import tempfile, json
    >>> p = Path(tempfile.mkdtemp()) / "w.json"
    >>> _ = p.write_text(json.dumps({"schema_version": 1, "workflows": [
    ...     {"name": "a", "status": "accepted", "steps": [{"id": "s", "tool_name": "t"}]},
    ...     {"name": "b", "steps": [{"id": "s", "tool_name": "t"}]}]}))
    >>> [wf.name for wf in load_accepted(p)]
    ['a']
    """
    from chainmine.library.store import WorkflowLibrary  # imported late: the store imports much more

    return list(WorkflowLibrary(path).list_all(status="accepted"))


def file_signature(path: Path) -> FileSignature | None:
    """``(inode, size, mtime_ns)`` of ``path``, or ``None`` when it does not exist.

    An atomic rewrite (write a temporary file, rename it over) changes the
    inode even when size and time agree, so all three are compared.

    Examples
    --------
    >>> file_signature(Path("/no/such/file")) is None
    True
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _fingerprint(workflows: dict[str, WorkflowTemplate]) -> dict[str, str]:
    return {name: wf.model_dump_json() for name, wf in workflows.items()}


class WorkflowCatalog:
    """The accepted, valid workflows of one library file, re-read when it changes.

    Parameters
    ----------
    path
        The library JSON file.
    loader
        Reads a file into its accepted workflows; :func:`load_accepted` by default.
    check
        Raises a :class:`~chainmine.library.errors.LibraryError` for a workflow that cannot
        be served, which is then left out with a warning; by default the
        workflow rules (:func:`chainmine.library.validate.validate_workflow`). A server
        passes its runner's planner, so a workflow needing a tool that no
        registry offers is not listed.

    Examples
    --------
    >>> import tempfile, json
    >>> p = Path(tempfile.mkdtemp()) / "w.json"
    >>> _ = p.write_text(json.dumps({"schema_version": 1, "workflows": [
    ...     {"name": "a", "status": "accepted", "steps": [{"id": "s", "tool_name": "t"}]}]}))
    >>> catalog = WorkflowCatalog(p)
    >>> catalog.refresh(), sorted(catalog.workflows), catalog.refresh()
    (True, ['a'], False)
    """

    def __init__(self, path: str | os.PathLike[str], loader: Loader | None = None, check: Check | None = None):
        self.path = Path(path)
        self._loader = loader or load_accepted
        self._check = check or validate_workflow
        self._signature: FileSignature | None = None
        self._checked = False
        self._workflows: dict[str, WorkflowTemplate] = {}
        self.last_error: str | None = None

    @property
    def workflows(self) -> dict[str, WorkflowTemplate]:
        """Served workflows by name (a copy; the catalog is not changed through it)."""
        return dict(self._workflows)

    def get(self, name: str) -> WorkflowTemplate | None:
        """The served workflow called ``name``, or ``None``."""
        return self._workflows.get(name)

    def check_exists(self) -> None:
        """Raise :class:`ServeError` when the library file is missing (checked at start-up).

        Examples
        --------
        >>> WorkflowCatalog("/no/such/w.json").check_exists()
        Traceback (most recent call last):
        ...
        chainmine.library.serve.errors.ServeError: no workflow library at /no/such/w.json: accept workflows first (chainmine mine --save, then chainmine library accept NAME) or pass --library
        """
        if not self.path.is_file():
            raise ServeError(f"no workflow library at {self.path}: accept workflows first "
                             "(chainmine mine --save, then chainmine library accept NAME) or pass --library")

    def refresh(self) -> bool:
        """Re-read the file if it changed; return True when the served set changed.

        Cheap when nothing changed: one ``stat``. Never raises for a bad file:
        the problem is logged once and the last good set stays served.
        """
        signature = file_signature(self.path)
        if self._checked and signature == self._signature:
            return False
        self._checked = True
        self._signature = signature
        if signature is None:
            return self._keep_last_good(f"library file {self.path} is missing")
        try:
            loaded = list(self._loader(self.path))
        except (LibraryError, OSError, ValueError) as exc:
            return self._keep_last_good(f"library file {self.path} cannot be used ({one_line(exc)})")
        fresh = {}
        for wf in loaded:
            try:
                self._check(wf)
            except LibraryError as exc:
                log.warning("not serving workflow %r: %s", wf.name, one_line(exc))
                continue
            fresh[wf.name] = wf
        if self.last_error:
            log.warning("library file %s is usable again; serving %d workflows", self.path, len(fresh))
        self.last_error = None
        changed = _fingerprint(fresh) != _fingerprint(self._workflows)
        if changed:
            added = sorted(set(fresh) - set(self._workflows))
            removed = sorted(set(self._workflows) - set(fresh))
            log.info("library %s: serving %d workflows (added %s, removed %s)",
                     self.path, len(fresh), added or "none", removed or "none")
        self._workflows = fresh
        return changed

    def _keep_last_good(self, reason: str) -> bool:
        if reason != self.last_error:
            log.warning("%s; still serving the last good version (%d workflows)",
                        reason, len(self._workflows))
        self.last_error = reason
        return False



async def poll_library(catalog: WorkflowCatalog, on_change: Callable[[], Awaitable[None]],
                       interval: float) -> None:
    """Refresh ``catalog`` every ``interval`` seconds and await ``on_change`` after a change.

    Runs until cancelled. Polling is what lets a client learn of a change
    without asking; a list or call refreshes the catalog on its own anyway.

    Examples
    --------
    >>> import anyio, tempfile
    >>> catalog = WorkflowCatalog(Path(tempfile.mkdtemp()) / "w.json", loader=lambda p: [])
    >>> async def main():
    ...     with anyio.move_on_after(0.05):
    ...         await poll_library(catalog, on_change=None, interval=0.01)
    >>> anyio.run(main)
    """
    while True:
        await anyio.sleep(interval)
        if catalog.refresh() and on_change is not None:
            await on_change()
