"""The library file on disk: validated reads and read-modify-write updates under the lock.

:class:`LibraryFile` is the persistence half of
:class:`chainmine.library.store.WorkflowLibrary`. Reads parse and check the whole file
(a missing file is an empty library); :meth:`LibraryFile.update` takes the
cross-process lock, re-reads the file, applies a change and writes the result
atomically after keeping the previous version as ``<file>.bak``, so
concurrent writers never lose each other's update and a corrupt file is
never overwritten.
"""

from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path
from typing import Callable, TypeVar

from chainmine.library.errors import NotFoundError, ValidationError
from chainmine.library.store.atomic import (DEFAULT_LOCK_TIMEOUT, atomic_write_text, backup_path, file_lock, keep_backup,
                            read_json)
from chainmine.library.model import WorkflowTemplate
from chainmine.library.schema import dump_library, parse_library

log = logging.getLogger(__name__)

T = TypeVar("T")
State = dict[str, WorkflowTemplate]
"""Workflows by name, as one read of the file holds them."""


class LibraryFile:
    """Read and update one library file safely.

    Parameters
    ----------
    path : the JSON file.
    lock_timeout : seconds to wait for another writer's lock.

    Examples
    --------
    >>> import os, tempfile
    >>> from chainmine.library.builder import WorkflowBuilder
    >>> f = LibraryFile(os.path.join(tempfile.mkdtemp(), "w.json"))
    >>> f.update(lambda state: state.update(w=WorkflowBuilder("w").add_step("a", "t").build()))
    >>> list(f.current())
    ['w']
    """

    def __init__(self, path: str | os.PathLike[str], lock_timeout: float = DEFAULT_LOCK_TIMEOUT):
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._workflows: State = {}
        self._parsed: dict[str, WorkflowTemplate] = {}
        self._stamp: tuple | None = None
        self._read_once = False

    def _file_stamp(self) -> tuple | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def read(self) -> State:
        """Parse and check the file now; a copy of its workflows by name.

        Raises :class:`chainmine.library.errors.LibraryFileError` (bad JSON with line and
        column, a newer ``schema_version``) or :class:`ValidationError` (every
        invalid workflow with its path).

        Examples
        --------
        >>> import os, tempfile
        >>> LibraryFile(os.path.join(tempfile.mkdtemp(), "missing.json")).read()
        {}
        """
        stamp = self._file_stamp()
        data = read_json(self.path)
        try:
            workflows = [] if data is None else parse_library(data, str(self.path), self._parsed)
        except ValidationError as exc:
            raise ValidationError(f"{exc}; fix the file or restore {backup_path(self.path)} "
                                  "(it was left unchanged)", exc.problems) from None
        if len(self._parsed) > 4 * len(workflows) + 64:
            self._parsed = {}  # forget workflows that have since changed
        self._workflows = {wf.name: wf for wf in workflows}
        self._stamp, self._read_once = stamp, True
        return dict(self._workflows)

    def current(self) -> State:
        """The workflows by name, re-read only when the file changed since the last read.

        Examples
        --------
        >>> import os, tempfile
        >>> LibraryFile(os.path.join(tempfile.mkdtemp(), "w.json")).current()
        {}
        """
        if not self._read_once or self._file_stamp() != self._stamp:
            self.read()
        return self._workflows

    def find(self, state: State, name: str) -> WorkflowTemplate:
        """``state[name]``, or :class:`NotFoundError` naming close matches.

        Examples
        --------
        >>> LibraryFile("w.json").find({}, "x")
        Traceback (most recent call last):
        ...
        chainmine.library.errors.NotFoundError: no workflow named 'x' in w.json; run `chainmine library list` to see the names
        """
        if name in state:
            return state[name]
        close = difflib.get_close_matches(name, list(state), n=3, cutoff=0.6)
        hint = (f"did you mean {', '.join(close)}?" if close
                else "run `chainmine library list` to see the names")
        raise NotFoundError(f"no workflow named {name!r} in {self.path}; {hint}", close)

    def write(self, state: State) -> None:
        """Write ``state`` (call under the lock): backup first, then an atomic replace.

        Examples
        --------
        >>> import os, tempfile
        >>> f = LibraryFile(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> f.write({}); f.path.read_text()
        '{\\n  "schema_version": 1,\\n  "workflows": []\\n}\\n'
        """
        text = dump_library(state.values())
        keep_backup(self.path)
        atomic_write_text(self.path, text)
        self._workflows = dict(state)
        self._stamp, self._read_once = self._file_stamp(), True
        log.debug("wrote %d workflows to %s", len(state), self.path)

    def update(self, change: Callable[[State], T]) -> T:
        """Run ``change`` on the file's workflows under the lock and write the result.

        The file is re-read inside the lock, so ``change`` sees every other
        writer's work. ``change`` edits the dict in place (replacing models,
        never mutating them) and returns the caller's result; nothing is
        written when it leaves every entry as it was or raises.

        Examples
        --------
        >>> import os, tempfile
        >>> f = LibraryFile(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> f.update(len), f.path.exists()
        (0, False)
        """
        with file_lock(self.path, self.lock_timeout):
            state = self.read()
            before = dict(state)
            result = change(state)
            if state.keys() != before.keys() or any(state[k] is not before[k] for k in state):
                self.write(state)
        return result

    def rewrite(self) -> None:
        """Write the file again from its own content (canonical form, current schema).

        Examples
        --------
        >>> import os, tempfile
        >>> f = LibraryFile(os.path.join(tempfile.mkdtemp(), "w.json"))
        >>> f.rewrite(); f.path.exists()
        True
        """
        with file_lock(self.path, self.lock_timeout):
            self.write(self.read())
