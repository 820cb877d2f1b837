"""Safe file handling for the library: atomic writes, a cross-process lock, backups.

A library file is shared by the CLI, the dashboard and scripts, possibly at the
same moment. Three rules keep it intact:

* a write goes to a temporary file in the same folder, is flushed to disk and
  then renamed over the target (``os.replace``), so a reader sees either the
  old or the new file, never half of one;
* every read-modify-write runs under ``<file>.lock`` (:func:`file_lock`), so
  two writers cannot lose each other's update;
* before a write replaces a file, the file is kept as ``<file>.bak``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from filelock import FileLock, Timeout

from chainmine.library.errors import LibraryFileError

log = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT = 60.0
# Short polls: with two busy writers a 50 ms default poll would dominate each update.
_POLL_INTERVAL = 0.005


def _sibling(path: str | os.PathLike[str], suffix: str) -> Path:
    p = Path(path)
    return p.with_name(p.name + suffix)


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock file guarding ``path``: ``<path>.lock``.

    Examples
    --------
    >>> lock_path("lib/workflows.json").name
    'workflows.json.lock'
    """
    return _sibling(path, ".lock")


def backup_path(path: str | os.PathLike[str]) -> Path:
    """Where the previous good version of ``path`` is kept: ``<path>.bak``.

    Examples
    --------
    >>> backup_path("workflows.json").name
    'workflows.json.bak'
    """
    return _sibling(path, ".bak")


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str], timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the cross-process lock of ``path`` for the duration of the block.

    Raises :class:`LibraryFileError` when another process keeps the lock
    longer than ``timeout`` seconds.

    Examples
    --------
    >>> import tempfile, os
    >>> with file_lock(os.path.join(tempfile.mkdtemp(), "w.json")):
    ...     pass
    """
    lock = FileLock(str(lock_path(path)), timeout=timeout, poll_interval=_POLL_INTERVAL)
    try:
        lock.acquire()
    except Timeout:
        raise LibraryFileError(
            f"{path} is locked by another process (lock file {lock_path(path)}); "
            "try again when it has finished") from None
    try:
        yield
    finally:
        lock.release()


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse the JSON file at ``path``; ``None`` when it does not exist.

    A syntax error raises :class:`LibraryFileError` naming ``file:line:col``.

    Examples
    --------
    >>> import tempfile, os
    >>> read_json(os.path.join(tempfile.mkdtemp(), "missing.json")) is None
    True
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LibraryFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LibraryFileError(f"{path}: byte {exc.start}: not UTF-8 text; restore it from {backup_path(path)}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LibraryFileError(
            f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}; fix it or restore "
            f"{backup_path(path)} (the file was left unchanged)") from None


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` atomically and durably.

    The text goes to a temporary file in the same folder, is fsynced, renamed
    over ``path`` and the folder is fsynced, so a crash leaves either the old or
    the new content. An existing file's permissions are kept.

    Examples
    --------
    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "w.json")
    >>> atomic_write_text(target, "{}\\n")
    >>> open(target).read()
    '{}\\n'
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def keep_backup(path: str | os.PathLike[str]) -> None:
    """Keep the current content of ``path`` as ``<path>.bak`` (nothing if it is missing).

    A hard link is used where the file system allows it: the backup then
    costs no copy and the later :func:`atomic_write_text` leaves it pointing at
    the old content.

    Examples
    --------
    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "w.json")
    >>> atomic_write_text(target, "old")
    >>> keep_backup(target); atomic_write_text(target, "new")
    >>> open(backup_path(target)).read()
    'old'
    """
    source = Path(path)
    if not source.exists():
        return
    backup = backup_path(source)
    staging = backup.with_name(f".{backup.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(staging)
    try:
        os.link(source, staging)
    except OSError:
        atomic_write_text(backup, source.read_text(encoding="utf-8"))
        return
    os.replace(staging, backup)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        log.debug("fsync of folder %s not supported", folder)
    finally:
        os.close(fd)
