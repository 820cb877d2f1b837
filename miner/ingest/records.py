"""SQL building blocks shared by the importers of one-record-per-line exports (runs, observations, spans).

Tracing tools export one JSON object per span or run, of which only some are tool
calls. Each importer builds its pre relation (see :mod:`~chainmine.miner.ingest.normalize`)
from :func:`records_cte`: the records with their problem, if any, as JSON. Records
that are well-formed but no tool call (an LLM run, a chain span) come out as rows
whose reason starts with :data:`SKIP`: the ingest counts them as skipped, neither
stored nor rejected.
"""

from __future__ import annotations

import logging

from chainmine.miner.ingest.sqltext import not_blank

log = logging.getLogger(__name__)

SKIP = "skipped: "
"""Prefix of the ``pre_reason`` of a record that is not a tool call (counted, not rejected)."""

TABLE_FORMATS = ("canonical", "langsmith", "langfuse", "openinference")
"""Formats that may come as CSV or Parquet as well as JSON."""


def records_cte(raw_sql: str, check: str = "true", missing: str = "not a record of this format") -> str:
    """``recs`` CTE (no ``WITH``): ``line, raw, pre_reason, j`` for each non-blank record of ``raw_sql``.

    ``check`` is an SQL predicate on the record text ``raw`` that a record of the
    format satisfies; one that does not is rejected with reason ``missing``.

    Examples
    --------
    >>> import duckdb
    >>> sql = "WITH " + records_cte("(SELECT * FROM (VALUES (1, '{}'), (2, 'nope'), (3, '[1]')) v(line, raw))")
    >>> duckdb.sql(sql + " SELECT line, pre_reason FROM recs ORDER BY line").fetchall()
    [(1, None), (2, 'invalid JSON'), (3, 'not a JSON object')]
    """
    return f"""
        recs AS (
            SELECT line, raw,
                   CASE WHEN NOT json_valid(raw) THEN 'invalid JSON'
                        WHEN json_type(raw) <> 'OBJECT' THEN 'not a JSON object'
                        WHEN NOT coalesce({check}, false) THEN '{missing}' END AS pre_reason,
                   CASE WHEN json_valid(raw) AND json_type(raw) = 'OBJECT' THEN raw::JSON END AS j
            FROM {raw_sql} AS r
            WHERE {not_blank('raw')})"""


def present(path: str, doc: str = "raw") -> str:
    """SQL predicate: ``doc`` (JSON text) has a non-null value at JSON path ``path``.

    A table row read as a record has every column, its empty cells as JSON nulls.

    Examples
    --------
    >>> import duckdb
    >>> rows = "(VALUES ('{\\"a\\": null}'), ('{\\"a\\": 1}'), ('{}')) v(raw)"
    >>> duckdb.sql(f"SELECT {present('$.a')} FROM {rows}").fetchall()
    [(False,), (True,), (False,)]
    """
    return f"coalesce(json_type({doc}, '{path}'), 'NULL') <> 'NULL'"


def as_json(expr: str) -> str:
    """SQL: a JSON value, or the JSON object, list or string a string value holds (CSV cells, JSON text attributes).

    Examples
    --------
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {as_json('v')}::VARCHAR FROM (VALUES ('\\"{{\\\\\\"a\\\\\\": 1}}\\"'::JSON), "
    ...            "('\\"plain\\"'::JSON), ('3'::JSON)) t(v)").fetchall()
    [('{"a":1}',), ('"plain"',), ('3',)]
    """
    text = f"(({expr}) ->> '$')"
    return (f"CASE WHEN json_type({expr}) = 'VARCHAR' AND left(ltrim({text}), 1) IN ('{{', '[', chr(34)) "
            f"AND json_valid({text}) THEN json({text}) ELSE {expr} END")


def duration_ms(start: str, end: str) -> str:
    """SQL: JSON milliseconds from time text ``start`` to ``end`` (ISO-8601), NULL when either is missing.

    Examples
    --------
    >>> import duckdb
    >>> sql = duration_ms("'2024-05-01T10:00:00Z'", "'2024-05-01T10:00:01.250Z'")
    >>> duckdb.sql("SELECT " + sql).fetchall()[0][0]
    '1250.0'
    """
    return (f"to_json(date_diff('microsecond', try_cast({start} AS TIMESTAMPTZ), "
            f"try_cast({end} AS TIMESTAMPTZ)) / 1000.0)")


def skipped(kind: str, what: str = "run") -> str:
    """SQL: the ``pre_reason`` of a skipped record whose kind (SQL text expression) is ``kind``.

    Examples
    --------
    >>> import duckdb
    >>> duckdb.sql("SELECT " + skipped("'llm'")).fetchall()[0][0]
    'skipped: llm run'
    """
    return f"'{SKIP}' || coalesce(lower({kind}), 'untyped') || ' {what}'"


def table_format(columns: list[str]) -> str:
    """The format a CSV/Parquet file is in, from its column names.

    Examples
    --------
    >>> table_format(["id", "run_type", "trace_id", "name"]), table_format(["traceId", "type", "name"])
    ('langsmith', 'langfuse')
    >>> table_format(["name", "span_kind", "context.trace_id", "attributes.tool.name"])
    'openinference'
    >>> table_format(["tool", "ts"])
    'canonical'
    """
    names = {c.strip().lower() for c in columns}
    if "context.trace_id" in names:
        return "openinference"
    if "run_type" in names and ("trace_id" in names or "id" in names):
        return "langsmith"
    if {"traceid", "type"} <= names or {"trace_id", "type", "starttime"} <= names:
        return "langfuse"
    return "canonical"
