"""Normalise a source a slice of lines at a time, so a big file's working set stays in memory.

A slice is a range of source lines (JSON Lines, CSV) or records (Parquet). Each one
is normalised into :data:`NORM` by one SQL statement, its content ids hashed in the
same pass, then stored before the next is read: ten million calls cost ten times
one million, where one table of them all would spill to disk and be read back by
every later pass. JSON documents are read in one slice (their reader cannot skip).

Rows without a ``session_id`` are marked :data:`CUT`: their sessions are cut at idle
gaps across the whole file, so the pipeline keeps them until every slice is read.
Meanwhile each slice adds its share to the digest of those rows (:func:`slice_digest`),
which their derived session ids and content ids are made from (see :mod:`~chainmine.miner.ingest.ids`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterator

import duckdb

from chainmine.miner.errors import IngestError
from chainmine.miner.ingest.canonical import canonical_sql
from chainmine.miner.ingest.chunks import LineChunks
from chainmine.miner.ingest.conversations import anthropic_sql, openai_chat_sql, openai_responses_sql
from chainmine.miner.ingest.ids import CONTENT, content_hash_sql, derived_id_sql, given_id_sql
from chainmine.miner.ingest.normalize import normalize_sql
from chainmine.miner.ingest.claude_code import claude_code_sql
from chainmine.miner.ingest.column_map import check_keys, renamed_records
from chainmine.miner.ingest.langfuse import langfuse_sql
from chainmine.miner.ingest.langsmith import langsmith_sql
from chainmine.miner.ingest.mcp_spans import mcp_sql
from chainmine.miner.ingest.openinference import openinference_sql
from chainmine.miner.ingest.otel import otel_sql
from chainmine.miner.ingest.run_traces import run_roots_sql
from chainmine.miner.ingest.readers import (LINE, LINE_REJECTS, ROWS, line_rejects_sql, load_lines, raw_relation,
                                  table_relation)
from chainmine.miner.ingest.sources import Source
from chainmine.miner.ingest.tabular import RAW_TEXT, tabular_sql

log = logging.getLogger(__name__)

SLICE_ROWS = 1_000_000
"""Source lines (or records) normalised at a time."""

NORM = "_ing_norm"
"""The normalised rows of the current slice."""
CONTENT_ID = "_ing_content_id"
"""Column of :data:`NORM` holding each good row's content id; a :data:`CUT` row's holds its
content hash until its session source is known (:func:`finish_derived_ids`)."""
CUT = "_ing_cut"
"""Column of :data:`NORM`: the row had no ``session_id`` and gets a derived one."""

_LAST = 1 << 62

CONVERSATIONS = ("openai", "openai-responses", "anthropic")
"""Formats whose calls without a session id are numbered per conversation, not cut at gaps."""

IMPORTERS: dict[str, Callable[[str], str]] = {
    "canonical": canonical_sql,
    "openai": openai_chat_sql,
    "openai-responses": openai_responses_sql,
    "anthropic": anthropic_sql,
    "otel": otel_sql,
    "langsmith": langsmith_sql,
    "langfuse": langfuse_sql,
    "openinference": openinference_sql,
    "claude-code": claude_code_sql,
    "mcp": mcp_sql,
}
"""Format name → function turning a ``(line, raw)`` relation into the pre relation."""


@dataclass(frozen=True)
class Slices:
    """How to normalise one source: SQL over the line range ``$lo``..``$hi``, and the ranges.

    Examples
    --------
    >>> s = Slices("SELECT 1", {}, ((1, 10), (11, 20)), None, "a.jsonl", "jsonl", "canonical")
    >>> len(s.ranges)
    2
    """

    sql: str
    values: dict
    ranges: tuple[tuple[int, int], ...]
    line_rejects: str | None
    path: str
    container: str
    format: str
    chunks: LineChunks | None = None
    """A JSON Lines file read in chunks (:meth:`parts` loads each); ``ranges`` is then unused."""
    runs: str | None = None
    """SQL over the same lines finding the runs of a chainmine run trace (:mod:`~chainmine.miner.ingest.run_traces`)."""

    def values_for(self, lo: int, hi: int, sql: str | None = None) -> dict:
        """The parameters of line range ``lo``..``hi`` (only those ``sql`` names, when given).

        Examples
        --------
        >>> Slices("SELECT $lo", {"path": "a"}, ((1, 10),), None, "a", "jsonl", "otel").values_for(1, 10, "SELECT $lo")
        {'lo': 1}
        """
        values = {**self.values, "lo": lo, "hi": hi}
        if self.chunks is not None:
            values["first"] = lo  # the loaded chunk starts at line lo (see Slices.parts)
        return values if sql is None else {k: v for k, v in values.items() if f"${k}" in sql}

    @property
    def count(self) -> int:
        """How many slices there are."""
        return len(self.chunks.chunks) if self.chunks is not None else len(self.ranges)

    def parts(self, con: duckdb.DuckDBPyConnection) -> Iterator[tuple[int, int]]:
        """The line ranges to normalise, in order; a chunked file's chunk is loaded before its range.

        Examples
        --------
        >>> list(Slices("SELECT 1", {}, ((1, 10), (11, 20)), None, "a", "jsonl", "canonical").parts(None))
        [(1, 10), (11, 20)]
        """
        if self.chunks is None:
            yield from self.ranges
            return
        first = 1
        for chunk in self.chunks.chunks:
            try:
                with self.chunks.stream(chunk) as part:
                    load_lines(con, part)
            except duckdb.Error as exc:
                raise IngestError(_cannot_read(self.path, self.container, self.format, exc)) from None
            except OSError as exc:
                raise IngestError(f"cannot read {self.path}: {exc}; ingest it again when it is complete") from None
            # DuckDB counts the chunk's lines as it reads them: the next chunk starts after them.
            lines = con.execute(f"SELECT greatest((SELECT max({LINE}) FROM {ROWS}), "
                                f"(SELECT max(line) FROM {LINE_REJECTS}))").fetchone()[0] or 0
            yield first, _LAST
            first += lines

    def close(self) -> None:
        """Remove the scratch copies of a chunked file (safe to call twice)."""
        if self.chunks is not None:
            self.chunks.close()


def _ranges(last_line: int, size: int) -> tuple[tuple[int, int], ...]:
    starts = list(range(1, max(last_line, 1) + 1, size))
    # The last range is open: nothing past the counted lines can be missed.
    return tuple((lo, hi - 1) for lo, hi in zip(starts, starts[1:] + [_LAST + 1]))


def plan_slices(con: duckdb.DuckDBPyConnection, src: Source, container: str, fmt: str, *,
                slice_rows: int | None = None, columns: dict[str, str] | None = None) -> Slices:
    """Load what must be loaded (text files) and plan the slices of ``src``.

    ``columns`` is a ``--map`` (canonical field → source column, see
    :mod:`~chainmine.miner.ingest.column_map`) for a canonical source.

    Examples
    --------
    >>> import tempfile, os
    >>> from chainmine.miner.ingest.sources import open_source
    >>> p = os.path.join(tempfile.mkdtemp(), "a.jsonl")
    >>> _ = open(p, "w").write("".join(f'{{"tool": "t", "seq": {i}}}\\n' for i in range(5)))
    >>> plan_slices(duckdb.connect(), open_source(p), "jsonl", "canonical", slice_rows=2).ranges[:2]
    ((1, 2), (3, 4))
    """
    try:
        return _plan(con, src, container, fmt, slice_rows or SLICE_ROWS, columns or {})
    except duckdb.Error as exc:
        raise IngestError(_cannot_read(src.path, container, fmt, exc)) from None


def _cannot_read(path: str, container: str, fmt: str, exc: Exception) -> str:
    detail = " ".join(str(exc).split("\n")[0].split())
    return f"cannot read {path} as {container} ({fmt}): {detail}"


WITH_CONTEXT = frozenset({"canonical", *CONVERSATIONS})
"""Formats whose pre relation carries the conversation text read before each call (``context``)."""
WITH_ORIGIN = frozenset({"otel"})
"""Formats whose pre relation tells a chainmine run's own calls apart (``origin``)."""


