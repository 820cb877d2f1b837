"""Claude Code session transcripts (``~/.claude/projects/*/<session>.jsonl``): tool calls, in SQL.

One event per line: ``type`` (``user``, ``assistant``, ``summary``, ``system``),
``sessionId``, ``timestamp``, ``uuid`` and a ``message`` whose ``content`` is a list
of blocks. Assistant events carry ``tool_use`` blocks (``id``, ``name``, ``input``);
a later user event answers each with a ``tool_result`` block (``tool_use_id``,
``content`` as text or a list of text blocks, ``is_error``). Calls and results are
on different lines, so they are paired across the file per session by
``tool_use_id``, the k-th result of an id with its k-th call (earliest unanswered
first: a resumed session that repeats ids still pairs in order). The session is
``sessionId``; ``ts`` the call's event time, ``duration_ms`` the time until its
result; ``seq`` numbers the calls of a session in file order, so calls of one
event keep their order. Events holding no tool call (prompts, replies, results,
summaries) are skipped. Pairing spans the lines read together: a file split into
slices of a million lines pairs within each slice.
"""

from __future__ import annotations

import logging

from chainmine.miner.ingest.conversations import content_text
from chainmine.miner.ingest.records import records_cte, skipped

log = logging.getLogger(__name__)


def claude_code_sql(raw_sql: str) -> str:
    """Pre relation for Claude Code transcript events from a ``(line, raw)`` relation.

    Examples
    --------
    >>> import duckdb
    >>> call = ('{"type": "assistant", "sessionId": "s1", "timestamp": "2024-05-01T10:00:00Z", "message": '
    ...         '{"role": "assistant", "content": [{"type": "tool_use", "id": "tu1", "name": "Bash", '
    ...         '"input": {"command": "ls"}}]}}')
    >>> res = ('{"type": "user", "sessionId": "s1", "timestamp": "2024-05-01T10:00:01.5Z", "message": '
    ...        '{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu1", "is_error": true, '
    ...        '"content": "No such file"}]}}')
    >>> sql = claude_code_sql(f"(SELECT * FROM (VALUES (1, '{call}'), (2, '{res}')) v(line, raw))")
    >>> duckdb.sql(f"SELECT line, tool, success, error, duration_ms, pre_reason FROM ({sql}) ORDER BY line").fetchall()
    [(1, '"Bash"', 'false', '"No such file"', '1500.0', None), (2, None, None, None, None, 'skipped: user event')]
    """
    return f"""
        WITH {records_cte(raw_sql, "json_type(raw, '$.type') = 'VARCHAR'", 'no event type (not a Claude Code event)')},
        events AS (SELECT line, raw, j, j ->> 'sessionId' AS sid,
                          CASE WHEN json_type(j, '$.message.content') = 'ARRAY'
                               THEN json_extract(j, '$.message.content[*]') ELSE [] END AS blocks
                   FROM recs WHERE pre_reason IS NULL),
        blocks AS (SELECT line, j, sid, unnest(blocks) AS b, generate_subscripts(blocks, 1) AS bi FROM events),
        calls AS (SELECT line, bi, j, sid, b, b ->> 'id' AS use_id,
                         row_number() OVER (PARTITION BY sid, b ->> 'id' ORDER BY line, bi) AS k
                  FROM blocks WHERE (b ->> 'type') = 'tool_use'),
        results AS (SELECT sid, b ->> 'tool_use_id' AS use_id, j ->> 'timestamp' AS rts,
                           {content_text("b -> 'content'")} AS rt,
                           coalesce((b ->> 'is_error') = 'true', false) AS is_error,
                           row_number() OVER (PARTITION BY sid, b ->> 'tool_use_id' ORDER BY line, bi) AS k
                    FROM blocks WHERE (b ->> 'type') = 'tool_result')
        SELECT c.line, left(c.b::VARCHAR, 10000) AS raw, NULL AS pre_reason,
               c.j -> 'sessionId' AS session_id, c.j -> 'timestamp' AS ts,
               to_json(row_number() OVER (PARTITION BY c.sid ORDER BY c.line, c.bi)) AS seq,
               c.b -> 'name' AS tool,
               CASE WHEN r.use_id IS NOT NULL THEN to_json(NOT r.is_error) END AS success, NULL::JSON AS status,
               CASE WHEN r.is_error THEN to_json(coalesce(nullif(r.rt, ''), 'error')) END AS error,
               to_json(date_diff('microsecond', try_cast(c.j ->> 'timestamp' AS TIMESTAMPTZ),
                                 try_cast(r.rts AS TIMESTAMPTZ)) / 1000.0) AS duration_ms,
               NULL::JSON AS latency, NULL::JSON AS cost, c.b -> 'input' AS args, to_json(r.rt) AS result,
               to_json(c.use_id) AS call_id, NULL::JSON AS agent, NULL::JSON AS "user", NULL::JSON AS session_outcome
        FROM calls c
        LEFT JOIN results r ON r.sid IS NOT DISTINCT FROM c.sid AND r.use_id = c.use_id AND r.k = c.k
        UNION ALL BY NAME
        SELECT line, left(raw, 10000) AS raw, {skipped("j ->> 'type'", "event")} AS pre_reason
        FROM events WHERE NOT list_contains(list_transform(blocks, lambda x: x ->> 'type'), 'tool_use')
        UNION ALL BY NAME
        SELECT line, left(raw, 10000) AS raw, pre_reason FROM recs WHERE pre_reason IS NOT NULL
    """
