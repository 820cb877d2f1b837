"""Resolve the paths given to an ingest into readable sources, before anything is written.

Every path is checked up front (exists, is a file, readable, not empty, valid gzip
when compressed) so a bad path fails the whole ingest with one line and leaves the
database untouched. Standard input (``"-"``) is streamed to a temporary file once,
because detection peeks at the start and DuckDB then reads the file from the top.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

from miner.errors import IngestError

log = logging.getLogger(__name__)

HEAD_BYTES = 1 << 20
"""How much of a (decompressed) file detection looks at."""

GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"


@dataclass(frozen=True)
class Source:
    """One input file as the ingest sees it.

    ``path`` is what the user gave (used in reports and the ``rejects`` table),
    ``local`` what DuckDB reads, ``stem`` the prefix of derived session ids,
    ``head`` the first bytes after decompression (for format detection).

    Examples
    --------
    >>> s = Source("a.jsonl", Path("a.jsonl"), "a", "none", b'{"tool": "x"}', False)
    >>> s.suffixes
    ['.jsonl']
    """

    path: str
    local: Path
    stem: str
    compression: str
    head: bytes
    truncated: bool = False

    @property
    def suffixes(self) -> list[str]:
        """Lower-case suffixes of the user's name without ``.gz`` (``[]`` for stdin)."""
        if self.path == STDIN:
            return []
        names = [s.lower() for s in Path(self.path).suffixes]
        return names[:-1] if names and names[-1] == ".gz" else names


def _read_head(local: Path, compressed: bool, shown: str) -> bytes:
    try:
        if compressed:
            with gzip.open(local, "rb") as fh:
                return fh.read(HEAD_BYTES + 1)
        with open(local, "rb") as fh:
            return fh.read(HEAD_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        if compressed and not isinstance(exc, PermissionError):
            raise IngestError(f"{shown} is not a valid gzip file ({exc}); re-compress it or pass it uncompressed") from None
        raise IngestError(f"cannot read {shown}: {exc.strerror or exc}; check the path and its permissions") from None


def _stem(name: str) -> str:
    base = Path(name).name
    for suffix in (".gz", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq"):
        if base.lower().endswith(suffix) and len(base) > len(suffix):
            base = base[: -len(suffix)]
    return base


def _is_gzip(local: Path) -> bool:
    with open(local, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def open_source(path: str | os.PathLike, *, stdin: BinaryIO | None = None,
                tmpdir: str | None = None) -> Source:
    """Check one path and return its :class:`Source`; ``"-"`` copies stdin to ``tmpdir``.

    Raises :class:`~miner.errors.IngestError` for a missing path, a directory, an
    unreadable or empty file, or a broken gzip stream.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "calls.jsonl")
    >>> _ = open(p, "w").write('{"tool": "a", "seq": 1}\\n')
    >>> src = open_source(p)
    >>> (src.stem, src.compression)
    ('calls', 'none')
    """
    shown = os.fspath(path)
    if shown == STDIN:
        local = _copy_stdin(stdin or sys.stdin.buffer, tmpdir)
        name = "<stdin>"
        stem = "stdin"
    else:
        local = Path(shown)
        name = shown
        stem = _stem(shown)
        if not local.exists():
            raise IngestError(f"no such file: {shown}; check the path")
        if local.is_dir():
            raise IngestError(f"{shown} is a directory; pass the log files inside it (e.g. {shown}/*.jsonl)")
        if not os.access(local, os.R_OK):
            raise IngestError(f"cannot read {shown}: permission denied; check its permissions")
    compressed = _is_gzip(local)
    head = _read_head(local, compressed, name)
    if not head.strip(b" \t\r\n"):
        raise IngestError(f"{name} is empty; nothing to ingest")
    return Source(name, local, stem, "gzip" if compressed else "none", head[:HEAD_BYTES],
                  len(head) > HEAD_BYTES)


def content_digest(src: Source) -> str:
    """A digest (32 hex digits) of the bytes of ``src``: equal files, equal digests, whatever their names.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> for name in ("a.jsonl", "b.jsonl"):
    ...     _ = open(os.path.join(d, name), "w").write('{"tool": "a", "seq": 1}\\n')
    >>> content_digest(open_source(os.path.join(d, "a.jsonl"))) == content_digest(open_source(os.path.join(d, "b.jsonl")))
    True
    """
    with open(src.local, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()[:32]


def _copy_stdin(stream: BinaryIO, tmpdir: str | None) -> Path:
    # DuckDB reads files, and detection must look at the start before reading it all,
    # so stdin is streamed to disk once instead of being held in memory.
    fd, name = tempfile.mkstemp(prefix="chainmine-stdin-", dir=tmpdir)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(stream, out, 1 << 20)
    return Path(name)


def open_sources(paths: Iterable[str | os.PathLike], *, stdin: BinaryIO | None = None,
                 tmpdir: str | None = None) -> list[Source]:
    """Check every path before anything is read into the store (stdin at most once).

    Examples
    --------
    >>> open_sources([])
    Traceback (most recent call last):
    ...
    miner.errors.IngestError: no input files given; pass one or more log files, or - for stdin
    """
    paths = list(paths)
    if not paths:
        raise IngestError("no input files given; pass one or more log files, or - for stdin")
    if sum(os.fspath(p) == STDIN for p in paths) > 1:
        raise IngestError("stdin (-) can be given only once")
    return [open_source(p, stdin=stdin, tmpdir=tmpdir) for p in paths]
