"""Conversation logs: OpenAI Chat, OpenAI Responses and Anthropic Messages, unnested in SQL.

Each record is one conversation (its messages under ``messages``, or under another
key of :data:`MESSAGE_KEYS` when a benchmark's result record wraps it). Its tool calls
are unnested (with their positions) and paired with their results turn by turn (see
:mod:`~chainmine.miner.ingest.pairing`), giving one pre-normalised row per call:
``session_id`` from ``id``/``session_id``/``conversation_id``, or ``"{task_id}-{trial}"``
(without one the ingest numbers the
conversation: ``session_record`` is its record, see
:func:`~chainmine.miner.ingest.normalize.assign_sessions`), ``seq`` the call's position in the conversation, outcome from
``reward``/``session_outcome``/``success``/``outcome``. A bad conversation becomes one
reject row for its line; a bad call (no name, arguments that are not a JSON object),
and a result that pairs with no call, one reject row of its own.
"""

from __future__ import annotations

import logging

from chainmine.library.failures import ERROR_KEYS, ERROR_TEXT_PATTERN, MAX_REASON
from chainmine.miner.ingest.pairing import pairing_ctes
from chainmine.miner.ingest.sqltext import not_blank

log = logging.getLogger(__name__)

SPEAKERS = "('user', 'assistant')"
"""Roles whose words become the calls' ``context`` (a system prompt is policy, not what the user said)."""

# Columns of the pre relation that conversation formats never fill.
_UNUSED = ("status", "latency", "cost", "duration_ms")


MESSAGE_KEYS = ("messages", "traj", "trajectory", "conversation", "history", "turns")
"""Keys a conversation record may hold its message list under (the first list wins): a
benchmark's result records wrap the conversation with ids and rewards around it."""


def messages_expr(j: str) -> str:
    """SQL: the message list of record ``j`` (JSON) under the first :data:`MESSAGE_KEYS` key holding a list.

    Examples
    --------
    >>> import duckdb
    >>> duckdb.connect().execute(f"SELECT {messages_expr('j')} FROM (SELECT '{{\\"history\\": [1], "
    ...                          f"\\"turns\\": [{{\\"role\\": \\"user\\"}}]}}'::JSON AS j)").fetchone()[0]
    '[{"role":"user"}]'
    """
    whens = " ".join(f"WHEN {_holds_messages(j, k)} THEN {j} -> '$.{k}'" for k in MESSAGE_KEYS)
    return f"CASE {whens} END"


def _holds_messages(j: str, key: str) -> str:
    # Under ``messages`` any list is the conversation; under the other keys, a list with a
    # role message (as detection sees it: a benchmark record may hold other lists as well).
    if key == "messages":
        return f"json_type({j}, '$.{key}') = 'ARRAY'"
    return f"(json_type({j}, '$.{key}') = 'ARRAY' AND len(json_extract({j}, '$.{key}[*].role')) > 0)"


def _session_id(j: str) -> str:
    # A benchmark's record: task and trial name the conversation ("{task_id}-{trial}").
    task = (f"CASE WHEN json_type({j}, '$.task_id') IN ('VARCHAR', 'BIGINT', 'UBIGINT') "
            f"AND json_type({j}, '$.trial') IN ('VARCHAR', 'BIGINT', 'UBIGINT') "
            f"THEN to_json(({j} ->> 'task_id') || '-' || ({j} ->> 'trial')) END")
    return f"coalesce({j} -> 'id', {j} -> 'session_id', {j} -> 'conversation_id', {task})"


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
                   {_session_id('j')} AS session_id,
                   coalesce(j -> 'timestamp', j -> 'created_at', j -> 'created', j -> 'ts') AS conv_ts,
                   coalesce(j -> 'reward', j -> 'session_outcome', j -> 'success', j -> 'outcome') AS outcome,
                   j -> 'agent' AS agent, j -> 'user' AS "user"
            FROM conv WHERE pre_reason IS NULL)"""


def _messages(raw_sql: str) -> str:
    """``WITH`` clause up to ``msgs``: one row per message (``m``) with its position ``mi``."""
    check = " OR ".join(_holds_messages("raw", k) for k in MESSAGE_KEYS)
    return f"""
        WITH {_conversations(raw_sql, check, 'no messages list')},
        ml AS (SELECT *, json_extract({messages_expr('j')}, '$[*]') AS lst FROM good),
        msgs AS (SELECT * EXCLUDE (lst), unnest(lst) AS m, generate_subscripts(lst, 1) AS mi FROM ml)"""


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
    """SQL: does a tool result text mark the call failed? :func:`chainmine.library.failures.is_failure` in SQL.

    Built from the rule's own constants (:data:`~chainmine.library.failures.ERROR_TEXT_PATTERN`,
    :data:`~chainmine.library.failures.ERROR_KEYS`), so ingest and the runner agree.

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