def _plan(con: duckdb.DuckDBPyConnection, src: Source, container: str, fmt: str, size: int,
          columns: dict[str, str]) -> Slices:
    line_rejects, runs = None, None
    if container in ("csv", "parquet"):
        table_sql, values = table_relation(con, src, container)
        sliced = f"(SELECT * FROM {table_sql} WHERE {LINE} BETWEEN $lo AND $hi)"
        if fmt == "canonical":
            pre = tabular_sql(con, sliced, {**values, "lo": 0, "hi": _LAST}, src.path, rename=columns)
            sql = normalize_sql(pre, texts=True, types=True, raw_text=RAW_TEXT)
        else:  # an export's rows as JSON records, read like its JSON Lines
            rows = f"(SELECT s.{LINE} AS line, {RAW_TEXT.replace('raw', 's')} AS raw FROM {sliced} AS s)"
            sql = normalize_sql(IMPORTERS[fmt](rows), origins=fmt in WITH_ORIGIN)
            runs = run_roots_sql(rows) if fmt in WITH_ORIGIN else None
    else:
        chunks = LineChunks(src, size, spill=_spill_folder(con)).open() if container == "jsonl" else None
        whole = chunks is None or chunks.chunks is None
        try:
            # A gzip file decompressed to find out that it is one chunk is read from that copy.
            raw_sql, values = raw_relation(con, chunks.whole if chunks is not None else src, container, load=whole)
        except BaseException:
            whole = True
            raise
        finally:
            if chunks is not None and whole:  # chunks stay open for Slices.parts, closed by Slices.close
                chunks.close()
                chunks = None
        sliced = f"(SELECT * FROM {raw_sql} WHERE line BETWEEN $lo AND $hi)" if container == "jsonl" else raw_sql
        if columns:
            if chunks is None:  # a file read in chunks is checked by what it yields
                check_keys(con, raw_sql, values, columns, src.path)
            sliced, renames = renamed_records(sliced, columns)
            values = {**values, **renames}
        sql = normalize_sql(IMPORTERS[fmt](sliced), texts=fmt == "canonical", records=fmt in CONVERSATIONS,
                            contexts=fmt in WITH_CONTEXT, origins=fmt in WITH_ORIGIN)
        runs = run_roots_sql(sliced) if fmt in WITH_ORIGIN else None
        if chunks is not None:
            return Slices(sql, values, (), line_rejects_sql(container), src.path, container, fmt, chunks, runs)
    if container == "parquet":
        last = con.execute("SELECT count(*) FROM read_parquet($path)", {"path": values["path"]}).fetchone()[0]
    elif container in ("csv", "jsonl"):
        line_rejects = line_rejects_sql(container)
        last = con.execute(f"SELECT greatest((SELECT max({LINE}) FROM {ROWS}), "
                           f"(SELECT max(line) FROM {LINE_REJECTS}))").fetchone()[0] or 0
    else:
        last, size = 0, 1
    return Slices(sql, values, _ranges(last, size), line_rejects, src.path, container, fmt, runs=runs)


