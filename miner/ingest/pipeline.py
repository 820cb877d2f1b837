"""Ingest log files into the store: check, detect, read, normalise, redact, dedupe, record.

A Python loop runs per *file* (and per slice of a million lines of a big one); every
per-row step is one SQL statement over the slice. All files of one call share one
transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from typing import BinaryIO, Callable, Iterable

import duckdb

from chainmine.miner.chains.events import events_fresh
from chainmine.miner.errors import IngestError
from chainmine.miner.ingest.column_map import parse_map
from chainmine.miner.ingest.detect import (FORMATS, best_evidence, detect_container, detect_source, looks_like,
                                 tool_evidence, unknown_format_message)
from chainmine.miner.ingest.ids import ensure_id_scheme
from chainmine.miner.ingest.normalize import assign_sessions
from chainmine.miner.ingest.readers import drop_read_tables
from chainmine.miner.ingest.records import SKIP, TABLE_FORMATS
from chainmine.miner.ingest.redact import key_is_the_stores, redact_table, resolve_key
from chainmine.miner.ingest.run_traces import store_run_roots
from chainmine.miner.ingest.report import IngestReport, reject_reasons, store_rejects
from chainmine.miner.ingest.slicing import (CONTENT_ID, CUT, NORM, Slices, finish_derived_ids, flag_unmasked, hash_rows,
                                  normalise_slice, plan_slices, slice_digest)
from chainmine.miner.ingest.sources import (Source, content_digest, needs_plain_copy, open_sources, plain_copy,
                                  verify_gzip)
from chainmine.miner.ingest.writer import (next_ingest_id, record_ingest, refresh_ingest_events, session_count,
                                 store_records)
from chainmine.miner.store import transaction

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

READY = "_ing_ready"
DEFERRED = "_ing_deferred"
BAD = "_ing_bad"


def plan_source(src: Source, format: str = "auto", *, mapped: bool = False) -> tuple[str, str]:
    """``(container, format)`` to read ``src`` with, or an :class:`IngestError` saying why not.

    With ``mapped`` (a ``--map`` is given) the file is canonical records under other names.

    Examples
    --------
    >>> from pathlib import Path
    >>> src = Source("x.jsonl", Path("x.jsonl"), "x", "none", b'{"tool": "a", "seq": 1}\\n')
    >>> plan_source(src)
    ('jsonl', 'canonical')
    >>> plan_source(src, "otel")
    ('jsonl', 'otel')
    """
    if mapped and format not in ("auto", "canonical"):
        raise IngestError(f"--map renames the columns of canonical records; drop --format {format} or --map")
    if mapped:
        container, fmt = detect_container(src.head, src.suffixes, truncated=src.truncated) or "jsonl", "canonical"
    elif format == "auto":
        container, fmt = detect_source(src)
    else:
        container = detect_container(src.head, src.suffixes, truncated=src.truncated) or "jsonl"
        fmt = format
    if fmt is None:
        raise IngestError(unknown_format_message(src.path))
    if fmt not in TABLE_FORMATS and container in ("csv", "parquet"):
        raise IngestError(f"{src.path} is {container.upper()}, but --format {fmt} needs JSON or JSON Lines; "
                          f"use --format auto or one of {', '.join(TABLE_FORMATS)}")
    if container == "parquet" and src.compression != "none":
        raise IngestError(f"{src.path}: gzip-compressed Parquet is not supported; decompress it first")
    return container, fmt


def ingest_source(con: duckdb.DuckDBPyConnection, src: Source, container: str, fmt: str, *,
                  session_gap_s: float = 1800.0, redact_key: bytes | None = None, unmasked_ids: bool = False,
                  options: dict | None = None, columns: dict[str, str] | None = None) -> dict:
    """Ingest one checked source inside the caller's transaction; returns its per-file counts.

    ``columns`` is a ``--map`` (see :mod:`~chainmine.miner.ingest.column_map`).

    Per slice of lines (see :mod:`~chainmine.miner.ingest.slicing`), each step one SQL statement:
    map, type-check and hash the rows (:mod:`~chainmine.miner.ingest.normalize`), add the rows
    without a session id to the source digest, redact, keep the bad rows, store the
    rows that carry a session id with :func:`~chainmine.miner.ingest.writer.store_records`
    (dedupe). Rows without one are kept until the end, their sessions cut across the
    whole file and named after the digest, then stored; the bad rows are stored once
    per file content (:func:`~chainmine.miner.ingest.report.store_rejects`). With ``redact_key``
    the ids of masked calls are those of their masked content, unless ``unmasked_ids``
    (the key is the store's own; see :mod:`~chainmine.miner.ingest.ids`).

    Examples
    --------
    >>> import tempfile, os
    >>> from chainmine.miner.ingest.sources import open_source
    >>> from chainmine.miner.store import connect, transaction
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
    ensure_id_scheme(con)
    counts = {"accepted": 0, "duplicates": 0, "rejected": 0, "skipped": 0}
    masked_ids = redact_key is not None and not unmasked_ids

    def store(table: str, rows: str) -> None:
        # A plain scan of the good rows: store_records reads it twice (check, insert), and
        # DuckDB inserts from a plain scan in parallel while keeping file order.
        con.execute(f"CREATE OR REPLACE TEMP VIEW {READY} AS SELECT * EXCLUDE (reason, raw, {CUT}) FROM {table} "
                    f"WHERE reason IS NULL AND {rows}")
        accepted, duplicates = store_records(con, READY, source=src.path, format=fmt, ingest_id=ingest_id,
                                             id_column=CONTENT_ID)
        counts["accepted"] += accepted
        counts["duplicates"] += duplicates

    # No cleanup on errors: the caller's transaction rolls the temporary tables back too.
    slices = plan_slices(con, src, container, fmt, columns=columns)
    try:
        cut_rows, digest, cut_table, counts["skipped"], by_position = _normalise_and_store(
            con, slices, store, redact_key, masked_ids)
    finally:
        slices.close()
    if cut_rows:
        assign_sessions(con, cut_table, stem=src.stem, digest=f"{digest:032x}", gap_s=session_gap_s)
        finish_derived_ids(con, cut_table)
        store(cut_table, CUT)
    counts["rejected"] = con.execute(f"SELECT count(*) FROM {BAD}").fetchone()[0]
    rejects_digest = content_digest(src) if counts["rejected"] else None
    if rejects_digest is not None:
        store_rejects(con, BAD, ingest_id=ingest_id, source=src.path, digest=rejects_digest)
    drop_read_tables(con)
    con.execute(f"DROP VIEW IF EXISTS {READY}; DROP TABLE IF EXISTS {NORM}; DROP TABLE IF EXISTS {DEFERRED}; "
                f"DROP TABLE {BAD}")
    if not (counts["accepted"] or counts["duplicates"] or counts["rejected"]) and container in ("jsonl", "json"):
        check_not_misread(src, container, fmt)
    sessions = session_count(con, [ingest_id])
    record_ingest(con, ingest_id, source=src.path, format=fmt, sessions=sessions, started_at=started,
                  options={**(options or {}), "container": container, "compression": src.compression},
                  rejects_digest=rejects_digest, **{k: v for k, v in counts.items() if k != "skipped"})
    log.info("%s (%s): %d accepted, %d rejected, %d duplicates, %d skipped", src.path, fmt, counts["accepted"],
             counts["rejected"], counts["duplicates"], counts["skipped"])
    out = {"path": src.path, "format": fmt, **counts, "sessions": sessions, "ingest_id": ingest_id,
           "paired_by_position": by_position}
    if counts["rejected"] and not (counts["accepted"] or counts["duplicates"]):
        out["looks_like"] = looks_like(src, container)
    return out


def _normalise_and_store(con: duckdb.DuckDBPyConnection, slices: Slices, store: Callable[[str, str], None],
                         redact_key: bytes | None, masked_ids: bool) -> tuple[int, int, str, int, int]:
    """Normalise, redact and store every slice; keep bad rows in :data:`BAD` and id-less rows for the cut.

    Returns the rows without a session id, their digest, the table holding them, and
    how many records were skipped (no tool call: see :data:`~chainmine.miner.ingest.records.SKIP`) and how
    many good calls had their result paired by position.
    """
    cut_table = NORM if slices.count == 1 else DEFERRED
    con.execute(f"CREATE OR REPLACE TEMP TABLE {BAD} (line BIGINT, raw VARCHAR, reason VARCHAR)")
    cut_rows, digest, skipped, by_position = 0, 0, 0, 0
    for lo, hi in slices.parts(con):
        normalise_slice(con, slices, lo, hi, hash_ids=not masked_ids)
        by_position += con.execute(f"SELECT count(*) FROM {NORM} WHERE reason IS NULL AND by_position").fetchone()[0]
        rows, part = slice_digest(con)  # before masking: the same ids with and without --redact
        cut_rows, digest = cut_rows + rows, digest ^ part
        if redact_key is not None:
            redact_table(con, NORM, redact_key)
            if masked_ids:
                hash_rows(con, NORM, "reason IS NULL")
            else:
                flag_unmasked(con, NORM)
        skipped += con.execute(f"SELECT count(*) FROM {NORM} WHERE starts_with(reason, $skip)",
                               {"skip": SKIP}).fetchone()[0]
        con.execute(f"INSERT INTO {BAD} SELECT line, raw, reason FROM {NORM} "
                    "WHERE reason IS NOT NULL AND NOT starts_with(reason, $skip) ORDER BY line", {"skip": SKIP})
        store(NORM, f"NOT {CUT}")
        if slices.runs is not None:
            store_run_roots(con, slices.runs, slices.values_for(lo, hi))
        if cut_table == DEFERRED:
            con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {DEFERRED} AS FROM {NORM} LIMIT 0; "
                        f"INSERT INTO {DEFERRED} FROM {NORM} WHERE reason IS NULL AND {CUT}")
    return cut_rows, digest, cut_table, skipped, by_position


