"""Ingest log files into the store: check, detect, read, normalise, redact, dedupe, record.

A Python loop runs per *file*; every per-row step is one SQL statement over the
whole file. All files of one call share one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from typing import BinaryIO, Callable, Iterable

import duckdb

from miner.errors import IngestError
from miner.ingest.canonical import canonical_sql
from miner.ingest.conversations import anthropic_sql, openai_chat_sql, openai_responses_sql
from miner.ingest.detect import FORMATS, detect, unknown_format_message
from miner.ingest.ids import call_id_sql
from miner.ingest.normalize import assign_sessions, normalize_sql
from miner.ingest.otel import otel_sql
from miner.ingest.readers import drop_read_tables, line_rejects_sql, raw_relation, table_relation
from miner.ingest.redact import redact_table, resolve_key
from miner.ingest.report import IngestReport, reject_reasons
from miner.ingest.sources import Source, open_sources
from miner.ingest.tabular import RAW_TEXT, tabular_sql
from miner.ingest.writer import next_ingest_id, record_ingest, session_count, store_records
from miner.store import transaction

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

IMPORTERS: dict[str, Callable[[str], str]] = {
    "canonical": canonical_sql,
    "openai": openai_chat_sql,
    "openai-responses": openai_responses_sql,
    "anthropic": anthropic_sql,
    "otel": otel_sql,
}
"""Format name → function turning a ``(line, raw)`` relation into the pre relation."""

NORM = "_ing_norm"
READY = "_ing_ready"
CONTENT_ID = "_ing_content_id"


def plan_source(src: Source, format: str = "auto") -> tuple[str, str]:
    """``(container, format)`` to read ``src`` with, or an :class:`IngestError` saying why not.

    Examples
    --------
    >>> from pathlib import Path
    >>> src = Source("x.jsonl", Path("x.jsonl"), "x", "none", b'{"tool": "a", "seq": 1}\\n')
    >>> plan_source(src)
    ('jsonl', 'canonical')
    >>> plan_source(src, "otel")
    ('jsonl', 'otel')
    """
    container, detected = detect(src.head, src.suffixes, truncated=src.truncated)
    fmt = detected if format == "auto" else format
    if fmt is None:
        raise IngestError(unknown_format_message(src.path))
    if fmt != "canonical" and container in ("csv", "parquet"):
        raise IngestError(f"{src.path} is {container.upper()}, but --format {fmt} needs JSON or JSON Lines; "
                          "use --format canonical or auto")
    if container == "parquet" and src.compression != "none":
        raise IngestError(f"{src.path}: gzip-compressed Parquet is not supported; decompress it first")
    return container, fmt


def _params(sql: str, values: dict) -> dict:
    return {k: v for k, v in values.items() if f"${k}" in sql}


def _run(con: duckdb.DuckDBPyConnection, sql: str, values: dict):
    return con.execute(sql, _params(sql, values))


def ingest_source(con: duckdb.DuckDBPyConnection, src: Source, container: str, fmt: str, *,
                  session_gap_s: float = 1800.0, redact_key: bytes | None = None,
                  options: dict | None = None) -> dict:
    """Ingest one checked source inside the caller's transaction; returns its per-file counts.

    Steps (each one SQL statement over the whole file): read raw records, map and
    type-check them (:mod:`~miner.ingest.normalize`), redact, write rejects, cut
    sessions, then :func:`~miner.ingest.writer.store_records` (hash ids, dedupe).

    Examples
    --------
    >>> import tempfile, os
    >>> from miner.ingest.sources import open_source
    >>> from miner.store import connect, transaction
    >>> d = tempfile.mkdtemp()
    >>> p = os.path.join(d, "a.jsonl")
    >>> _ = open(p, "w").write('{"tool": "search", "seq": 1}\\n')
    >>> con = connect(os.path.join(d, "t.duckdb"))
    >>> with transaction(con):
    ...     counts = ingest_source(con, open_source(p), "jsonl", "canonical")
    >>> counts["accepted"], counts["sessions"]
    (1, 1)
    """
    ingest_id = next_ingest_id(con)
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    try:
        if container in ("csv", "parquet"):
            table_sql, values = table_relation(con, src, container)
            norm_sql = normalize_sql(tabular_sql(con, table_sql, values, src.path), texts=True, types=True,
                                     raw_text=RAW_TEXT)
        else:
            raw_sql, values = raw_relation(con, src, container)
            norm_sql = normalize_sql(IMPORTERS[fmt](raw_sql), texts=fmt == "canonical")
        values = {**values, "stem": src.stem}
        # Content ids are hashed while normalising (one pass); rows whose content changes
        # later (derived session, redaction) get theirs after that.
        ident = f"CASE WHEN reason IS NULL AND session_id IS NOT NULL THEN {call_id_sql()} END"
        _run(con, f"CREATE OR REPLACE TEMP TABLE {NORM} AS SELECT *, "
                  f"{'NULL::UHUGEINT' if redact_key is not None else ident} AS {CONTENT_ID} FROM ({norm_sql})", values)
    except duckdb.Error as exc:
        detail = " ".join(str(exc).split("\n")[0].split())
        raise IngestError(f"cannot read {src.path} as {container} ({fmt}): {detail}") from None
    if container in ("csv", "jsonl"):
        con.execute(f"INSERT INTO {NORM} BY NAME SELECT line, reason, raw FROM ({line_rejects_sql(container)})")
        drop_read_tables(con)
    if redact_key is not None:
        redact_table(con, NORM, redact_key)
    rejected = con.execute(f"""INSERT INTO rejects (ingest_id, source, line, raw, reason)
                               SELECT ?, ?, line, raw, reason FROM {NORM}
                               WHERE reason IS NOT NULL ORDER BY line""",
                           [ingest_id, src.path]).fetchone()[0]
    if assign_sessions(con, NORM, stem=src.stem, gap_s=session_gap_s) or redact_key is not None:
        con.execute(f"UPDATE {NORM} SET {CONTENT_ID} = {call_id_sql()} WHERE reason IS NULL AND {CONTENT_ID} IS NULL")
    # A plain scan of the good rows: store_records reads it twice (check, insert), and
    # DuckDB inserts from a plain scan in parallel while keeping file order.
    con.execute(f"CREATE OR REPLACE TEMP VIEW {READY} AS SELECT * EXCLUDE (reason, raw) FROM {NORM} "
                "WHERE reason IS NULL")
    accepted, duplicates = store_records(con, READY, source=src.path, format=fmt, ingest_id=ingest_id,
                                         id_column=CONTENT_ID)
    con.execute(f"DROP VIEW {READY}; DROP TABLE {NORM}")
    sessions = session_count(con, [ingest_id])
    record_ingest(con, ingest_id, source=src.path, format=fmt, accepted=accepted, rejected=rejected,
                  duplicates=duplicates, sessions=sessions, started_at=started,
                  options={**(options or {}), "container": container, "compression": src.compression})
    log.info("%s (%s): %d accepted, %d rejected, %d duplicates", src.path, fmt, accepted, rejected, duplicates)
    return {"path": src.path, "format": fmt, "accepted": accepted, "rejected": rejected,
            "duplicates": duplicates, "sessions": sessions, "ingest_id": ingest_id}


def ingest_paths(con: duckdb.DuckDBPyConnection, paths: Iterable[str | os.PathLike], *, format: str = "auto",
                 session_gap_s: float = 1800.0, redact: bool = False, redact_key: str | None = None,
                 progress: Progress | None = None, stdin: BinaryIO | None = None) -> IngestReport:
    """Load tool-call logs into the store in one transaction and report what happened.

    Parameters
    ----------
    con : a writable connection from :func:`miner.store.connect`.
    paths : log files (``.gz`` accepted); ``"-"`` reads standard input (or ``stdin``).
    format : ``auto`` (detect per file from its first records) or one of
        :data:`~miner.ingest.detect.FORMATS` to force it.
    session_gap_s : idle gap (seconds) that starts a new session for rows without a
        ``session_id``.
    redact, redact_key : mask secrets before storing (see :mod:`miner.ingest.redact`).
    progress : called as ``progress(path, done_files, total_files)`` after each file.

    Every path is checked (exists, readable, not empty, known format) before anything
    is written; a bad one raises :class:`~miner.errors.IngestError` and the store is
    unchanged, as it is after any error mid-way (one transaction). Bad rows do not
    fail the ingest: they land in ``rejects`` with a reason.

    Notes
    -----
    Per file a constant number of set-wise SQL statements, O(n log n) in its rows
    (the sort is the session cut); memory is bounded by DuckDB, which spills.

    Examples
    --------
    >>> import tempfile, os
    >>> from miner.store import connect
    >>> d = tempfile.mkdtemp()
    >>> log_file = os.path.join(d, "calls.jsonl")
    >>> _ = open(log_file, "w").write('{"session_id": "s1", "tool": "search", "ts": "2024-05-01T10:00:00Z"}\\n'
    ...                              '{"session_id": "s1", "tool": "open", "ts": "2024-05-01T10:00:02Z"}\\n'
    ...                              'not json\\n')
    >>> con = connect(os.path.join(d, "t.duckdb"))
    >>> r = ingest_paths(con, [log_file])
    >>> (r.accepted, r.rejected, r.duplicates, r.sessions)
    (2, 1, 0, 1)
    >>> ingest_paths(con, [log_file]).duplicates
    2
    """
    if format != "auto" and format not in FORMATS:
        raise IngestError(f"unknown format {format!r}; use auto or one of: {', '.join(FORMATS)}")
    try:
        gap = float(session_gap_s)
    except (TypeError, ValueError):
        gap = -1.0
    if not gap > 0:
        raise IngestError(f"session gap must be a positive number of seconds, got {session_gap_s!r}")
    options = {"format": format, "session_gap_s": gap, "redact": bool(redact)}
    with tempfile.TemporaryDirectory(prefix="chainmine-ingest-") as tmp:
        sources = open_sources(paths, stdin=stdin, tmpdir=tmp)
        plans = [(src, *plan_source(src, format)) for src in sources]
        files = []
        with transaction(con):
            key = resolve_key(con, redact_key) if redact else None
            for done, (src, container, fmt) in enumerate(plans, start=1):
                files.append(ingest_source(con, src, container, fmt, session_gap_s=gap,
                                           redact_key=key, options=options))
                if progress is not None:
                    progress(src.path, done, len(plans))
            ids = [f["ingest_id"] for f in files]
            sessions = session_count(con, ids)
            reasons = reject_reasons(con, ids)
    return IngestReport(accepted=sum(f["accepted"] for f in files), rejected=sum(f["rejected"] for f in files),
                        duplicates=sum(f["duplicates"] for f in files), sessions=sessions,
                        files=files, reject_reasons=reasons)