def _spill_folder(con: duckdb.DuckDBPyConnection) -> str | None:
    """DuckDB's spill folder on this connection (beside the database), where scratch files belong too."""
    try:
        folder = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    except duckdb.Error:
        return None
    # DuckDB's own default ('.tmp' in the working directory) is not a place chainmine chose.
    return folder if folder and folder != ".tmp" else None


def _row_id() -> str:
    """SQL: a good row's id as far as its own columns tell (see :data:`CONTENT_ID`)."""
    return f"CASE WHEN session_id IS NOT NULL THEN {given_id_sql()} ELSE ({content_hash_sql()})::UHUGEINT END"


def normalise_slice(con: duckdb.DuckDBPyConnection, slices: Slices, lo: int, hi: int, *, hash_ids: bool = True) -> None:
    """Normalise lines ``lo``..``hi`` into :data:`NORM` (replacing it), unreadable lines included.

    With ``hash_ids`` every good row gets its :data:`CONTENT_ID` in the same pass.
    ``session_source`` and ``unmasked_id`` start NULL. Raises
    :class:`~chainmine.miner.errors.IngestError` when DuckDB cannot read the source.

    Examples
    --------
    >>> import tempfile, os
    >>> from chainmine.miner.ingest.sources import open_source
    >>> p = os.path.join(tempfile.mkdtemp(), "a.jsonl")
    >>> _ = open(p, "w").write('{"tool": "t", "seq": 1, "session_id": "s"}\\nnot json\\n{"tool": "u", "seq": 2}\\n')
    >>> con = duckdb.connect(); s = plan_slices(con, open_source(p), "jsonl", "canonical")
    >>> normalise_slice(con, s, *s.ranges[0])
    >>> con.execute(f"SELECT line, tool, reason, {CUT}, {CONTENT_ID} IS NOT NULL FROM {NORM} ORDER BY line").fetchall()
    [(1, 't', None, False, True), (2, None, 'invalid JSON', True, False), (3, 'u', None, True, True)]
    """
    ident = f"CASE WHEN reason IS NULL THEN {_row_id()} END" if hash_ids else "NULL"
    values = slices.values_for(lo, hi)
    sql = (f"CREATE OR REPLACE TEMP TABLE {NORM} AS SELECT *, session_id IS NULL AS {CUT}, "
           f"({ident})::UHUGEINT AS {CONTENT_ID}, NULL::VARCHAR AS session_source, NULL::BOOLEAN AS unmasked_id "
           f"FROM ({slices.sql})")
    try:
        con.execute(sql, {k: v for k, v in values.items() if f"${k}" in sql})
    except duckdb.Error as exc:
        raise IngestError(_cannot_read(slices.path, slices.container, slices.format, exc)) from None
    if slices.line_rejects:
        con.execute(f"INSERT INTO {NORM} BY NAME SELECT line, reason, raw FROM ({slices.line_rejects}) "
                    "WHERE line BETWEEN $lo AND $hi", {"first": values.get("first", 1), "lo": lo, "hi": hi})


