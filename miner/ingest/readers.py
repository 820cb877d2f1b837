"""Read a source file with DuckDB's streaming readers; nothing is parsed in Python.

JSON containers become a ``(line, raw)`` relation, ``raw`` the text of one record
(a JSON Lines line, or one element of a JSON array / one object of a run of JSON
objects). Tables (CSV, Parquet) keep their columns, plus :data:`LINE`. ``line`` is
the 1-based line (JSON Lines, CSV) or record number (JSON, Parquet).

Lines the text reader cannot take (bad UTF-8, a CSV row with the wrong number of
fields) are kept in :data:`LINE_REJECTS` with their true line numbers, to become
rejects like any other bad row (see :func:`line_rejects_sql`).
"""

from __future__ import annotations

import logging

import duckdb

from chainmine.miner.ingest.sources import Source

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 1 << 24
"""Longest JSON Lines line (or JSON record) accepted: conversations can be large."""
BUFFER_BYTES = 2 * MAX_LINE_BYTES
# DuckDB would default its read buffer to 16 lines' worth (up to the whole file), which
# defeats a memory limit; two lines' worth streams just as well.

LINE = "_chainmine_line"
"""Name of the line-number column of the tables read here."""
LINE_REJECTS = "_ing_line_rejects"
REJECT_SCAN = "_ing_reject_scan"
ROWS = "_ing_rows"


def raw_relation(con: duckdb.DuckDBPyConnection, src: Source, container: str,
                 load: bool = True) -> tuple[str, dict]:
    """SQL (a parenthesised relation) and its named parameters yielding ``(line, raw)`` for ``src``.

    For the JSON containers: JSON Lines are first loaded into a temporary table (see
    :func:`load_lines`; ``load=False`` leaves that to the caller, chunk by chunk); a
    JSON document is read lazily.

    Examples
    --------
    >>> import duckdb, tempfile, os
    >>> from chainmine.miner.ingest.sources import open_source
    >>> p = os.path.join(tempfile.mkdtemp(), "a.jsonl")
    >>> _ = open(p, "w").write('{"tool": "a"}\\n\\n{"tool": "b"}\\n')
    >>> con = duckdb.connect()
    >>> sql, params = raw_relation(con, open_source(p), "jsonl")
    >>> con.execute(f"SELECT line, raw FROM {sql} WHERE raw IS NOT NULL ORDER BY line", params).fetchall()
    [(1, '{"tool": "a"}'), (3, '{"tool": "b"}')]
    """
    if container == "jsonl":
        if load:
            load_lines(con, src)
        # $first: the file line of the loaded table's first line (a chunk's, see chainmine.miner.ingest.chunks)
        return f"(SELECT {LINE} + $first - 1 AS line, raw FROM {ROWS})", {"first": 1}
    if container == "json":
        return (f"""(SELECT ordinality AS line, json::VARCHAR AS raw
                   FROM read_json_objects($path, format = 'auto', compression = '{src.compression}',
                                          maximum_object_size = {MAX_LINE_BYTES})
                   WITH ORDINALITY)""", {"path": str(src.local)})
    raise ValueError(f"not a JSON container: {container!r}")


def table_relation(con: duckdb.DuckDBPyConnection, src: Source, container: str) -> tuple[str, dict]:
    """SQL and parameters of a tabular source: :data:`LINE` first, then its own columns.

    CSV is loaded first into a temporary table (see :func:`load_csv`); Parquet is
    read lazily.

    Examples
    --------
    >>> import duckdb, tempfile, os
    >>> from chainmine.miner.ingest.sources import open_source
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
        return f"(SELECT * FROM {ROWS})", {}
    raise ValueError(f"not a tabular container: {container!r}")


def _read(con: duckdb.DuckDBPyConnection, src: Source, options: str, rows: str, rejects: str, scan: str) -> int:
    """``read_csv(options)`` into ``rows`` (:data:`LINE` the reader's row number), bad lines into ``rejects``."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {rows} AS
        SELECT ordinality AS {LINE}, * EXCLUDE (ordinality)
        FROM (SELECT * FROM read_csv(?, {options}, compression = '{src.compression}',
                                     max_line_size = {MAX_LINE_BYTES}, buffer_size = {BUFFER_BYTES},
                                     store_rejects = true, rejects_table = '{rejects}', rejects_scan = '{scan}')
              WITH ORDINALITY)
    """, [str(src.local)])
    return con.execute(f"SELECT count(*) FROM {rejects}").fetchone()[0]


def _number_lines(con: duckdb.DuckDBPyConnection, rows: str, rejects: str, header_lines: int, bad: int) -> None:
    """Turn the reader's row numbers in ``rows`` into record numbers, given the rejected records' numbers."""
    if not bad:
        if header_lines:
            con.execute(f"UPDATE {rows} SET {LINE} = {LINE} + {header_lines}")
        return
    # The reader numbers good rows only. Reject j (1-based, in line order) comes after
    # (line_j - header - j) good rows, so good row k follows every reject with fewer.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {rows} AS
        WITH rj AS (SELECT line, row_number() OVER (ORDER BY line) AS j
                    FROM (SELECT DISTINCT line FROM {rejects})),
             gaps AS (SELECT line - {header_lines} - j AS before, max(j) AS j FROM rj GROUP BY ALL)
        SELECT c.{LINE} + {header_lines} + coalesce(g.j, 0) AS {LINE}, c.* EXCLUDE ({LINE})
        FROM {rows} c ASOF LEFT JOIN gaps g ON c.{LINE} > g.before
    """)