def check_not_misread(src: Source, container: str, fmt: str) -> None:
    """Fail when ``src``, read as ``fmt`` without a call or reject, holds another format's tool calls.

    Read in the wrong conversation format a file yields nothing at all, not even
    rejects; this scan of the whole file turns that silence into an error naming
    the format that would read it.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from chainmine.miner.ingest.sources import open_source
    >>> p = Path(tempfile.mkdtemp()) / "chat.jsonl"
    >>> _ = p.write_text('{"messages": [{"role": "tool", "tool_call_id": "k", "content": "ok"}]}\\n')
    >>> check_not_misread(open_source(p), "jsonl", "anthropic")
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.IngestError: ...chat.jsonl read as anthropic holds no tool call, but 1 of its records hold openai tool calls; pass --format openai
    """
    counts = tool_evidence(src, container)
    other = best_evidence({f: n for f, n in counts.items() if f != fmt})
    if other is not None and not counts.get(fmt):
        raise IngestError(f"{src.path} read as {fmt} holds no tool call, but {counts[other]} of its records hold "
                          f"{other} tool calls; pass --format {other}")


def ingest_paths(con: duckdb.DuckDBPyConnection, paths: Iterable[str | os.PathLike], *, format: str = "auto",
                 session_gap_s: float = 1800.0, redact: bool = False, redact_key: str | None = None,
                 progress: Progress | None = None, stdin: BinaryIO | None = None,
                 columns: str | dict | None = None) -> IngestReport:
    """Load tool-call logs into the store in one transaction and report what happened.

    Parameters
    ----------
    con : a writable connection from :func:`chainmine.miner.store.connect`.
    paths : log files (``.gz`` accepted); ``"-"`` reads standard input (or ``stdin``).
    format : ``auto`` (detect per file from its first records, or from the tool calls of
        the whole file when those do not tell) or one of :data:`~chainmine.miner.ingest.detect.FORMATS`
        to force it.
    session_gap_s : idle gap (seconds) that starts a new session for rows without a
        ``session_id``.
    redact, redact_key : mask secrets before storing (see :mod:`chainmine.miner.ingest.redact`).
    progress : called as ``progress(path, done_files, total_files)`` after each file.
    columns : a column map, ``"tool=fn,session_id=conv_id"`` or a dict: canonical field →
        source column, for canonical records under other names (see :mod:`~chainmine.miner.ingest.column_map`).

    Every path is checked (exists, readable, not empty, known format) before anything
    is written; a bad one raises :class:`~chainmine.miner.errors.IngestError` and the store is
    unchanged, as it is after any error mid-way (one transaction). Bad rows do not
    fail the ingest: they land in ``rejects`` with a reason.

    Notes
    -----
    Per file a constant number of set-wise SQL statements, O(n log n) in its rows
    (the sort is the session cut); memory is bounded by DuckDB, which spills.

    Examples
    --------
    >>> import tempfile, os
    >>> from chainmine.miner.store import connect
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
    mapping = parse_map(columns)
    options = {"format": format, "session_gap_s": gap, "redact": bool(redact), **({"map": mapping} if mapping else {})}
    with tempfile.TemporaryDirectory(prefix="chainmine-ingest-") as tmp:
        sources = open_sources(paths, stdin=stdin, tmpdir=tmp)
        plans = [(src, *plan_source(src, format, mapped=bool(mapping))) for src in sources]
        for src, container, _ in plans:
            if container in ("json", "csv"):  # JSON Lines are checked as they are decompressed (chunks)
                verify_gzip(src)
        plans = [(plain_copy(src, tmp, container) if needs_plain_copy(src, container) else src, container, fmt)
                 for src, container, fmt in plans]
        files = []
        with transaction(con):
            key = resolve_key(con, redact_key) if redact else None
            unmasked = redact and key_is_the_stores(redact_key)
            for done, (src, container, fmt) in enumerate(plans, start=1):
                files.append(ingest_source(con, src, container, fmt, session_gap_s=gap,
                                           redact_key=key, unmasked_ids=unmasked, options=options,
                                           columns=mapping))
                if progress is not None:
                    progress(src.path, done, len(plans))
            ids = [f["ingest_id"] for f in files]
            sessions = session_count(con, ids)
            reasons = reject_reasons(con, ids)
        # Events refer to calls by rowid, final only now that the calls are committed. With
        # nothing new, a table left stale (an interrupted refresh, an older layout) is mended.
        if any(f["accepted"] for f in files) or not events_fresh(con):
            refresh_ingest_events(con, ids)
    return IngestReport(accepted=sum(f["accepted"] for f in files), rejected=sum(f["rejected"] for f in files),
                        duplicates=sum(f["duplicates"] for f in files), sessions=sessions,
                        files=files, reject_reasons=reasons, skipped=sum(f["skipped"] for f in files),
                        paired_by_position=sum(f["paired_by_position"] for f in files))
