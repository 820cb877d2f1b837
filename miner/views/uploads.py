"""Uploads from the dashboard: size checks, a temporary folder, then the normal ingest."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from chainmine.miner.errors import IngestError
from chainmine.miner.ingest import ingest_paths, list_rejects
from chainmine.miner.views.connections import write_connection

@dataclass(frozen=True)
class UploadedLog:
    """One file a user uploaded: its name and bytes.

    Examples
    --------
    >>> UploadedLog("calls.jsonl", b"x" * 1_500_000).size_mb
    1.5
    """

    name: str
    data: bytes

    @property
    def size_mb(self) -> float:
        """Size in MB (10^6 bytes, as Streamlit's upload limit counts)."""
        return len(self.data) / 1e6


@dataclass(frozen=True)
class UploadResult:
    """What an upload did: the ingest's counts, per file, and its rejected rows.

    ``files`` and ``rejects`` name each file as the user uploaded it.

    Examples
    --------
    >>> UploadResult(accepted=2, rejected=0, duplicates=0, sessions=1).to_dict()["accepted"]
    2
    """

    accepted: int
    rejected: int
    duplicates: int
    sessions: int
    files: tuple[dict, ...] = ()
    rejects: tuple[dict, ...] = ()
    reject_reasons: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict:
        """Plain dict of the counts, files and rejects."""
        return {"accepted": self.accepted, "rejected": self.rejected, "duplicates": self.duplicates,
                "sessions": self.sessions, "files": list(self.files), "rejects": list(self.rejects),
                "reject_reasons": dict(self.reject_reasons)}


def check_upload_sizes(uploads: Sequence[UploadedLog], max_upload_mb: float) -> None:
    """Raise :class:`~chainmine.miner.errors.IngestError` for no files or a file over the limit.

    Examples
    --------
    >>> check_upload_sizes([UploadedLog("big.jsonl", b"x" * 2_000_000)], 1)
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.IngestError: big.jsonl is 2.0 MB, over the 1 MB upload limit; ingest it from a terminal with `chainmine ingest big.jsonl`, or restart with `chainmine dashboard --max-upload-mb 3`
    """
    if not uploads:
        raise IngestError("choose at least one log file to upload")
    for up in uploads:
        if up.size_mb > max_upload_mb:
            raise IngestError(
                f"{up.name} is {up.size_mb:.1f} MB, over the {max_upload_mb:g} MB upload limit; ingest it "
                f"from a terminal with `chainmine ingest {up.name}`, or restart with "
                f"`chainmine dashboard --max-upload-mb {int(up.size_mb) + 1}`")


def ingest_uploads(db: str | os.PathLike, uploads: Sequence[UploadedLog], *, max_upload_mb: float = 1024,
                   format: str = "auto", progress: Callable[[str, int, int], None] | None = None,
                   reject_limit: int = 200) -> UploadResult:
    """Write uploaded files to a temporary folder and ingest them in one transaction.

    Formats are detected per file. A file that cannot be read at all (empty, no
    known format) fails the whole upload with one message naming it, and the
    store is unchanged. ``progress(name, done, total)`` is called after each file.

    Examples
    --------
    >>> import tempfile
    >>> db = Path(tempfile.mkdtemp()) / "t.duckdb"
    >>> r = ingest_uploads(db, [UploadedLog("a.jsonl", b'{"session_id": "s", "tool": "x", "seq": 1}\\nnope\\n')])
    >>> (r.accepted, r.rejected, r.files[0]["path"], r.rejects[0]["source"])
    (1, 1, 'a.jsonl', 'a.jsonl')
    """
    check_upload_sizes(uploads, max_upload_mb)
    with tempfile.TemporaryDirectory(prefix="chainmine-upload-") as tmp:
        shown: dict[str, str] = {}
        for i, up in enumerate(uploads):
            # one folder per file keeps two uploads with the same name apart
            path = Path(tmp) / str(i) / (Path(up.name).name or "upload")
            path.parent.mkdir()
            path.write_bytes(up.data)
            shown[str(path)] = up.name

        def named(text: str) -> str:
            for local, name in shown.items():
                text = text.replace(local, name)
            return text

        def report_progress(path: str, done: int, total: int) -> None:
            if progress is not None:
                progress(named(path), done, total)

        try:
            with write_connection(db) as con:
                report = ingest_paths(con, list(shown), format=format, progress=report_progress)
                rejects = list_rejects(con, reject_limit, ingest_ids=report.ingest_ids)
        except IngestError as exc:
            raise IngestError(named(str(exc))) from None
    files = tuple({**f, "path": named(str(f["path"]))} for f in report.files)
    rejects = tuple({**r, "source": named(str(r["source"]))} for r in rejects)
    return UploadResult(report.accepted, report.rejected, report.duplicates, report.sessions, files, rejects,
                        tuple(report.reject_reasons.items()))


def sample_log_path() -> Path | None:
    """The bundled sample log ``data/sample_logs.jsonl``, if this install has it.

    Examples
    --------
    >>> p = sample_log_path(); p is None or p.name == "sample_logs.jsonl"
    True
    """
    path = Path(__file__).resolve().parents[2] / "data" / "sample_logs.jsonl"
    return path if path.is_file() else None
