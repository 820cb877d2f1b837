"""Canonical tool-call records (JSON Lines, JSON arrays, CSV, Parquet) and their aliases.

Every source row arrives as JSON object text; one ``json_transform`` per row pulls
all known keys at once (as JSON values, so their types can be checked later), and
the aliases of DESIGN collapse onto the canonical field names.
"""

from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)

ALIASES: dict[str, tuple[str, ...]] = {
    "session_id": ("session_id", "trace_id", "execution_id", "conversation_id", "session"),
    "ts": ("ts", "timestamp", "start_time", "time"),
    "seq": ("seq",),
    "tool": ("tool", "tool_name", "name"),
    "success": ("success",),
    "status": ("status",),
    "error": ("error",),
    "duration_ms": ("duration_ms",),
    "latency": ("latency",),
    "cost": ("cost",),
    "args": ("args", "arguments", "parameters", "input", "params"),
    "result": ("result", "output", "response"),
    "call_id": ("call_id",),
    "agent": ("agent",),
    "user": ("user",),
    "session_outcome": ("session_outcome", "reward"),
}
"""Canonical field (plus ``status`` and ``latency``, resolved during normalisation)
→ the record keys that feed it, first present wins."""

PRE_FIELDS = tuple(ALIASES)
"""Columns (all JSON) of the pre-normalised relation every importer produces."""

_STRUCT = json.dumps({key: "JSON" for keys in ALIASES.values() for key in keys})


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def pre_select(record: str) -> str:
    """SQL select-list mapping a JSON struct column ``record`` onto :data:`PRE_FIELDS`.

    Examples
    --------
    >>> pre_select("s").splitlines()[0]
    'coalesce(s."session_id", s."trace_id", s."execution_id", s."conversation_id", s."session") AS "session_id",'
    """
    cols = []
    for field, keys in ALIASES.items():
        parts = ", ".join(f"{record}.{_ident(k)}" for k in keys)
        cols.append(f"coalesce({parts}) AS {_ident(field)}" if len(keys) > 1 else f"{parts} AS {_ident(field)}")
    return ",\n".join(cols)


def canonical_sql(raw_sql: str) -> str:
    """Pre-normalised relation from a ``(line, raw)`` relation of JSON object texts.

    Blank lines are not records; invalid JSON and non-objects keep their line with a
    reason, so they end up in ``rejects``.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> sql = canonical_sql("(SELECT 1 AS line, '{\\"tool_name\\": \\"a\\", \\"latency\\": 0.5}' AS raw)")
    >>> con.execute(f"SELECT tool, latency, pre_reason FROM ({sql})").fetchall()
    [('"a"', '0.5', None)]
    """
    return f"""
        SELECT line, raw,
               CASE WHEN s IS NULL THEN 'invalid JSON'
                    WHEN NOT starts_with(ltrim(raw, ' \t\r\n'), '{{') THEN 'not a JSON object' END AS pre_reason,
               {pre_select("s")}
        FROM (SELECT line, raw, try(json_transform(raw, '{_STRUCT}')) AS s
              FROM {raw_sql} AS r
              WHERE raw IS NOT NULL AND trim(raw, ' \t\r\n') <> '')
    """
