"""Read a big JSON Lines file a chunk of whole lines at a time.

Loading a whole file as one table of lines costs its size in memory, and past the
memory limit DuckDB spills it to disk and reads it back for every slice: ten
million lines (4.6 GB) took 26 s to load where one million took 1.1 s. So a file
bigger than one slice is cut at line ends into chunks of about :data:`SLICE` lines'
worth of bytes, and each chunk reaches DuckDB through a named pipe the kernel fills
from the file (nothing is copied to disk): memory stays one chunk's worth. Cut points are found by
seeking, not by reading the file; line numbers stay the file's own because DuckDB
counts each chunk's lines as it reads it (so they follow DuckDB's notion of a line).

A compressed file is first decompressed to the scratch folder (gzip cannot seek).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from miner.ingest.sources import Source

log = logging.getLogger(__name__)

MIN_CHUNK_BYTES = 1 << 24
"""Smallest chunk: below this a file is read whole."""
MAX_CHUNK_BYTES = 1 << 29
"""Largest chunk (512 MB), whatever the lines per slice."""
_PROBE = 1 << 16


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

    Each cut is the first line end at or after a multiple of ``target``, found by
    seeking there and reading until a newline (a line longer than ``target`` ends a
    chunk where it ends).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.jsonl")
    >>> _ = open(p, "wb").write(b"aaa\\nb\\ncc\\nd\\ne")
    >>> [(c.start, c.end) for c in cut_points(p, 4)]
    [(0, 4), (4, 9), (9, 12)]
    >>> cut_points(p, 100) is None
    True

    Notes
    -----
    O(file size / target) seeks and short reads; the file is not scanned.
    """
    size = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as fh:
        while cuts[-1] + target < size:
            pos = max(cuts[-1] + target - 1, cuts[-1])
            fh.seek(pos)
            end = None
            while end is None:
                data = fh.read(_PROBE)
                if not data:
                    break
                i = data.find(b"\n")
                if i >= 0:
                    end = pos + i + 1
                pos += len(data)
            if end is None or end >= size:
                break
            cuts.append(end)
    if len(cuts) == 1:
        return None
    return [Chunk(a, b) for a, b in zip(cuts, cuts[1:] + [size])]


class LineChunks:
    """The chunks of one JSON Lines source and the scratch folder they are copied through.

    Use it as a context manager (the folder is removed on exit); :meth:`stream`
    hands one chunk to DuckDB through a named pipe. ``chunks`` is None when the
    file is read whole.

    Examples
    --------
    >>> import tempfile, os
    >>> from miner.ingest.sources import open_source
    >>> p = os.path.join(tempfile.mkdtemp(), "a.jsonl")
    >>> _ = open(p, "w").write("".join(f'{{"seq": {i}}}\\n' for i in range(5)))
    >>> with LineChunks(open_source(p), lines=2, min_bytes=1) as chunks:
    ...     with chunks.stream(chunks.chunks[1]) as part:
    ...         text = open(part.local).read()
    >>> len(chunks.chunks), text
    (3, '{"seq": 2}\\n{"seq": 3}\\n')
    """

    def __init__(self, src: Source, lines: int, min_bytes: int | None = None):
        self.src = src
        self.target = chunk_bytes(src.head, lines, min_bytes)
        self.workdir: Path | None = None
        self.plain: Path = src.local
        self.chunks: list[Chunk] | None = None

    def __enter__(self) -> "LineChunks":
        if not hasattr(os, "mkfifo"):
            return self  # no named pipes here: the file is read whole
        if self.src.compression == "gzip" and not self.src.truncated:
            return self  # detection saw all of it: small enough to read whole
        if self.src.compression != "gzip" and os.path.getsize(self.src.local) <= self.target:
            return self
        spill = os.environ.get("CHAINMINE_TEMP_DIR")
        self.workdir = Path(tempfile.mkdtemp(prefix="chainmine-lines-",
                                             dir=spill if spill and os.path.isdir(spill) else None))
        try:
            if self.src.compression == "gzip":
                self.plain = self.workdir / "plain.jsonl"
                with gzip.open(self.src.local, "rb") as fin, open(self.plain, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 24)
            self.chunks = cut_points(self.plain, self.target)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        log.debug("%s: %s chunks", self.src.path, len(self.chunks) if self.chunks else "no")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    @contextlib.contextmanager
    def stream(self, chunk: Chunk) -> Iterator[Source]:
        """A :class:`Source` whose file is a pipe the kernel fills with ``chunk``'s bytes, while the caller reads it.

        Nothing is written to disk: a thread moves the bytes from the file into a named
        pipe with ``sendfile``. However the reader ends (done, failed, never opened the
        pipe), the thread is released and joined before this returns.
        """
        if self.workdir is None:
            raise RuntimeError("use LineChunks as a context manager")
        fifo = self.workdir / f"chunk-{chunk.start}.jsonl"
        os.mkfifo(fifo)
        failure: list[BaseException] = []

        def feed() -> None:
            try:
                with open(self.plain, "rb") as fin, open(fifo, "wb") as fout:
                    offset, left = chunk.start, chunk.size
                    while left > 0:
                        try:
                            done = os.sendfile(fout.fileno(), fin.fileno(), offset, min(left, 1 << 24))
                        except OSError as exc:
                            if isinstance(exc, BrokenPipeError):
                                raise
                            # Systems whose sendfile only writes to sockets: copy through a buffer.
                            fin.seek(offset)
                            done = fout.write(fin.read(min(left, 1 << 24)))
                        if done <= 0:
                            break
                        offset, left = offset + done, left - done
            except BrokenPipeError:
                pass  # the reader stopped early; it reports why
            except OSError as exc:
                failure.append(exc)

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
