"""Canonical tool-call records (JSON Lines, JSON arrays, CSV, Parquet) and their aliases.

Every source row arrives as JSON object text; one ``json_transform`` per row pulls
all known keys at once (as JSON values, so their types can be checked later), and
the aliases of DESIGN collapse onto the canonical field names.
"""

from __future__ import annotations

import json
import logging

from chainmine.miner.ingest.conversations import MESSAGE_KEYS
from chainmine.miner.ingest.sqltext import not_blank, starts_object

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

CONTEXT_KEYS = ("context", "query", "prompt", "user_query", "instruction")
"""Keys of the conversation text an agent had read before the call (the user's request), optional."""

_STRUCT = json.dumps({key: "JSON" for keys in ALIASES.values() for key in keys})
# The same keys as text: strings unescaped, numbers and objects as JSON text. Reading
# both in the one statement saves parsing each small value again field by field.
_TEXT_STRUCT = json.dumps({key: "VARCHAR" for keys in (*ALIASES.values(), CONTEXT_KEYS) for key in keys})


CONVERSATION = "a conversation, not a tool-call record: ingest it with --format auto, openai or anthropic"
_CONVERSATION_KEYS = MESSAGE_KEYS + ("items", "resourceSpans")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def pre_select(record: str, suffix: str = "") -> str:
    """SQL select-list mapping a struct column ``record`` onto :data:`PRE_FIELDS` (+ ``suffix``).

    Examples
    --------
    >>> pre_select("s").splitlines()[0]
    'coalesce(s."session_id", s."trace_id", s."execution_id", s."conversation_id", s."session") AS "session_id",'
    """
    cols = []
    for field, keys in ALIASES.items():
        parts = ", ".join(f"{record}.{_ident(k)}" for k in keys)
        name = _ident(field + suffix)
        cols.append(f"coalesce({parts}) AS {name}" if len(keys) > 1 else f"{parts} AS {name}")
    return ",\n".join(cols)


def _conversation(s: str, raw: str) -> str:
    """SQL: a record without time or order (rejected anyway) that holds a conversation's list."""
    order = ", ".join(f"{s}.{_ident(k)}" for k in ALIASES["ts"] + ALIASES["seq"])
    lists = " OR ".join(f"json_type({raw}, '$.{k}') = 'ARRAY'" for k in _CONVERSATION_KEYS)
    return f"(coalesce({order}) IS NULL AND ({lists}))"


def canonical_sql(raw_sql: str) -> str:
    """Pre-normalised relation from a ``(line, raw)`` relation of JSON object texts.

    Blank lines are not records; invalid JSON and non-objects keep their line with a
    reason, so they end up in ``rejects``. Besides the JSON columns it gives each
    field's text as ``<field>_text`` (see :func:`~chainmine.miner.ingest.normalize.normalize_sql`).

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> sql = canonical_sql("(SELECT 1 AS line, '{\\"tool_name\\": \\"a\\", \\"latency\\": 0.5}' AS raw)")
    >>> con.execute(f"SELECT tool, latency, pre_reason FROM ({sql})").fetchall()
    [('"a"', '0.5', None)]
    >>> sql = canonical_sql("(SELECT 1 AS line, '{\\"task_id\\": 1, \\"traj\\": []}' AS raw)")
    >>> con.execute(f"SELECT pre_reason FROM ({sql})").fetchone()[0] == CONVERSATION
    True
    """
    return f"""
        SELECT line, raw,
               CASE WHEN s IS NULL THEN 'invalid JSON'
                    WHEN NOT ({starts_object('raw')}) THEN 'not a JSON object'
                    WHEN {_conversation('s', 'raw')} THEN '{CONVERSATION}' END AS pre_reason,
               {pre_select("s")},
               {pre_select("t", "_text")},
               coalesce({", ".join("t." + _ident(k) for k in CONTEXT_KEYS)}) AS context
        FROM (SELECT line, raw, s,
                     CASE WHEN s IS NOT NULL THEN json_transform(raw, '{_TEXT_STRUCT}') END AS t
              FROM (SELECT line, raw, try(json_transform(raw, '{_STRUCT}')) AS s
              FROM {raw_sql} AS r
              WHERE {not_blank('raw')}))
    """