# A row's place and content, as text: the digest of the rows without a session id is made
# of these (md5 is the same on every engine, so is the digest).
_DIGESTED = ("line", "session_record") + CONTENT


def slice_digest(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """``(rows, digest)`` of the good rows of :data:`NORM` without a session id (before masking).

    The digest XORs one md5 per row, so slices combine in any order (XOR the
    parts) and a row's line keeps equal rows apart.

    Examples
    --------
    >>> con = duckdb.connect()
    >>> _ = con.execute(f"CREATE TABLE {NORM} AS SELECT 1 AS line, NULL::BIGINT AS session_record, "
    ...                 + ", ".join(f'NULL AS "{c}"' for c in CONTENT) + f", NULL AS reason, true AS {CUT}")
    >>> n, d = slice_digest(con); n, d > 0
    (1, True)
    """
    text = ", ".join(f"""coalesce("{c}"::VARCHAR, '')""" for c in _DIGESTED)
    n, digest = con.execute(f"SELECT count(*), bit_xor(md5_number(concat_ws(chr(31), {text}))) FROM {NORM} "
                            f"WHERE reason IS NULL AND {CUT}").fetchone()
    return n, int(digest or 0)


def hash_rows(con: duckdb.DuckDBPyConnection, table: str, where: str) -> None:
    """Set :data:`CONTENT_ID` of the rows of ``table`` matching ``where`` (SQL written by this package).

    Examples
    --------
    >>> from chainmine.miner.ingest.ids import call_id_sql
    >>> con = duckdb.connect()
    >>> _ = con.execute(f"CREATE TABLE t AS SELECT 's' AS session_id, NULL::TIMESTAMP AS ts, 1::BIGINT AS seq, "
    ...                 "'a' AS tool, true AS success, NULL AS error, NULL::DOUBLE AS duration_ms, "
    ...                 "NULL::DOUBLE AS cost, NULL::JSON AS args, NULL::JSON AS result, NULL AS call_id, "
    ...                 f"NULL AS agent, NULL AS \\"user\\", NULL::DOUBLE AS session_outcome, "
    ...                 f"NULL::VARCHAR AS session_source, NULL::UHUGEINT AS {CONTENT_ID}")
    >>> hash_rows(con, "t", "true")
    >>> con.execute(f"SELECT {CONTENT_ID} = {call_id_sql()} FROM t").fetchone()[0]
    True
    """
    con.execute(f"UPDATE {table} SET {CONTENT_ID} = {_row_id()} WHERE {where}")


def flag_unmasked(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Mark the good rows whose content masking changed (``unmasked_id``); returns how many.

    Their :data:`CONTENT_ID`, hashed before masking, stays: see :mod:`~chainmine.miner.ingest.ids`.

    Examples
    --------
    >>> con = duckdb.connect()
    >>> _ = con.execute(f"CREATE TABLE t AS SELECT 's' AS session_id, NULL::TIMESTAMP AS ts, 1::BIGINT AS seq, "
    ...                 "'a' AS tool, true AS success, NULL AS error, NULL::DOUBLE AS duration_ms, "
    ...                 "NULL::DOUBLE AS cost, NULL::JSON AS args, NULL::JSON AS result, NULL AS call_id, "
    ...                 f"NULL AS agent, NULL AS \\"user\\", NULL::DOUBLE AS session_outcome, NULL AS reason, "
    ...                 f"NULL::BOOLEAN AS unmasked_id, 1::UHUGEINT AS {CONTENT_ID}")
    >>> flag_unmasked(con, "t")
    1
    """
    return con.execute(f"UPDATE {table} SET unmasked_id = true "
                       f"WHERE reason IS NULL AND {CONTENT_ID} IS DISTINCT FROM {_row_id()}").fetchone()[0]


def finish_derived_ids(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Turn the content hash of each good :data:`CUT` row (its session source now set) into its id.

    Examples
    --------
    >>> con = duckdb.connect()
    >>> _ = con.execute(f"CREATE TABLE t AS SELECT 'd' AS session_source, 7::UHUGEINT AS {CONTENT_ID}, "
    ...                 f"NULL AS reason, true AS {CUT}")
    >>> finish_derived_ids(con, "t")
    >>> expected = derived_id_sql("'d'", "7::UBIGINT")
    >>> con.execute(f"SELECT {CONTENT_ID} = {expected} FROM t").fetchone()[0]
    True
    """
    con.execute(f"UPDATE {table} SET {CONTENT_ID} = {derived_id_sql('session_source', f'{CONTENT_ID}::UBIGINT')} "
                f"WHERE reason IS NULL AND {CUT}")
