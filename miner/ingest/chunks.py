"""Read a big JSON Lines file a chunk of whole lines at a time.

Loading a whole file as one table of lines first costs its size in memory, and past
the memory limit DuckDB spills it to disk and reads it back for every slice: ten
million lines (4.6 GB) took 26 s to load where one million took 1.1 s. So a file
bigger than one slice is cut at line ends into chunks of about a slice's lines'
worth of bytes, and each chunk reaches DuckDB through a named pipe that the kernel
fills from the file (nothing is copied to disk). The file is never loaded whole;
the tables of earlier chunks are still kept by the ingest's open transaction until
it commits (spilled past the memory limit). Cut points are found by seeking, not by
reading the file, and never put a byte-order mark at the start of a chunk (DuckDB
would drop it there but not mid-file). Line numbers stay the file's own because
DuckDB counts each chunk's lines as it reads it.

A compressed file is first decompressed into DuckDB's spill folder (gzip cannot
seek). Where named pipes or decompression fail, the file is read whole, as before.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
import zlib
from typing import BinaryIO, Iterator

from chainmine.miner.errors import IngestError
from chainmine.miner.ingest.sources import Source, broken_gzip, crlf_to_lf

log = logging.getLogger(__name__)

MIN_CHUNK_BYTES = 1 << 24
"""Smallest chunk: below this a file is read whole."""
MAX_CHUNK_BYTES = 1 << 29
"""Largest chunk (512 MB), whatever the lines per slice."""
_PROBE = 1 << 16
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Chunk:
    """Bytes ``start``..``end`` (end excluded) of the file: whole lines.

    Examples
    --------
    >>> Chunk(0, 10).size
    10
    """

    start: int
    end: int

    @property
    def size(self) -> int:
        """Bytes in the chunk."""
        return self.end - self.start


def chunk_bytes(head: bytes, lines: int, min_bytes: int | None = None) -> int:
    """Bytes per chunk for about ``lines`` lines, from the average line seen in ``head``.

    Examples
    --------
    >>> chunk_bytes(b"x" * 99 + b"\\n", 1_000_000) == 100_000_000
    True
    >>> chunk_bytes(b"", 10) == MIN_CHUNK_BYTES
    True
    """
    per_line = len(head) / max(head.count(b"\n"), 1) if head else 1
    floor = MIN_CHUNK_BYTES if min_bytes is None else min_bytes
    return int(min(MAX_CHUNK_BYTES, max(floor, per_line * lines)))


def cut_points(path: str | os.PathLike, target: int) -> list[Chunk] | None:
    """Chunks of about ``target`` bytes ending at line ends, or None when the file is one chunk.

    Each cut is the first line end at or after ``target`` bytes from the last one,
    found by seeking there and reading until a newline (a line longer than ``target``
    ends a chunk where it ends); the last chunk may be up to a quarter larger.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.jsonl")
    >>> _ = open(p, "wb").write(b"aaa\\nb\\ncc\\nd\\ne")
    >>> [(c.start, c.end) for c in cut_points(p, 4)]
    [(0, 4), (4, 9), (9, 12)]
    >>> [(c.start, c.end) for c in cut_points(p, 5)]
    [(0, 6), (6, 12)]
    >>> cut_points(p, 100) is None
    True

    Notes
    -----
    O(file size / target) seeks and short reads; the file is not scanned.
    """
    size = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as fh:
        # The last chunk may run a quarter over: no tiny tail chunk after a big one.
        while size - cuts[-1] > target + target // 4:
            end = _line_end(fh, max(cuts[-1] + target - 1, cuts[-1]), size)
            if end is None:
                break
            cuts.append(end)
    if len(cuts) == 1:
        return None
    return [Chunk(a, b) for a, b in zip(cuts, cuts[1:] + [size])]


def _line_end(fh: BinaryIO, pos: int, size: int) -> int | None:
    """The first line end at or after ``pos`` that is not followed by a byte-order mark (None: none before EOF)."""
    while True:
        fh.seek(pos)
        end = None
        while end is None:
            data = fh.read(_PROBE)
            if not data:
                return None
            i = data.find(b"\n")
            if i >= 0:
                end = pos + i + 1
            else:
                pos += len(data)
        if end >= size:
            return None
        fh.seek(end)
        if fh.read(len(BOM)) != BOM:
            return end
        pos = end


class ChunkReadError(OSError):
    """The file changed (shrank, vanished) while a chunk of it was being read."""


class LineChunks:
    """The chunks of one JSON Lines source and the scratch folder they pass through.

    Use it as a context manager (the folder is removed on exit); :meth:`stream`
    hands one chunk to DuckDB through a named pipe. ``chunks`` is None when the
    file is read whole, then from :attr:`whole` (the decompressed copy of a gzip file).

    Examples
    --------
    >>> import tempfile, os
    >>> from chainmine.miner.ingest.sources import open_source
    >>> p = os.path.join(tempfile.mkdtemp(), "a.jsonl")
    >>> _ = open(p, "w").write("".join(f'{{"seq": {i}}}\\n' for i in range(5)))
    >>> with LineChunks(open_source(p), lines=2, min_bytes=1) as chunks:
    ...     with chunks.stream(chunks.chunks[1]) as part:
    ...         text = open(part.local).read()
    >>> len(chunks.chunks), text
    (3, '{"seq": 2}\\n{"seq": 3}\\n')
    """

    def __init__(self, src: Source, lines: int, min_bytes: int | None = None, spill: str | None = None):
        self.src = src
        self.target = chunk_bytes(src.head, lines, min_bytes)
        self.spill = spill
        self.workdir: Path | None = None
        self.whole: Source = src
        self.chunks: list[Chunk] | None = None
        self._fd: int | None = None

    def __enter__(self) -> "LineChunks":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> "LineChunks":
        """Find the chunks (decompressing a gzip file first); :meth:`close` undoes it. Returns ``self``."""
        gz = self.src.compression == "gzip"
        if not hasattr(os, "mkfifo") or (gz and not self.src.truncated) or (
                not gz and os.path.getsize(self.src.local) <= self.target + self.target // 4):
            return self
        if self.spill:
            os.makedirs(self.spill, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix="chainmine-lines-", dir=self.spill or None))
        try:
            plain = self.src.local
            if gz:
                plain = self.workdir / "plain.jsonl"
                try:
                    with gzip.open(self.src.local, "rb") as fin, open(plain, "wb") as fout:
                        crlf_to_lf(fin, fout, b" ")  # DuckDB refuses files mixing \r\n and \n line ends
                except (OSError, EOFError, zlib.error) as exc:
                    if isinstance(exc, OSError) and exc.errno is not None:
                        raise  # the disk, not the stream: read the file whole below
                    raise IngestError(broken_gzip(self.src.path, exc)) from None
                self.whole = Source(self.src.path, plain, self.src.stem, "none", self.src.head, True)
            os.mkfifo(self.workdir / "probe")  # some file systems hold no pipes
            os.unlink(self.workdir / "probe")
            self._fd = os.open(plain, os.O_RDONLY)
            self.chunks = cut_points(plain, self.target)
        except (OSError, EOFError, zlib.error) as exc:
            # DuckDB reads the file whole and reports what is wrong with it, as without chunks.
            log.info("%s is read whole: %s", self.src.path, exc)
            self.close()
            self.whole, self.chunks = self.src, None
        except BaseException:
            self.close()
            raise
        log.debug("%s: %s chunks", self.src.path, len(self.chunks) if self.chunks else "no")
        return self

    def close(self) -> None:
        """Close the file and remove the scratch folder (safe to call twice)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    @contextlib.contextmanager
    def stream(self, chunk: Chunk) -> Iterator[Source]:
        """A :class:`Source` whose file is a pipe the kernel fills with ``chunk``'s bytes, while the caller reads it.

        A thread moves the bytes from the file (opened once, so a rename or delete
        cannot lose it) into a named pipe with ``sendfile``. However the reader ends
        (done, failed, never opened the pipe), the thread is released and joined
        before this returns; a file that shrank meanwhile raises :class:`ChunkReadError`.
        """
        if self.workdir is None or self._fd is None:
            raise RuntimeError("use LineChunks as a context manager with chunks")
        fifo = self.workdir / f"chunk-{chunk.start}.jsonl"
        os.mkfifo(fifo)
        failure: list[BaseException] = []
        source = self._fd

        def feed() -> None:
            out = os.open(fifo, os.O_WRONLY)
            try:
                offset, left = chunk.start, chunk.size
                while left > 0:
                    done = _send(out, source, offset, min(left, 1 << 24))
                    if done == 0:
                        failure.append(ChunkReadError(f"{self.src.path} changed while it was read "
                                                      f"(it ends before byte {offset})"))
                        return
                    offset, left = offset + done, left - done
            except BrokenPipeError:
                pass  # the reader stopped early; it reports why
            except OSError as exc:
                failure.append(exc)
            finally:
                os.close(out)

        feeder = threading.Thread(target=feed, name="chainmine-chunk", daemon=True)
        feeder.start()
        try:
            yield Source(self.src.path, fifo, self.src.stem, "none", b"", False)
        finally:
            # Opening the read end lets a feeder still waiting for a reader go on and finish.
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            try:
                while feeder.is_alive():
                    try:
                        if not os.read(fd, 1 << 20):
                            feeder.join(0.01)
                    except BlockingIOError:
                        feeder.join(0.01)
            finally:
                os.close(fd)
                feeder.join()
                fifo.unlink(missing_ok=True)
        if failure:
            raise failure[0]


def _send(out: int, source: int, offset: int, count: int) -> int:
    """Copy up to ``count`` bytes at ``offset`` of ``source`` to ``out``; returns how many (0 at end of file)."""
    try:
        return os.sendfile(out, source, offset, count)
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) or exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSOCK,
                                                                   errno.EOPNOTSUPP):
            raise
    # Systems whose sendfile only writes to sockets: copy through a buffer, unbuffered writes.
    data = memoryview(os.pread(source, count, offset))
    written = 0
    while written < len(data):
        written += os.write(out, data[written:])
    return written
