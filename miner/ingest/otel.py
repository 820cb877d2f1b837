"""OpenTelemetry OTLP/JSON (file exporter) GenAI ``execute_tool`` spans, unnested in SQL.

Each line holds ``{"resourceSpans": [{"scopeSpans": [{"spans": [...]}]}]}``. Tool
spans are those with ``gen_ai.operation.name = execute_tool`` (or, without that
attribute, a span name starting ``execute_tool``); other spans (chat, agent) are not
tool calls and are skipped. Attribute values are OTLP ``AnyValue`` objects
(``{"stringValue": ...}``, ``{"intValue": "42"}``, ...); 64-bit times are decimal
strings of nanoseconds.

Both generations of the GenAI conventions are read. Current ones (1.37 and later)
put the call on the span: ``gen_ai.tool.call.arguments`` / ``gen_ai.tool.call.result``,
as JSON strings or structured (``kvlistValue``, ``arrayValue``). Up to 1.36 the
content travelled in events: a ``gen_ai.tool.message`` span event holds the result
(attribute ``content``, or the event body serialised in ``gen_ai.event.content``)
and the call id (``id``); some instrumentations used ``gen_ai.tool.input`` /
``gen_ai.tool.output`` attributes. Older spans may name the tool only in the span
name, ``execute_tool {name}``. ``gen_ai.tool.call.id`` is the same in both; the
session is ``gen_ai.conversation.id`` (1.37+: a conversation spans traces) when set,
else the trace. On a
failed span an ``exception`` event's ``exception.message`` is the error when
``error.type`` is missing.

A chainmine run's own trace (``chainmine run --trace-file``) is recognised span by
span: instrumentation scope ``chainmine`` and a ``chainmine.run_id`` attribute.
Its calls get ``origin = 'run'`` (mining leaves them out unless ``--include-runs``),
their error is the span's status message (``error.type`` is only the class) and
their cost ``chainmine.cost``; the run itself comes from its ``invoke_workflow``
root span (:mod:`chainmine.miner.ingest.run_traces`). Any other trace's calls are log calls.
"""

from __future__ import annotations

import logging

from chainmine.miner.ingest.sqltext import not_blank

log = logging.getLogger(__name__)

SPANS_PATH = "$.resourceSpans[*].scopeSpans[*].spans[*]"
RUN_SCOPE = "chainmine"
"""Instrumentation scope of the spans ``chainmine run`` emits (:mod:`chainmine.library.runner.tracing`)."""
RUN_ID = "chainmine.run_id"
RUN_COST = "chainmine.cost"


def attribute(key: str, attrs: str = "attrs") -> str:
    """SQL: the JSON value of OTLP attribute ``key`` (first match) in list ``attrs``.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> sql = attribute("gen_ai.tool.name", "json_extract(s, '$.attributes[*]')")
    >>> con.execute(f"SELECT {sql} FROM (SELECT '{{\\"attributes\\": [{{\\"key\\": \\"gen_ai.tool.name\\", "
    ...             f"\\"value\\": {{\\"stringValue\\": \\"search\\"}}}}]}}'::JSON AS s)").fetchone()[0]
    '"search"'
    """
    return any_value(f"list_filter({attrs}, lambda a: (a ->> 'key') = '{key}')[1] -> 'value'")


def any_value(value: str) -> str:
    """SQL: the JSON of an OTLP ``AnyValue`` (scalars; a ``kvlistValue`` as an object, an ``arrayValue`` as a list).

    Nested lists and maps inside a structured value keep one level of decoding each.

    Examples
    --------
    >>> import duckdb
    >>> v = '{"kvlistValue": {"values": [{"key": "id", "value": {"intValue": "7"}}, {"key": "q", "value": {"stringValue": "x"}}]}}'
    >>> duckdb.sql(f"SELECT {any_value(repr(v) + '::JSON')}::VARCHAR").fetchall()[0][0]
    '{"id":7,"q":"x"}'
    """
    def scalar(v: str) -> str:
        return (f"coalesce(({v}) -> 'stringValue', ({v}) -> 'intValue', ({v}) -> 'doubleValue', "
                f"({v}) -> 'boolValue')")

    def inner(v: str) -> str:  # inside a structured value an int is a number again
        return (f"coalesce(({v}) -> 'stringValue', to_json(try_cast(({v}) ->> 'intValue' AS BIGINT)), "
                f"({v}) -> 'doubleValue', ({v}) -> 'boolValue', ({v}) -> '$.kvlistValue', ({v}) -> '$.arrayValue', "
                "'null'::JSON)")

    entry = inner("e -> 'value'")
    pairs = (f"'{{' || array_to_string(list_transform(json_extract(({value}), '$.kvlistValue.values[*]'), "
             f"lambda e: to_json(e ->> 'key')::VARCHAR || ':' || ({entry})::VARCHAR), ',') || '}}'")
    items = (f"'[' || array_to_string(list_transform(json_extract(({value}), '$.arrayValue.values[*]'), "
             f"lambda e: ({inner('e')})::VARCHAR), ',') || ']'")
    return (f"coalesce({scalar(value)}, CASE WHEN json_type(({value}), '$.kvlistValue') IS NOT NULL THEN json({pairs}) "
            f"WHEN json_type(({value}), '$.arrayValue') IS NOT NULL THEN json({items}) END)")


