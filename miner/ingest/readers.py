"""Read a source file with DuckDB's streaming readers; nothing is parsed in Python.

JSON containers become a ``(line, raw)`` relation, ``raw`` the text of one record
(a JSON Lines line, or one element of a JSON array / one object of a run of JSON
objects). Tables (CSV, Parquet) keep their columns, plus :data:`LINE`. ``line`` is
the 1-based line (JSON Lines, CSV) or record number (JSON, Parquet).
"""

from __future__ import annotations

import logging

import duckdb

from miner.ingest.sources import Source

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 1 << 28
"""Longest JSON Lines line (or JSON record) accepted: conversations can be large."""

CSV_REJECTS = "_ing_csv_rejects"
CSV_REJECT_SCAN = "_ing_csv_reject_scan"
CSV_ROWS = "_ing_csv_rows"
LINE = "_chainmine_line"
"""Name of the line-number column added to tabular sources."""


def raw_relation(con: duckdb.DuckDBPyConnection, src: Source, container: str) -> tuple[str, dict]:
    """SQL (a parenthesised relation) and its named parameters yielding ``(line, raw)`` for ``src``.

    For the JSON containers (``jsonl``, ``json``); the file is read lazily when the
    returned relation is queried.

    Examples
    --------
    >>> import duckdb, tempfile, os
    >>> from miner.ingest.sources import open_source
    >>> p = os.path.join(tempfile.mkdtemp(), "a.jsonl")
    >>> _ = open(p, "w").write('{"tool": "a"}\\n\\n{"tool": "b"}\\n')
    >>> con = duckdb.connect()
    >>> sql, params = raw_relation(con, open_source(p), "jsonl")
    >>> con.execute(f"SELECT line, raw FROM {sql} WHERE raw IS NOT NULL", params).fetchall()
    [(1, '{"tool": "a"}'), (3, '{"tool": "b"}')]
    """
    path = str(src.local)
    comp = src.compression
    if container == "jsonl":
        # One VARCHAR column per line, bad lines included, with their line numbers. The
        # "delimiter" is U+10FFFF, a noncharacter that log text does not contain; strict
        # mode turns the impossible case into an error instead of a silently cut line.
        return (f"""(SELECT ordinality AS line, raw
                   FROM read_csv($path, columns = {{'raw': 'VARCHAR'}}, delim = chr(1114111), quote = '', escape = '',
                                 header = false, auto_detect = false,
                                 compression = '{comp}', max_line_size = {MAX_LINE_BYTES})
                   WITH ORDINALITY)""", {"path": path})
    if container == "json":
        return (f"""(SELECT ordinality AS line, json::VARCHAR AS raw
                   FROM read_json_objects($path, format = 'auto', compression = '{comp}',
                                          maximum_object_size = {MAX_LINE_BYTES})
                   WITH ORDINALITY)""", {"path": path})
    raise ValueError(f"not a JSON container: {container!r}")


def table_relation(con: duckdb.DuckDBPyConnection, src: Source, container: str) -> tuple[str, dict]:
    """SQL and parameters of a tabular source: its own columns plus :data:`LINE`.

    CSV is materialised first into a temporary table (see :func:`load_csv`); Parquet
    is read lazily.

    Examples
    --------
    >>> import duckdb, tempfile, os
    >>> from miner.ingest.sources import open_source
    >>> p = os.path.join(tempfile.mkdtemp(), "a.csv")
    >>> _ = open(p, "w").write("tool,seq\\na,1\\nb,2\\n")
    >>> con = duckdb.connect()
    >>> sql, params = table_relation(con, open_source(p), "csv")
    >>> con.execute(f"SELECT * FROM {sql} ORDER BY 1", params).fetchall()
    [(2, 'a', '1'), (3, 'b', '2')]
    """
    if container == "parquet":
        return (f"""(SELECT file_row_number + 1 AS {LINE}, * EXCLUDE (file_row_number)
                    FROM read_parquet($path, file_row_number = true))""", {"path": str(src.local)})
    if container == "csv":
        load_csv(con, src)
        return f"(SELECT * FROM {CSV_ROWS})", {}
    raise ValueError(f"not a tabular container: {container!r}")


def load_csv(con: duckdb.DuckDBPyConnection, src: Source) -> None:
    """Read a CSV file (header row, every value as text) into :data:`CSV_ROWS`.

    Rows DuckDB cannot split (too many columns, unterminated quotes, bad UTF-8) go to
    :data:`CSV_REJECTS` with their real line numbers; good rows get their file line by
    counting the rejected lines before them, so line numbers stay true either way.

    Notes
    -----
    One streaming scan plus an as-of join against the (few) rejected lines.
    """
    drop_csv_tables(con)
    con.execute(f"""
        CREATE TEMP TABLE {CSV_ROWS} AS
        SELECT ordinality AS {LINE}, * EXCLUDE (ordinality)
        FROM (SELECT * FROM read_csv(?, header = true, all_varchar = true,
                                     compression = '{src.compression}', max_line_size = {MAX_LINE_BYTES},
                                     store_rejects = true, rejects_table = '{CSV_REJECTS}',
                                     rejects_scan = '{CSV_REJECT_SCAN}')
              WITH ORDINALITY)
    """, [str(src.local)])
    # Reject j (1-based, in line order) sits after (line_j - 1 - j) good rows; a good row
    # k is preceded by every reject with fewer good rows before it.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {CSV_ROWS} AS
        WITH rj AS (SELECT line, row_number() OVER (ORDER BY line) AS j
                    FROM (SELECT DISTINCT line FROM {CSV_REJECTS})),
             gaps AS (SELECT line - 1 - j AS before, max(j) AS j FROM rj GROUP BY ALL)
        SELECT c.{LINE} + 1 + coalesce(g.j, 0) AS {LINE}, c.* EXCLUDE ({LINE})
        FROM {CSV_ROWS} c ASOF LEFT JOIN gaps g ON c.{LINE} > g.before
    """)


def csv_rejects_sql() -> str:
    """``(line, raw, reason)`` of the CSV rows DuckDB could not split, one per line."""
    return f"""
        SELECT line, min(csv_line) AS raw,
               'malformed CSV row: ' || lower(min(error_type::VARCHAR)) AS reason
        FROM {CSV_REJECTS} GROUP BY line
    """


def drop_csv_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary tables a CSV read left behind."""
    con.execute(f"DROP TABLE IF EXISTS {CSV_REJECTS}; DROP TABLE IF EXISTS {CSV_REJECT_SCAN}; "
                f"DROP TABLE IF EXISTS {CSV_ROWS}")
