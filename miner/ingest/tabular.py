"""Canonical records from tables (CSV, Parquet): columns mapped straight onto fields.

The header decides once per file which column feeds which canonical field (the
aliases of :data:`~chainmine.miner.ingest.canonical.ALIASES`, matched case-insensitively).
Columns are then addressed by position (``c1``, ``c2``, ...), so no name taken from
the file ever appears in SQL. Each mapped column gives the pre relation its text and
kind; ``args`` and ``result`` also pass the column itself, which normalisation turns
into JSON (``to_json``, keeping the column's type) only where it is needed.
"""

from __future__ import annotations

import logging

import duckdb

from chainmine.miner.errors import IngestError
from chainmine.miner.ingest.canonical import ALIASES
from chainmine.miner.ingest.column_map import missing_column
from chainmine.miner.ingest.readers import LINE
from chainmine.miner.ingest.sqltext import json_kind

log = logging.getLogger(__name__)

RAW_TEXT = f"""json_merge_patch(to_json(raw), '{{"{LINE}": null}}')::VARCHAR"""
"""SQL rendering a rejected table row (the ``raw`` struct) as JSON text."""


def column_map(names: list[str], rename: dict[str, str] | None = None) -> dict[str, int]:
    """Canonical field → index (0-based) of the column feeding it, first alias wins.

    ``rename`` (``--map``: field → column name, exact, else ignoring case) comes
    first; a column it maps feeds no alias of its own.

    Examples
    --------
    >>> column_map(["Tool_Name", "timestamp", "extra", "session"])
    {'session_id': 3, 'ts': 1, 'tool': 0}
    >>> column_map(["fn", "name"], {"tool": "fn", "agent": "name"})
    {'tool': 0, 'agent': 1}
    """
    out = {}
    for field, column in (rename or {}).items():
        exact = [i for i, n in enumerate(names) if n == column]
        loose = [i for i, n in enumerate(names) if n.strip().lower() == column.strip().lower()]
        if not (exact or loose):
            raise IngestError(missing_column(field, column, "the file"))
        out[field] = (exact or loose)[0]
    taken = set(out.values())
    index = {}
    for i, name in enumerate(names):
        if i not in taken:
            index.setdefault(name.strip().lower(), i)
    for field, keys in ALIASES.items():
        for key in keys:
            if field not in out and key in index:
                out[field] = index[key]
                break
    return out


_NUMBER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


def column_kind(duckdb_type: str, text: str) -> str:
    """SQL giving the JSON kind of a column's values from its DuckDB type (JSON columns: per value).

    Examples
    --------
    >>> column_kind("VARCHAR", "c"), column_kind("DECIMAL(9,2)", "c"), column_kind("STRUCT(a INTEGER)", "c")
    ("'VARCHAR'", "'NUMBER'", "'OBJECT'")
    """
    t = duckdb_type.upper()
    if t == "JSON":
        return json_kind(text)
    if t.startswith(_NUMBER_TYPES):
        return "'NUMBER'"
    if t == "BOOLEAN":
        return "'BOOLEAN'"
    if t.startswith(("STRUCT", "MAP")):
        return "'OBJECT'"
    if t.endswith("]"):
        return "'ARRAY'"
    return "'VARCHAR'"  # text, times and dates (their text is ISO), anything else as text


def tabular_sql(con: duckdb.DuckDBPyConnection, table_sql: str, params: dict, name: str,
                rename: dict[str, str] | None = None) -> str:
    """Pre relation (``<field>_text`` and ``_type``) of a table from :func:`~chainmine.miner.ingest.readers.table_relation`.

    ``raw`` is the row as a struct (render it with :data:`RAW_TEXT`). Raises
    :class:`~chainmine.miner.errors.IngestError` when no column can be the tool name, or when
    a column of ``rename`` (see :func:`column_map`) is missing.

    Examples
    --------
    >>> con = duckdb.connect()
    >>> table = "(SELECT 2 AS _chainmine_line, 'search' AS Tool, 3 AS seq, 'x' AS other)"
    >>> con.execute(f"SELECT line, tool_text, tool_type, seq_text, seq_type FROM ({tabular_sql(con, table, {}, 't')})").fetchall()
    [(2, 'search', 'VARCHAR', '3', 'NUMBER')]
    """
    described = con.execute(f"DESCRIBE SELECT * FROM {table_sql}", params).fetchall()
    if not described or described[0][0] != LINE:
        raise ValueError(f"{LINE} must be the first column of {table_sql}")
    user = [row[0] for row in described[1:]]
    types = [row[1] for row in described[1:]]
    try:
        mapping = column_map(user, rename)
    except IngestError as exc:
        raise IngestError(str(exc).replace("the file", name, 1)) from None
    if "tool" not in mapping:
        raise IngestError(f"{name} has no tool column (one of: {', '.join(ALIASES['tool'])}); "
                          "check the header or the file")
    positions = ["line"] + [f"c{i + 1}" for i in range(len(user))]
    cols = []
    for field in ALIASES:
        if field in mapping:
            c = f"c{mapping[field] + 1}"
            kind = column_kind(types[mapping[field]], f"CAST({c} AS VARCHAR)")
            # Nested values need JSON text (a plain cast gives DuckDB's struct/list literal).
            text = f"to_json({c})::VARCHAR" if kind in ("'OBJECT'", "'ARRAY'") else f"CAST({c} AS VARCHAR)"
            # args/result keep the column itself: normalisation turns it into JSON only where needed.
            value = c if field in ("args", "result") else "NULL::JSON"
            cols.append(f'{value} AS "{field}", {text} AS "{field}_text", '
                        f'CASE WHEN {c} IS NULL THEN \'NULL\' ELSE {kind} END AS "{field}_type"')
        else:
            cols.append(f'NULL::JSON AS "{field}", NULL::VARCHAR AS "{field}_text", \'NULL\' AS "{field}_type"')
    log.debug("%s: columns %s mapped to %s", name, user, sorted(mapping))
    return f"""
        SELECT line, raw, NULL::VARCHAR AS pre_reason, {', '.join(cols)}
        FROM (SELECT s AS raw, s.* FROM {table_sql} AS s) AS u(raw, {', '.join(positions)})
    """
