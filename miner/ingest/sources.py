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
import re
import shutil
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

from chainmine.miner.errors import IngestError

log = logging.getLogger(__name__)

HEAD_BYTES = 1 << 20
"""How much of a (decompressed) file detection looks at."""

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
STDIN = "-"
_BLOCK = 1 << 24


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
            raise IngestError(broken_gzip(shown, exc)) from None
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

    Raises :class:`~chainmine.miner.errors.IngestError` for a missing path, a directory, an
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


def needs_plain_copy(src: Source, container: str) -> bool:
    """Whether DuckDB must read ``src`` from a :func:`plain_copy`: a JSON document starting with a
    byte-order mark (its reader would take the whole file for one bad record), JSON Lines with
    ``\\r\\n`` line ends, or CSV mixing ``\\r\\n`` and ``\\n`` in its first MiB (DuckDB's reader
    refuses files mixing them).

    Examples
    --------
    >>> src = Source("a.json", Path("a.json"), "a", "none", BOM + b'[{"tool": "x"}]')
    >>> needs_plain_copy(src, "json"), needs_plain_copy(src, "jsonl")
    (True, False)
    """
    if container == "json":
        return src.head.startswith(BOM)
    if container == "csv":  # quoted values may hold \r\n: only a file that mixes both is changed
        return b"\r\n" in src.head and re.search(rb"(?<!\r)\n", src.head) is not None
    if container != "jsonl":
        return False
    return b"\r" in src.head or (src.truncated and src.compression == "none" and _holds_cr(src.local))


def _holds_cr(path: Path) -> bool:
    """Whether an uncompressed file holds a ``\\r`` anywhere (memchr over blocks read into one buffer).

    Blocks, not a memory map: every page of a mapped file counts in the process's resident
    memory, so a map of a 5 GB log made ingest look (and, under a memory cgroup, be) 5 GB big.
    """
    buffer = bytearray(_BLOCK)
    with open(path, "rb") as fh:
        while n := fh.readinto(buffer):
            if buffer.find(b"\r", 0, n) >= 0:
                return True
    return False


def verify_gzip(src: Source) -> None:
    """Read a gzip source to its end, checking its CRC: a stream damaged part-way fails the ingest whole.

    DuckDB's own gzip reader does not check the CRC, so a flipped bit would turn the
    rest of the file into rejects; checked first, the file fails with nothing stored.

    Examples
    --------
    >>> import tempfile, os, gzip
    >>> p = os.path.join(tempfile.mkdtemp(), "a.jsonl.gz")
    >>> _ = open(p, "wb").write(gzip.compress(b'{"tool": "a"}\\n' * 100)[:-8])
    >>> verify_gzip(open_source(p))
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.IngestError: ...a.jsonl.gz is not a valid gzip file (...); nothing was read from it: re-compress it or pass it uncompressed
    """
    if src.compression != "gzip" or not src.truncated:
        return  # an untruncated head was read to the end, CRC checked, when the source was opened
    try:
        with gzip.open(src.local, "rb") as fin:
            while fin.read(_BLOCK):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(broken_gzip(src.path, exc)) from None


def crlf_to_lf(fin: BinaryIO, out: BinaryIO, lone_cr: bytes = b"\r") -> None:
    """Copy ``fin`` to ``out`` with every ``\\r\\n`` turned into ``\\n`` (so lines keep their numbers).

    A ``\\r`` not followed by ``\\n`` becomes ``lone_cr``: JSON Lines pass a space (in
    JSON a bare ``\\r`` can only be whitespace, and DuckDB's line reader refuses it).

    Examples
    --------
    >>> import io
    >>> out = io.BytesIO(); crlf_to_lf(io.BytesIO(b"a\\r\\nb\\nc\\rd\\r"), out); out.getvalue()
    b'a\\nb\\nc\\rd\\r'
    >>> out = io.BytesIO(); crlf_to_lf(io.BytesIO(b"a\\r\\nb\\rc\\r"), out, b" "); out.getvalue()
    b'a\\nb c '
    """
    carry = b""
    while data := fin.read(_BLOCK):
        data = carry + data
        carry = b"\r" if data.endswith(b"\r") else b""  # its \n may start the next block
        out.write((data[:-1] if carry else data).replace(b"\r\n", b"\n").replace(b"\r", lone_cr))
    out.write(carry.replace(b"\r", lone_cr))


def plain_copy(src: Source, tmpdir: str | None, container: str = "jsonl") -> Source:
    """``src`` decompressed into ``tmpdir`` without a leading byte-order mark, ``\\r\\n`` line ends made ``\\n``
    (and, in JSON Lines, any other ``\\r`` a space).

    A gzip stream damaged part-way raises :class:`~chainmine.miner.errors.IngestError` (the file fails whole).

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "a.json")
    >>> _ = open(p, "wb").write(BOM + b'[{"tool": "x"},\\r\\n {"tool": "y"}]')
    >>> open(plain_copy(open_source(p), d).local, "rb").read()
    b'[{"tool": "x"},\\n {"tool": "y"}]'
    """
    fd, name = tempfile.mkstemp(prefix="chainmine-plain-", dir=tmpdir)
    try:
        with (gzip.open(src.local, "rb") if src.compression == "gzip" else open(src.local, "rb")) as fin, \
                os.fdopen(fd, "wb") as out:
            if fin.read(len(BOM)) != BOM:
                fin.seek(0)
            crlf_to_lf(fin, out, b" " if container == "jsonl" else b"\r")
    except (OSError, EOFError, zlib.error) as exc:
        os.unlink(name)
        if src.compression == "gzip" and not isinstance(exc, PermissionError):
            raise IngestError(broken_gzip(src.path, exc)) from None
        raise IngestError(f"cannot read {src.path}: {exc}; check the file") from None
    head = src.head[len(BOM):] if src.head.startswith(BOM) else src.head
    head = head.replace(b"\r\n", b"\n")
    return Source(src.path, Path(name), src.stem, "none", head.replace(b"\r", b" ") if container == "jsonl" else head,
                  src.truncated)


def broken_gzip(shown: str, exc: Exception) -> str:
    return (f"{shown} is not a valid gzip file ({exc}); nothing was read from it: "
            "re-compress it or pass it uncompressed")


def open_sources(paths: Iterable[str | os.PathLike], *, stdin: BinaryIO | None = None,
                 tmpdir: str | None = None) -> list[Source]:
    """Check every path before anything is read into the store (stdin at most once).

    Examples
    --------
    >>> open_sources([])
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.IngestError: no input files given; pass one or more log files, or - for stdin
    """
    paths = list(paths)
    if not paths:
        raise IngestError("no input files given; pass one or more log files, or - for stdin")
    if sum(os.fspath(p) == STDIN for p in paths) > 1:
        raise IngestError("stdin (-) can be given only once")
    return [open_source(p, stdin=stdin, tmpdir=tmpdir) for p in paths]
