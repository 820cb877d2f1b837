"""Conversation logs: OpenAI Chat, OpenAI Responses and Anthropic Messages, unnested in SQL.

Each record is one conversation. Its tool calls are unnested (with their positions)
and joined to their results by call id, giving one pre-normalised row per call:
``session_id`` from ``id``/``session_id`` (without one the ingest numbers the
conversation: ``session_record`` is its record, see
:func:`~miner.ingest.normalize.assign_sessions`), ``seq`` the call's position in the conversation, outcome from
``reward``/``success``. A bad conversation becomes one reject row for its line; a
bad call (no name, arguments that are not a JSON object) one reject row of its own.
"""

from __future__ import annotations

import logging

from library.failures import ERROR_KEYS, ERROR_TEXT_PATTERN, MAX_REASON
from miner.ingest.sqltext import not_blank

log = logging.getLogger(__name__)

# Columns of the pre relation that conversation formats never fill.
_UNUSED = ("status", "latency", "cost", "duration_ms")


def _conversations(raw_sql: str, list_check: str, missing: str) -> str:
    """The ``conv`` CTE: one row per record, with its problem (if any) and conversation fields."""
    return f"""
        conv AS (
            SELECT line, raw,
                   CASE WHEN NOT json_valid(raw) THEN 'invalid JSON'
                        WHEN json_type(raw) <> 'OBJECT' THEN 'not a JSON object'
                        WHEN NOT coalesce({list_check}, false) THEN '{missing}' END AS pre_reason,
                   CASE WHEN json_valid(raw) AND json_type(raw) = 'OBJECT' THEN raw::JSON END AS j
            FROM {raw_sql} AS r
            WHERE {not_blank('raw')}),
        good AS (
            SELECT line, j,
                   coalesce(j -> 'id', j -> 'session_id') AS session_id,
                   coalesce(j -> 'timestamp', j -> 'created_at', j -> 'created', j -> 'ts') AS conv_ts,
                   coalesce(j -> 'reward', j -> 'session_outcome', j -> 'success') AS outcome,
                   j -> 'agent' AS agent, j -> 'user' AS "user"
            FROM conv WHERE pre_reason IS NULL)"""


def _messages(raw_sql: str) -> str:
    """``WITH`` clause up to ``msgs``: one row per message (``m``) with its position ``mi``."""
    return f"""
        WITH {_conversations(raw_sql, "json_type(raw, '$.messages') = 'ARRAY'", 'no messages list')},
        msgs AS (SELECT *, unnest(json_extract(j, '$.messages[*]')) AS m,
                        generate_subscripts(json_extract(j, '$.messages[*]'), 1) AS mi FROM good)"""


def content_text(expr: str) -> str:
    """SQL text of a message/result content: a string as is, a list of parts joined.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> con.execute(f"SELECT {content_text('c')} FROM (SELECT '[{{\\"type\\": \\"text\\", \\"text\\": \\"hi\\"}}]'::JSON AS c)").fetchone()[0]
    'hi'
    """
    return (f"CASE WHEN json_type({expr}) = 'ARRAY' THEN array_to_string(json_extract_string({expr}, '$[*].text'), '') "
            f"WHEN json_type({expr}) = 'VARCHAR' THEN ({expr}) ->> '$' "
            f"WHEN json_type({expr}) <> 'NULL' THEN ({expr})::VARCHAR END")


def failed_text(rt: str) -> str:
    """SQL: does a tool result text mark the call failed? :func:`library.failures.is_failure` in SQL.

    Built from the rule's own constants (:data:`~library.failures.ERROR_TEXT_PATTERN`,
    :data:`~library.failures.ERROR_KEYS`), so ingest and the runner agree.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> con.execute(f"SELECT {failed_text('t')} FROM (VALUES ('Error: 404'), ('{{\\"error\\": \\"x\\"}}'), "
    ...             "('{\\"error\\": null}'), ('fine'), (NULL)) v(t)").fetchall()
    [(True,), (True,), (False,), (False,), (False,)]
    """
    pattern = ERROR_TEXT_PATTERN.replace("'", "''")
    keys = " OR ".join(f"json_type({rt}, '{_path(k)}') NOT IN ('NULL', 'BOOLEAN') OR ({rt}::JSON ->> '{_path(k)}') = 'true'"
                       for k in ERROR_KEYS)
    return (f"coalesce(regexp_matches({rt}, '{pattern}') OR "
            f"CASE WHEN json_valid({rt}) AND json_type({rt}) = 'OBJECT' THEN coalesce({keys}, false) END, false)")


