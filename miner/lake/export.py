"""Write a store's calls as canonical Parquet, Hive-partitioned by day (``day=YYYY-MM-DD/``).

The columns are the canonical tool-call record (tool names, not ids) plus what
orders calls inside a session (``ingest_id``, ``line``) and ``origin``, so a
folder written here, or a data lake holding the same columns, can be mined on
Spark (``chainmine mine --engine spark --source DIR``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from chainmine.miner.errors import StoreError

CANONICAL_COLUMNS = ("session_id", "ts", "seq", "tool", "success", "error", "duration_ms", "cost", "args", "result",
                     "call_id", "agent", "user", "session_outcome", "origin", "context", "ingest_id", "line")
"""Columns of an exported call, in file order (``day`` is the partition)."""
NO_DAY = "unknown"
"""Partition of calls without a start time."""

_SELECT = f"""
SELECT c.session_id, c.ts, c.seq, t.tool, c.success, c.error, c.duration_ms, c.cost,
       c.args::VARCHAR AS args, c.result::VARCHAR AS result, c.call_id, c.agent, c."user",
       c.session_outcome, c.origin, c.context, c.ingest_id, c.line,
       coalesce(strftime(c.ts, '%Y-%m-%d'), '{NO_DAY}') AS day
FROM calls c JOIN tools t USING (tool_id)
"""


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_parquet` wrote.

    Examples
    --------
    >>> ExportReport("out", 10, 2, 3).to_json()["days"]
    2
    """

    out: str
    calls: int
    days: int
    files: int

    def to_json(self) -> dict:
        """The ``export --json`` document."""
        return {"out": self.out, "calls": self.calls, "days": self.days, "files": self.files}


def export_parquet(con: duckdb.DuckDBPyConnection, out: str | os.PathLike) -> ExportReport:
    """Write every call of the store behind ``con`` under ``out`` as Parquet partitioned by day.

    The folder appears whole or not at all: files are written into a temporary
    folder beside ``out`` that is renamed into place. ``out`` must not exist yet,
    or be empty.

    Examples
    --------
    >>> import tempfile, os
    >>> from chainmine.miner.chains.search import toy_store
    >>> out = os.path.join(tempfile.mkdtemp(), "lake")
    >>> r = export_parquet(toy_store("ab", 3), out)
    >>> r.calls, r.days, sorted(os.listdir(out))
    (6, 1, ['day=unknown'])

    Notes
    -----
    One scan of ``calls`` and one partitioned write (DuckDB's ``COPY ... PARTITION_BY``).
    """
    target = Path(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise StoreError(f"{target} already exists and is not an empty folder: pick a new --out folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        written = scratch / "data"
        con.execute(f"COPY ({_SELECT}) TO '{_quoted(written)}' (FORMAT parquet, PARTITION_BY (day))")
        calls, days = con.execute("SELECT count(*), count(DISTINCT coalesce(strftime(ts, '%Y-%m-%d'), '')) "
                                  "FROM calls").fetchone()
        files = sum(1 for _ in written.rglob("*.parquet")) if written.exists() else 0
        if not written.exists():
            written.mkdir()
        if target.exists():
            target.rmdir()
        os.replace(written, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return ExportReport(str(target), int(calls), int(days) if calls else 0, files)


def _quoted(path: Path) -> str:
    """``path`` as the body of a SQL string literal (COPY takes no parameter for its target)."""
    return str(path).replace("'", "''")