def _load(con: duckdb.DuckDBPyConnection, src: Source, options: str, header_lines: int = 0) -> None:
    """Load a text file with ``read_csv(options)`` into :data:`ROWS`, bad lines into :data:`LINE_REJECTS`.

    Notes
    -----
    One streaming scan; when lines were rejected, one more pass with an as-of join
    against them restores the file line numbers of the good rows. A CSV file (one with
    a header) costs one more scan of its lines, and a third when a record spans lines.
    """
    drop_read_tables(con)
    bad = _read(con, src, options, ROWS, LINE_REJECTS, REJECT_SCAN)
    # CSV readers number records, and skip blank lines: where one record spans lines
    # or blank lines come between records, records and physical lines part ways.
    if header_lines and _records_drift(con, src, header_lines):
        _map_records(con, src, header_lines)
    else:
        _number_lines(con, ROWS, LINE_REJECTS, header_lines, bad)


def _lines_options() -> str:
    return ("columns = {'raw': 'VARCHAR'}, delim = chr(1114111), quote = '', escape = '', "
            "header = false, auto_detect = false")


def _records_drift(con: duckdb.DuckDBPyConnection, src: Source, header_lines: int) -> bool:
    """Whether the CSV just read has records that are not one physical line each."""
    records, encoding = con.execute(f"""
        SELECT {header_lines} + (SELECT count(*) FROM {ROWS}) + (SELECT count(DISTINCT line) FROM {LINE_REJECTS}),
               EXISTS (SELECT 1 FROM {LINE_REJECTS} WHERE error_type = 'INVALID ENCODING')""").fetchone()
    if encoding:  # the line scan below would skip such lines and miscount
        return True
    last = con.execute(f"""SELECT max(ordinality) FILTER (WHERE raw IS NOT NULL)
                           FROM read_csv(?, {_lines_options()}, compression = '{src.compression}',
                                         max_line_size = {MAX_LINE_BYTES}, buffer_size = {BUFFER_BYTES},
                                         ignore_errors = true) WITH ORDINALITY""", [str(src.local)]).fetchone()[0]
    return (last or 0) != records


def _quotes(con: duckdb.DuckDBPyConnection, src: Source) -> tuple[str, str]:
    """The quote and escape characters DuckDB's sniffer chose for a CSV (empty: no quoting)."""
    quote, escape = con.execute(f"""SELECT Quote, Escape FROM sniff_csv(?, header = true, all_varchar = true,
                                        store_rejects = true, compression = '{src.compression}',
                                        max_line_size = {MAX_LINE_BYTES}, buffer_size = {BUFFER_BYTES})""",
                                [str(src.local)]).fetchone()
    quote = "" if quote in (None, "", "(empty)") else quote
    escape = quote if escape in (None, "", "(empty)") else escape
    return quote, escape