def _path(key: str) -> str:
    return '$."' + key.replace("'", "''").replace('"', '\\"') + '"'


def _error_text(rt: str) -> str:
    """SQL: the failure reason of a result text (the error key's value, else the text)."""
    found = " OR ".join(f"json_type({rt}, '{_path(k)}') IS NOT NULL" for k in ERROR_KEYS)
    value = "coalesce(" + ", ".join(f"{rt}::JSON ->> '{_path(k)}'" for k in ERROR_KEYS) + ")"
    return (f"CASE WHEN json_valid({rt}) AND json_type({rt}) = 'OBJECT' AND ({found}) "
            f"THEN {value} ELSE left({rt}, {MAX_REASON}) END")


def _emit(calls: str, results: str, success: str, error: str) -> str:
    """Final SELECT: calls left-joined to their results, plus reject rows for bad records.

    ``calls`` needs ``line, pos, call_id, tool, args, raw`` plus the ``good`` columns;
    ``results`` needs ``line, call_id`` and the result fields used by ``success``/``error``.
    """
    unused = ", ".join(f'NULL::JSON AS "{c}"' for c in _UNUSED)
    return f"""
        SELECT c.line, c.raw, NULL AS pre_reason, c.session_id,
               c.conv_ts AS ts,
               to_json(row_number() OVER (PARTITION BY c.line ORDER BY c.pos) - 1) AS seq,
               c.tool, CASE WHEN r.call_id IS NOT NULL THEN to_json({success}) END AS success,
               CASE WHEN r.call_id IS NOT NULL AND NOT {success} THEN to_json({error}) END AS error,
               c.args, to_json(r.rt) AS result, to_json(c.call_id) AS call_id, c.agent, c."user",
               c.outcome AS session_outcome, {unused}, c.line AS session_record
        FROM {calls} c
        LEFT JOIN (SELECT line, call_id, arg_min(rt, pos) AS rt, arg_min(is_error, pos) AS is_error
                   FROM {results} GROUP BY ALL) r
               ON r.line = c.line AND r.call_id = c.call_id
        UNION ALL BY NAME
        SELECT line, left(raw, 10000) AS raw, pre_reason FROM conv WHERE pre_reason IS NOT NULL
    """


def openai_chat_sql(raw_sql: str) -> str:
    """Pre relation for OpenAI Chat Completions conversations (``messages`` with ``tool_calls``).

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> conv = ('{"id": "c1", "messages": [{"role": "assistant", "tool_calls": [{"id": "k", "type": "function", '
    ...         '"function": {"name": "f", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "k", "content": "Error: no"}]}')
    >>> sql = openai_chat_sql(f"(SELECT 1 AS line, '{conv}' AS raw)")
    >>> con.execute(f"SELECT tool, success, error, seq FROM ({sql})").fetchall()
    [('"f"', 'false', '"Error: no"', '0')]
    """
    return f"""
        {_messages(raw_sql)},
        calls AS (SELECT *, unnest(json_extract(m, '$.tool_calls[*]')) AS tc,
                         generate_subscripts(json_extract(m, '$.tool_calls[*]'), 1) AS ci
                  FROM msgs WHERE json_type(m, '$.tool_calls') = 'ARRAY'),
        c AS (SELECT line, session_id, conv_ts, outcome, agent, "user", mi * 100000 + ci AS pos,
                     tc ->> 'id' AS call_id, tc -> '$.function.name' AS tool,
                     tc -> '$.function.arguments' AS args, tc::VARCHAR AS raw FROM calls),
        res AS (SELECT line, m ->> 'tool_call_id' AS call_id, mi AS pos,
                       {content_text("m -> 'content'")} AS rt, NULL::BOOLEAN AS is_error
                FROM msgs WHERE (m ->> 'role') = 'tool')
        {_emit('c', 'res', f'NOT {failed_text("r.rt")}', _error_text('r.rt'))}
    """


