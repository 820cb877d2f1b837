"""MCP client spans (OTLP/JSON lines) of ``tools/call`` requests, unnested in SQL like :mod:`~chainmine.miner.ingest.otel`.

The MCP semantic conventions name a client span ``{mcp.method.name} {target}``
(``tools/call get_weather``) with ``mcp.method.name``, the tool in
``gen_ai.tool.name`` (some instrumentations use ``mcp.tool.name``), the session in
``mcp.session.id``, ``jsonrpc.request.id``, and on failure ``error.type`` (a
JSON-RPC error code, or ``tool_error`` for a result with ``isError``) plus an
``ERROR`` status whose message is the JSON-RPC error message. Arguments and
result are the opt-in ``gen_ai.tool.call.arguments`` / ``.result``. The session is
``mcp.session.id``, else the trace. Other MCP requests (``initialize``,
``tools/list``, ...) and non-MCP spans are skipped. Which files read as ``mcp``
rather than ``otel``: see :mod:`~chainmine.miner.ingest.spans`.
"""

from __future__ import annotations

import logging

from chainmine.miner.ingest.otel import SPANS_PATH, attribute
from chainmine.miner.ingest.records import records_cte, skipped

log = logging.getLogger(__name__)


def mcp_sql(raw_sql: str) -> str:
    """Pre relation for OTLP/JSON lines of MCP client spans.

    Examples
    --------
    >>> import duckdb
    >>> span = ('{"traceId": "t1", "spanId": "s1", "name": "tools/call get_weather", '
    ...         '"startTimeUnixNano": "1714640400000000000", "endTimeUnixNano": "1714640400300000000", '
    ...         '"status": {"code": 2, "message": "city not found"}, "attributes": ['
    ...         '{"key": "mcp.method.name", "value": {"stringValue": "tools/call"}}, '
    ...         '{"key": "mcp.session.id", "value": {"stringValue": "m1"}}, '
    ...         '{"key": "error.type", "value": {"stringValue": "tool_error"}}]}')
    >>> line = '{"resourceSpans": [{"scopeSpans": [{"spans": [' + span + ']}]}]}'
    >>> sql = mcp_sql(f"(SELECT 1 AS line, '{line}' AS raw)")
    >>> duckdb.sql(f"SELECT session_id, tool, success, error, duration_ms FROM ({sql})").fetchall()
    [('"m1"', '"get_weather"', 'false', '"city not found"', '300.0')]
    """
    method = f"({attribute('mcp.method.name')} ->> '$')"
    failed = (f"(coalesce((sp ->> '$.status.code') IN ('2', 'STATUS_CODE_ERROR'), false) "
              f"OR {attribute('error.type')} IS NOT NULL)")
    start, end = "sp ->> 'startTimeUnixNano'", "sp ->> 'endTimeUnixNano'"
    return f"""
        WITH {records_cte(raw_sql, "json_type(raw, '$.resourceSpans') = 'ARRAY'", 'no resourceSpans list')},
        spans AS (SELECT line, unnest(json_extract(j, '{SPANS_PATH}')) AS sp FROM recs WHERE pre_reason IS NULL),
        tools AS (SELECT line, sp, json_extract(sp, '$.attributes[*]') AS attrs FROM spans)
        SELECT line, left(sp::VARCHAR, 10000) AS raw,
               CASE WHEN json_type(sp) <> 'OBJECT' THEN 'span is not a JSON object'
                    WHEN {method} IS NULL THEN {skipped("'non-MCP'", 'span')}
                    WHEN {method} <> 'tools/call' THEN {skipped(method, 'request')} END AS pre_reason,
               coalesce({attribute('mcp.session.id')}, sp -> 'traceId') AS session_id,
               sp -> 'startTimeUnixNano' AS ts, NULL::JSON AS seq,
               coalesce({attribute('gen_ai.tool.name')}, {attribute('mcp.tool.name')},
                        to_json(nullif(regexp_extract(sp ->> 'name', '^tools/call\\s+(.+)$', 1), ''))) AS tool,
               to_json(NOT {failed}) AS success, NULL::JSON AS status,
               CASE WHEN {failed} THEN coalesce(nullif(sp -> '$.status.message', '""'), {attribute('error.type')},
                                                to_json('error')) END AS error,
               to_json((try_cast({end} AS HUGEINT) - try_cast({start} AS HUGEINT)) / 1e6) AS duration_ms,
               NULL::JSON AS latency, NULL::JSON AS cost,
               {attribute('gen_ai.tool.call.arguments')} AS args,
               {attribute('gen_ai.tool.call.result')} AS result,
               coalesce({attribute('gen_ai.tool.call.id')}, sp -> 'spanId') AS call_id,
               NULL::JSON AS agent, NULL::JSON AS "user", NULL::JSON AS session_outcome
        FROM tools
        UNION ALL BY NAME
        SELECT line, left(raw, 10000) AS raw, pre_reason FROM recs WHERE pre_reason IS NOT NULL
    """