def _map_records(con: duckdb.DuckDBPyConnection, src: Source, header_lines: int) -> None:
    """Renumber :data:`ROWS` and :data:`LINE_REJECTS` with the physical line each record starts on.

    A record starts on a line before which an even number of quote characters was
    seen (escaped quotes dropped first). The reader numbers every record, blank lines
    included, so reject *n* starts on the *n*-th such line; good rows fill the others
    in order, except blank lines, which hold no row.
    """
    quote, escape = _quotes(con, src)
    lines, lines_bad, lines_scan = "_ing_csv_lines", "_ing_csv_lines_rejects", "_ing_csv_lines_scan"
    bad = _read(con, src, _lines_options(), lines, lines_bad, lines_scan)
    _number_lines(con, lines, lines_bad, 0, bad)
    text = "raw" if escape == quote else "replace(replace(raw, $esc || $esc, ''), $esc || $quote, '')"
    count = f"length({text}) - length(replace({text}, $quote, ''))" if quote else "0"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ing_csv_starts AS
        WITH marks AS (SELECT {LINE} AS pl, raw IS NULL AS blank, {count} AS q FROM {lines}
                       UNION ALL SELECT DISTINCT line, false, 0 FROM {lines_bad}),
             opened AS (SELECT pl, blank, coalesce(sum(q) OVER (ORDER BY pl ROWS BETWEEN UNBOUNDED PRECEDING
                                                                         AND 1 PRECEDING), 0) AS before FROM marks)
        SELECT pl, blank, row_number() OVER (ORDER BY pl) AS rec FROM opened WHERE before % 2 = 0
    """, {"quote": quote, "esc": escape} if quote and escape != quote else {"quote": quote} if quote else {})
    # Should the quotes fool the count, a row keeps its reader number rather than being lost.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {ROWS} AS
        WITH good AS (SELECT pl, row_number() OVER (ORDER BY rec) AS k FROM _ing_csv_starts
                      WHERE rec > {header_lines} AND NOT blank AND rec NOT IN (SELECT line FROM {LINE_REJECTS}))
        SELECT coalesce(g.pl, c.{LINE} + {header_lines}) AS {LINE}, c.* EXCLUDE ({LINE})
        FROM {ROWS} c LEFT JOIN good g ON g.k = c.{LINE} ORDER BY c.{LINE};
        UPDATE {LINE_REJECTS} SET line = s.pl FROM _ing_csv_starts s WHERE s.rec = {LINE_REJECTS}.line;
        DROP TABLE _ing_csv_starts; DROP TABLE {lines}; DROP TABLE {lines_bad}; DROP TABLE {lines_scan}
    """)


def load_lines(con: duckdb.DuckDBPyConnection, src: Source) -> None:
    """Load a JSON Lines file into :data:`ROWS` as ``(LINE, raw)``, one row per line.

    Blank lines arrive as NULL. The "delimiter" is U+10FFFF, a noncharacter that log
    text does not contain, so no line is ever split; a line holding it, or bad UTF-8,
    lands in :data:`LINE_REJECTS` instead of failing the file.

    Examples
    --------
    >>> import tempfile, os
    >>> from chainmine.miner.ingest.sources import open_source
    >>> p = os.path.join(tempfile.mkdtemp(), "a.jsonl")
    >>> _ = open(p, "wb").write(b'{"a": 1}\\n\\xff\\n{"b": 2}\\n')
    >>> con = duckdb.connect(); load_lines(con, open_source(p))
    >>> con.execute(f"SELECT * FROM {ROWS} ORDER BY 1").fetchall()
    [(1, '{"a": 1}'), (3, '{"b": 2}')]
    >>> con.execute(f"SELECT line, reason FROM ({line_rejects_sql('jsonl')})", {"first": 1}).fetchall()
    [(2, 'unreadable line: invalid encoding (not UTF-8)')]
    """
    _load(con, src, _lines_options())


def load_csv(con: duckdb.DuckDBPyConnection, src: Source) -> None:
    """Load a CSV file (header row, every value as text) into :data:`ROWS`.

    Rows DuckDB cannot split (too many or too few fields, unterminated quotes, bad
    UTF-8) land in :data:`LINE_REJECTS`; line numbers stay those of the file.

    Examples
    --------
    >>> import tempfile, os
    >>> from chainmine.miner.ingest.sources import open_source
    >>> p = os.path.join(tempfile.mkdtemp(), "a.csv")
    >>> _ = open(p, "w").write("tool,seq\\na,1,extra\\nb,2\\n")
    >>> con = duckdb.connect(); load_csv(con, open_source(p))
    >>> con.execute(f"SELECT * FROM {ROWS}").fetchall()
    [(3, 'b', '2')]
    """
    _load(con, src, "header = true, all_varchar = true", 1)


def line_rejects_sql(container: str) -> str:
    """``(line, raw, reason)`` of the lines the reader could not take, one per line.

    Takes the named parameter ``$first``, the file line of the loaded text's first line.

    Examples
    --------
    >>> "invalid encoding" in line_rejects_sql("jsonl")
    True
    """
    prefix = "malformed CSV row: " if container == "csv" else "unreadable line: "
    # For JSON Lines a "second column" can only come from the U+10FFFF separator.
    split = "lower(e)" if container == "csv" else "'contains U+10FFFF'"
    return f"""
        SELECT line + $first - 1 AS line, raw,
               '{prefix}' || CASE e WHEN 'INVALID ENCODING' THEN 'invalid encoding (not UTF-8)'
                                    WHEN 'TOO MANY COLUMNS' THEN {split} ELSE lower(e) END AS reason
        FROM (SELECT line, min(csv_line) AS raw, min(error_type::VARCHAR) AS e FROM {LINE_REJECTS} GROUP BY line)
    """


def drop_read_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary tables a text read leaves behind (if any).

    Examples
    --------
    >>> drop_read_tables(duckdb.connect())
    """
    con.execute(f"DROP TABLE IF EXISTS {LINE_REJECTS}; DROP TABLE IF EXISTS {REJECT_SCAN}; "
                f"DROP TABLE IF EXISTS {ROWS}")