def openai_responses_sql(raw_sql: str) -> str:
    """Pre relation for OpenAI Responses conversations (``items``, or ``input`` + ``output``).

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> conv = ('{"items": [{"type": "function_call", "call_id": "k", "name": "f", "arguments": "{\\\\"a\\\\": 1}"}, '
    ...         '{"type": "function_call_output", "call_id": "k", "output": "{\\\\"ok\\\\": true}"}]}')
    >>> sql = openai_responses_sql(f"(SELECT 3 AS line, '{conv}' AS raw)")
    >>> con.execute(f"SELECT session_id, session_record, tool, success, result FROM ({sql})").fetchall()
    [(None, 3, '"f"', 'true', '"{\\\\"ok\\\\": true}"')]
    """
    items = ("CASE WHEN json_type(j, '$.items') = 'ARRAY' THEN json_extract(j, '$.items[*]') "
             "ELSE list_concat(coalesce(json_extract(j, '$.input[*]'), []), "
             "coalesce(json_extract(j, '$.output[*]'), [])) END")
    check = ("json_type(raw, '$.items') = 'ARRAY' OR json_type(raw, '$.input') = 'ARRAY' "
             "OR json_type(raw, '$.output') = 'ARRAY'")
    return f"""
        WITH {_conversations(raw_sql, check, 'no items list (items, or input and output)')},
        its AS (SELECT *, unnest(lst) AS it, generate_subscripts(lst, 1) AS pos
                FROM (SELECT *, {items} AS lst FROM good)),
        c AS (SELECT line, session_id, conv_ts, outcome, agent, "user", pos,
                     it ->> 'call_id' AS call_id, it -> 'name' AS tool, it -> 'arguments' AS args,
                     it::VARCHAR AS raw
              FROM its WHERE (it ->> 'type') = 'function_call'),
        res AS (SELECT line, it ->> 'call_id' AS call_id, pos, {content_text("it -> 'output'")} AS rt,
                       NULL::BOOLEAN AS is_error
                FROM its WHERE (it ->> 'type') = 'function_call_output')
        {_emit('c', 'res', f'NOT {failed_text("r.rt")}', _error_text('r.rt'))}
    """


def anthropic_sql(raw_sql: str) -> str:
    """Pre relation for Anthropic Messages conversations (``tool_use`` / ``tool_result`` blocks).

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> conv = ('{"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", '
    ...         '"input": {"q": 1}}]}, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", '
    ...         '"is_error": true, "content": "boom"}]}]}')
    >>> sql = anthropic_sql(f"(SELECT 1 AS line, '{conv}' AS raw)")
    >>> con.execute(f"SELECT tool, args, success, error FROM ({sql})").fetchall()
    [('"f"', '{"q":1}', 'false', '"boom"')]
    """
    return f"""
        {_messages(raw_sql)},
        blocks AS (SELECT *, unnest(json_extract(m, '$.content[*]')) AS b,
                          generate_subscripts(json_extract(m, '$.content[*]'), 1) AS bi
                   FROM msgs WHERE json_type(m, '$.content') = 'ARRAY'),
        c AS (SELECT line, session_id, conv_ts, outcome, agent, "user", mi * 100000 + bi AS pos,
                     b ->> 'id' AS call_id, b -> 'name' AS tool, b -> 'input' AS args, b::VARCHAR AS raw
              FROM blocks WHERE (b ->> 'type') = 'tool_use'),
        res AS (SELECT line, b ->> 'tool_use_id' AS call_id, mi * 100000 + bi AS pos,
                       {content_text("b -> 'content'")} AS rt,
                       coalesce((b ->> 'is_error') = 'true', false) AS is_error
                FROM blocks WHERE (b ->> 'type') = 'tool_result')
        {_emit('c', 'res', 'NOT r.is_error', "coalesce(nullif(r.rt, ''), 'error')")}
    """