def _emit(calls: str, results: str, success: str, error: str, texts: str) -> str:
    """Pairing CTEs and the final SELECT: calls with their results, plus reject rows.

    ``calls`` needs ``line, pos, msg, call_id, tool, args, raw`` plus the ``good``
    columns; ``results`` needs ``line, pos, call_id, raw`` and the result fields used by
    ``success``/``error`` (see :func:`~chainmine.miner.ingest.pairing.pairing_ctes`). ``texts``
    holds ``line, pos, text``: what the user and the assistant said, in the calls'
    order; each call's ``context`` is what was said since the call before it.
    """
    unused = ", ".join(f'NULL::JSON AS "{c}"' for c in _UNUSED)
    return f"""{pairing_ctes(calls, results)},
        cprev AS (SELECT line, pos, lag(pos) OVER (PARTITION BY line ORDER BY pos) AS prev FROM {calls}),
        cctx AS (SELECT cp.line, cp.pos, string_agg(t.text, chr(10) ORDER BY t.pos) AS context
                 FROM cprev cp JOIN {texts} t
                   ON t.line = cp.line AND t.pos < cp.pos AND t.pos > coalesce(cp.prev, -1)
                 WHERE t.text IS NOT NULL AND t.text <> ''
                 GROUP BY ALL)
        SELECT c.line, c.raw, NULL AS pre_reason, c.session_id, x.context,
               c.conv_ts AS ts,
               to_json(row_number() OVER (PARTITION BY c.line ORDER BY c.pos) - 1) AS seq,
               c.tool, CASE WHEN p.rpos IS NOT NULL THEN to_json({success}) END AS success,
               CASE WHEN p.rpos IS NOT NULL AND NOT {success} THEN to_json({error}) END AS error,
               c.args, to_json(r.rt) AS result, to_json(c.call_id) AS call_id, c.agent, c."user",
               c.outcome AS session_outcome, {unused}, c.line AS session_record,
               coalesce(p.by_position, false) AS by_position
        FROM {calls} c
        LEFT JOIN cctx x ON x.line = c.line AND x.pos = c.pos
        LEFT JOIN pairs p ON p.line = c.line AND p.cpos = c.pos
        LEFT JOIN {results} r ON r.line = p.line AND r.pos = p.rpos
        UNION ALL BY NAME
        SELECT u.line, left(r.raw, 10000) AS raw, u.reason AS pre_reason
        FROM unpaired u JOIN {results} r ON r.line = u.line AND r.pos = u.rpos
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
        c AS (SELECT line, session_id, conv_ts, outcome, agent, "user", mi * 100000 + ci AS pos, mi AS msg,
                     tc ->> 'id' AS call_id, tc -> '$.function.name' AS tool,
                     tc -> '$.function.arguments' AS args, tc::VARCHAR AS raw FROM calls),
        res AS (SELECT line, m ->> 'tool_call_id' AS call_id, mi * 100000 AS pos, m::VARCHAR AS raw,
                       {content_text("m -> 'content'")} AS rt, NULL::BOOLEAN AS is_error
                FROM msgs WHERE (m ->> 'role') = 'tool'),
        said AS (SELECT line, mi * 100000 AS pos, {content_text("m -> 'content'")} AS text
                 FROM msgs WHERE (m ->> 'role') IN {SPEAKERS})
        {_emit('c', 'res', f'NOT {failed_text("r.rt")}', _error_text('r.rt'), 'said')}
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
        its0 AS (SELECT *, unnest(lst) AS it, generate_subscripts(lst, 1) AS pos
                 FROM (SELECT *, {items} AS lst FROM good)),
        -- A message item between two calls ends a turn (see chainmine.miner.ingest.pairing).
        its AS (SELECT *, count(*) FILTER (WHERE (it ->> 'type') = 'message')
                              OVER (PARTITION BY line ORDER BY pos) AS msg FROM its0),
        c AS (SELECT line, session_id, conv_ts, outcome, agent, "user", pos, msg,
                     it ->> 'call_id' AS call_id, it -> 'name' AS tool, it -> 'arguments' AS args,
                     it::VARCHAR AS raw
              FROM its WHERE (it ->> 'type') = 'function_call'),
        res AS (SELECT line, it ->> 'call_id' AS call_id, pos, it::VARCHAR AS raw,
                       {content_text("it -> 'output'")} AS rt,
                       NULL::BOOLEAN AS is_error
                FROM its WHERE (it ->> 'type') = 'function_call_output'),
        said AS (SELECT line, pos, {content_text("it -> 'content'")} AS text FROM its
                 WHERE (it ->> 'type') = 'message' AND (it ->> 'role') IN {SPEAKERS})
        {_emit('c', 'res', f'NOT {failed_text("r.rt")}', _error_text('r.rt'), 'said')}
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
        c AS (SELECT line, session_id, conv_ts, outcome, agent, "user", mi * 100000 + bi AS pos, mi AS msg,
                     b ->> 'id' AS call_id, b -> 'name' AS tool, b -> 'input' AS args, b::VARCHAR AS raw
              FROM blocks WHERE (b ->> 'type') = 'tool_use'),
        res AS (SELECT line, b ->> 'tool_use_id' AS call_id, mi * 100000 + bi AS pos, b::VARCHAR AS raw,
                       {content_text("b -> 'content'")} AS rt,
                       coalesce((b ->> 'is_error') = 'true', false) AS is_error
                FROM blocks WHERE (b ->> 'type') = 'tool_result'),
        said AS (SELECT line, mi * 100000 + bi AS pos, b ->> 'text' AS text FROM blocks
                 WHERE (b ->> 'type') = 'text' AND (m ->> 'role') IN {SPEAKERS}
                 UNION ALL
                 SELECT line, mi * 100000 AS pos, m ->> 'content' AS text FROM msgs
                 WHERE json_type(m, '$.content') = 'VARCHAR' AND (m ->> 'role') IN {SPEAKERS})
        {_emit('c', 'res', 'NOT r.is_error', "coalesce(nullif(r.rt, ''), 'error')", 'said')}
    """
