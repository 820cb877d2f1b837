"""A column map for logs in no known format: ``--map tool=fn,session_id=conv_id`` renames source columns.

The map names, per canonical field, the source column (CSV/Parquet) or key (JSON)
that feeds it; the file is then read as canonical records. A mapped column wins
over any alias of its field, and a source key mapped elsewhere no longer feeds
its own alias (``--map session_id=name`` does not make ``name`` the tool as well).
Names from the map reach SQL only as parameters.
"""

from __future__ import annotations

import logging

import duckdb

from chainmine.miner.errors import IngestError
from chainmine.miner.ingest.canonical import ALIASES

log = logging.getLogger(__name__)

FIELDS = tuple(f for f in ALIASES if f not in ("status", "latency")) + ("status", "latency")
"""Canonical fields a map may feed (plus ``status`` and ``latency``, read as DESIGN says)."""


def parse_map(text: str | dict | None) -> dict[str, str]:
    """``{field: source column}`` from ``field=column,...`` (or a dict), checked; ``{}`` for None.

    Examples
    --------
    >>> parse_map("tool=fn, session_id=conv_id")
    {'tool': 'fn', 'session_id': 'conv_id'}
    >>> parse_map("tool=fn,colour=x")
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.IngestError: --map: unknown canonical field 'colour'; use one of: session_id, ts, seq, tool, success, error, duration_ms, cost, args, result, call_id, agent, user, session_outcome, status, latency
    """
    if not text:
        return {}
    pairs = list(text.items()) if isinstance(text, dict) else [
        tuple(p.strip() for p in part.split("=", 1)) if "=" in part else (part.strip(), "")
        for part in text.split(",") if part.strip()]
    out: dict[str, str] = {}
    for field, column in pairs:
        if field not in FIELDS:
            raise IngestError(f"--map: unknown canonical field {field!r}; use one of: {', '.join(FIELDS)}")
        if not column:
            raise IngestError(f"--map: {field} names no column; write {field}=COLUMN")
        if field in out:
            raise IngestError(f"--map: {field} is mapped twice; give each field one column")
        out[field] = column
    return out


def _path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def renamed_records(raw_sql: str, mapping: dict[str, str]) -> tuple[str, dict]:
    """A ``(line, raw)`` relation whose JSON records carry each mapped key under its field's name.

    Returns the SQL and its named parameters (``$map_*``). Text that is no JSON
    object passes unchanged (the canonical reader rejects it).

    Examples
    --------
    >>> sql, params = renamed_records("(SELECT 1 AS line, '{\\"fn\\": \\"search\\", \\"name\\": \\"x\\"}' AS raw)",
    ...                               {"tool": "fn", "agent": "name"})
    >>> duckdb.execute(f"SELECT raw FROM {sql}", params).fetchall()
    [('{"tool":"search","agent":"x"}',)]
    """
    params, entries, dropped = {}, [], []
    for i, (field, column) in enumerate(mapping.items()):
        params[f"map_f{i}"], params[f"map_p{i}"] = field, _path(column)
        value = f"json_extract(raw::JSON, $map_p{i})"
        entries.append(f"CASE WHEN {value} IS NOT NULL THEN to_json($map_f{i}::VARCHAR)::VARCHAR || ':' || "
                       f"{value}::VARCHAR END")
        dropped.append(f"$map_f{i}, NULL")
    for i, column in enumerate(c for c in dict.fromkeys(mapping.values()) if c not in mapping):
        params[f"map_d{i}"] = column
        dropped.append(f"$map_d{i}, NULL")
    # Remove the fields and their sources (a merge patch of nulls only deletes keys), then
    # put the mapped values first as they are: a merge patch would blend objects.
    base = f"json_merge_patch(raw, json_object({', '.join(dropped)}))::VARCHAR"
    added = f"concat_ws(',', {', '.join(entries)})"
    return (f"""(SELECT line, CASE WHEN NOT (json_valid(raw) AND json_type(raw) = 'OBJECT') THEN raw
                                 WHEN added = '' THEN base WHEN base = '{{}}' THEN '{{' || added || '}}'
                                 ELSE '{{' || added || ',' || substr(base, 2) END AS raw
               FROM (SELECT line, raw,
                            CASE WHEN json_valid(raw) AND json_type(raw) = 'OBJECT' THEN {base} END AS base,
                            CASE WHEN json_valid(raw) AND json_type(raw) = 'OBJECT' THEN {added} END AS added
                     FROM {raw_sql} AS m))""", params)


def check_keys(con: duckdb.DuckDBPyConnection, raw_sql: str, params: dict, mapping: dict[str, str],
               name: str) -> None:
    """Fail when a mapped key is in no record of ``raw_sql`` (one scan), naming the first missing.

    Examples
    --------
    >>> check_keys(duckdb.connect(), "(SELECT 1 AS line, '{\\"fn\\": 1}' AS raw)", {}, {"tool": "fun"}, "a.jsonl")
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.IngestError: --map tool=fun: a.jsonl has no column 'fun'; check the name (case matters)
    """
    values = dict(params)
    found = []
    for i, column in enumerate(mapping.values()):
        values[f"chk_{i}"] = _path(column)
        found.append(f"coalesce(bool_or(json_exists(raw, $chk_{i})), false)")
    sql = f"SELECT {', '.join(found)} FROM {raw_sql} AS r WHERE json_valid(raw) AND json_type(raw) = 'OBJECT'"
    present = con.execute(sql, {k: v for k, v in values.items() if f"${k}" in sql}).fetchone()
    for (field, column), ok in zip(mapping.items(), present):
        if not ok:
            raise IngestError(missing_column(field, column, name))


def missing_column(field: str, column: str, name: str) -> str:
    """The one-line error for a mapped column that a file does not have.

    Examples
    --------
    >>> missing_column("tool", "fn", "f.csv")
    "--map tool=fn: f.csv has no column 'fn'; check the name (case matters)"
    """
    return f"--map {field}={column}: {name} has no column {column!r}; check the name (case matters)"
