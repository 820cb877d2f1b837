"""Langfuse observation exports (JSON Lines, JSON, CSV, Parquet): tool observations, in SQL.

An observation export holds one record per observation: ``id``, ``traceId``,
``type``, ``name``, ``startTime``/``endTime``, ``input``, ``output``, ``level``
(``DEBUG``/``DEFAULT``/``WARNING``/``ERROR``), ``statusMessage``,
``parentObservationId`` and costs (``calculatedTotalCost``, ``totalCost`` or
``costDetails.total``). The trace is the session.

Which observations are tool calls: those of ``type: "TOOL"``. Exports from before
Langfuse had that type record tools as ``SPAN``s; when a file (each slice of a
million lines of a big one) holds no ``TOOL`` observation at all, its *nested*
spans (those with a ``parentObservationId``) are read as tool calls, the root span
of each trace being the agent run itself. Everything else (``GENERATION``,
``EVENT``, ``AGENT``, ``CHAIN``, ...) is skipped. ``level: "ERROR"`` marks a failed
call, ``statusMessage`` its error. An ``input`` that is no JSON object (a string, a
list) becomes ``{"input": value}``; the ``{"args": [], "kwargs": {...}}`` shape of
the Python decorator gives its ``kwargs``.
"""

from __future__ import annotations

import logging

from chainmine.miner.ingest.records import as_json, duration_ms, present, records_cte, skipped

log = logging.getLogger(__name__)


def langfuse_sql(raw_sql: str) -> str:
    """Pre relation for Langfuse observations from a ``(line, raw)`` relation of JSON records.

    Examples
    --------
    >>> import duckdb
    >>> obs = ('{"id": "o1", "traceId": "t1", "type": "TOOL", "name": "lookup", "level": "ERROR", '
    ...        '"statusMessage": "404", "startTime": "2024-05-01T10:00:00Z", "input": "ABC"}')
    >>> gen = '{"id": "o2", "traceId": "t1", "type": "GENERATION", "name": "gpt"}'
    >>> sql = langfuse_sql(f"(SELECT * FROM (VALUES (1, '{obs}'), (2, '{gen}')) v(line, raw))")
    >>> duckdb.sql(f"SELECT line, tool, success, error, args, pre_reason FROM ({sql}) ORDER BY line").fetchall()
    [(1, '"lookup"', 'false', '"404"', '{"input":"ABC"}', None), (2, '"gpt"', 'true', None, None, 'skipped: generation run')]
    """
    failed = "upper(coalesce(j ->> 'level', '')) = 'ERROR'"
    kind = "upper(j ->> 'type')"
    tool = (f"({kind} = 'TOOL' OR ({kind} = 'SPAN' AND NOT any_tool "
            "AND coalesce(j ->> 'parentObservationId', '') NOT IN ('', 'null')))")
    return f"""
        WITH {records_cte(raw_sql, f"{present('$.traceId')} AND {present('$.type')}",
                          'no traceId and type (not a Langfuse observation)')},
        obs AS (SELECT line, raw, j, {as_json("j -> 'input'")} AS inp,
                       bool_or({kind} = 'TOOL') OVER () AS any_tool
                FROM recs WHERE pre_reason IS NULL)
        SELECT line, left(raw, 10000) AS raw,
               CASE WHEN NOT {tool} THEN {skipped(f"j ->> 'type'")} END AS pre_reason,
               j -> 'traceId' AS session_id, j -> 'startTime' AS ts, NULL::JSON AS seq,
               j -> 'name' AS tool,
               to_json(NOT {failed}) AS success, NULL::JSON AS status,
               CASE WHEN {failed} THEN to_json(coalesce(nullif(j ->> 'statusMessage', ''), 'error')) END AS error,
               {duration_ms("j ->> 'startTime'", "j ->> 'endTime'")} AS duration_ms, NULL::JSON AS latency,
               nullif(coalesce(nullif(j -> 'calculatedTotalCost', 'null'::JSON), nullif(j -> 'totalCost', 'null'::JSON),
                               j -> '$.costDetails.total'), 'null'::JSON) AS cost,
               CASE WHEN inp IS NULL OR json_type(inp) = 'NULL' THEN NULL
                    WHEN json_type(inp) = 'OBJECT' AND json_type(inp, '$.kwargs') = 'OBJECT'
                         AND coalesce(json_array_length(inp, '$.args'), 0) = 0 THEN inp -> 'kwargs'
                    WHEN json_type(inp) = 'OBJECT' THEN inp
                    ELSE json_object('input', inp) END AS args,
               {as_json("j -> 'output'")} AS result,
               j -> 'id' AS call_id, NULL::JSON AS agent, j -> 'userId' AS "user", NULL::JSON AS session_outcome
        FROM obs
        UNION ALL BY NAME
        SELECT line, left(raw, 10000) AS raw, pre_reason FROM recs WHERE pre_reason IS NOT NULL
    """