def otel_sql(raw_sql: str) -> str:
    """Pre relation for OTLP/JSON lines of GenAI spans.

    ``gen_ai.conversation.id`` (else ``traceId``) is the session, ``startTimeUnixNano`` the start time, end minus start
    the duration; ``status.code`` 2 (``STATUS_CODE_ERROR``) or an ``error.type``
    attribute marks a failed call. The span id stands in for a missing
    ``gen_ai.tool.call.id`` so distinct spans never collapse as duplicates.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> span = ('{"traceId": "t1", "spanId": "s1", "name": "execute_tool get", "startTimeUnixNano": "1700000000000000000", '
    ...         '"endTimeUnixNano": "1700000000250000000", "status": {"code": 2}, "attributes": ['
    ...         '{"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}}, '
    ...         '{"key": "gen_ai.tool.name", "value": {"stringValue": "get"}}]}')
    >>> line = '{"resourceSpans": [{"scopeSpans": [{"spans": [' + span + ']}]}]}'
    >>> sql = otel_sql(f"(SELECT 1 AS line, '{line}' AS raw)")
    >>> con.execute(f"SELECT session_id, tool, duration_ms, success FROM ({sql})").fetchall()
    [('"t1"', '"get"', '250.0', 'false')]
    """
    op = attribute("gen_ai.operation.name")
    code = "(sp -> '$.status.code')"
    failed = (f"(coalesce(({code} ->> '$') IN ('2', 'STATUS_CODE_ERROR'), false) "
              f"OR {attribute('error.type')} IS NOT NULL)")
    start, end = "sp ->> 'startTimeUnixNano'", "sp ->> 'endTimeUnixNano'"
    is_run = f"(scope = '{RUN_SCOPE}' AND {attribute(RUN_ID)} IS NOT NULL)"
    tool_msg = "list_filter(coalesce(json_extract(sp, '$.events[*]'), []), lambda e: (e ->> 'name') = 'gen_ai.tool.message')[1]"
    exc = "list_filter(coalesce(json_extract(sp, '$.events[*]'), []), lambda e: (e ->> 'name') = 'exception')[1]"
    msg_attrs = f"json_extract({tool_msg}, '$.attributes[*]')"
    body = f"try_cast({attribute('gen_ai.event.content', msg_attrs)} ->> '$' AS JSON)"
    return f"""
        WITH lines AS (
            SELECT line, raw,
                   CASE WHEN NOT json_valid(raw) THEN 'invalid JSON'
                        WHEN json_type(raw) <> 'OBJECT' THEN 'not a JSON object'
                        WHEN json_type(raw, '$.resourceSpans') IS DISTINCT FROM 'ARRAY'
                             THEN 'no resourceSpans list' END AS pre_reason
            FROM {raw_sql} AS r
            WHERE {not_blank('raw')}),
        scopes AS (
            SELECT line, unnest(json_extract(raw, '$.resourceSpans[*].scopeSpans[*]')) AS ss
            FROM lines WHERE pre_reason IS NULL),
        spans AS (
            SELECT line, ss ->> '$.scope.name' AS scope, unnest(json_extract(ss, '$.spans[*]')) AS sp
            FROM scopes),
        tools AS (
            SELECT line, sp, json_extract(sp, '$.attributes[*]') AS attrs, scope FROM spans),
        calls AS (
            SELECT * FROM tools
            WHERE coalesce({op} ->> '$', '') = 'execute_tool'
               OR ({op} IS NULL AND starts_with(sp ->> 'name', 'execute_tool')))
        SELECT line, left(sp::VARCHAR, 10000) AS raw, NULL AS pre_reason,
               coalesce({attribute('gen_ai.conversation.id')}, sp -> 'traceId') AS session_id,
               sp -> 'startTimeUnixNano' AS ts, NULL::JSON AS seq,
               coalesce({attribute('gen_ai.tool.name')},
                        to_json(nullif(regexp_extract(sp ->> 'name', '^execute_tool\\s+(.+)$', 1), ''))) AS tool,
               to_json(NOT {failed}) AS success, NULL::JSON AS status,
               CASE WHEN {failed} AND {is_run} THEN coalesce(nullif(sp -> '$.status.message', '""'),
                                                             {attribute('error.type')})
                    WHEN {failed} THEN coalesce({attribute('error.type')},
                                                {attribute('exception.message', f"json_extract({exc}, '$.attributes[*]')")},
                                                nullif(sp -> '$.status.message', '""'), to_json('error')) END AS error,
               to_json((try_cast({end} AS HUGEINT) - try_cast({start} AS HUGEINT)) / 1e6) AS duration_ms,
               NULL::JSON AS latency, {attribute(RUN_COST)} AS cost,
               coalesce({attribute('gen_ai.tool.call.arguments')}, {attribute('gen_ai.tool.input')}) AS args,
               coalesce({attribute('gen_ai.tool.call.result')}, {attribute('gen_ai.tool.output')},
                        {attribute('content', msg_attrs)}, {body} -> 'content') AS result,
               coalesce({attribute('gen_ai.tool.call.id')}, {attribute('id', msg_attrs)}, {body} -> 'id',
                        sp -> 'spanId') AS call_id,
               {attribute('gen_ai.agent.name')} AS agent, NULL::JSON AS "user",
               NULL::JSON AS session_outcome, CASE WHEN {is_run} THEN 'run' END AS origin
        FROM calls
        UNION ALL BY NAME
        SELECT line, left(raw, 10000) AS raw, pre_reason FROM lines WHERE pre_reason IS NOT NULL
    """
