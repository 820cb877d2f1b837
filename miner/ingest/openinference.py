"""OpenInference (Arize Phoenix) ``TOOL`` spans, from OTLP/JSON or Phoenix's flat span export, in SQL.

Tool spans carry ``openinference.span.kind = TOOL``; other kinds (``LLM``,
``CHAIN``, ``AGENT``, ``RETRIEVER``, ...) are skipped. Two containers:

- OTLP/JSON lines (``resourceSpans``), attributes as OTLP ``AnyValue`` lists,
  unnested like :mod:`~chainmine.miner.ingest.otel` does (one SQL statement, no Python loop);
- Phoenix's span export: JSON Lines of one span each, ``context.trace_id`` /
  ``context.span_id``, ``span_kind``, ``start_time``/``end_time`` (ISO-8601),
  ``status_code`` (``OK``/``ERROR``/``UNSET``), ``status_message`` and
  ``attributes`` as an object, with dotted keys (``"tool.name"``) or nested
  (``{"tool": {"name": ...}}``); both are read. The same spans as a table (CSV or
  Parquet, as Phoenix's spans dataframe is saved) have dotted columns
  (``context.trace_id``, ``attributes.tool.name``), read alike.

Fields: ``tool.name`` (else the span name); arguments from ``input.value`` when it
holds a JSON object, a plain text input as ``{"input": text}``, else
``tool.parameters`` (which some instrumentations fill with the call's arguments,
others with its schema); result ``output.value`` (JSON text parsed); session
``session.id``, else the trace; ``user.id``; call id ``tool_call.id``, else the span id.
"""

from __future__ import annotations

import logging

from chainmine.miner.ingest.otel import SPANS_PATH, attribute
from chainmine.miner.ingest.records import as_json, duration_ms, present, records_cte, skipped

log = logging.getLogger(__name__)


def _flat_attribute(key: str) -> str:
    nested = "$.attributes." + ".".join(f'"{part}"' for part in key.split("."))
    return (f"""coalesce(nullif(j -> '$.attributes."{key}"', 'null'::JSON), nullif(j -> '{nested}', 'null'::JSON), """
            f"""nullif(j -> '$."attributes.{key}"', 'null'::JSON))""")


def _flat_field(key: str) -> str:
    """A span field by its nested path (``context.trace_id``) or, in a dataframe export, its dotted column."""
    return f"""coalesce(j -> '$.{key}', j -> '$."{key}"')"""


def _calls(attr, *, name: str, trace: str, span: str, ts: str, duration: str, failed: str, message: str,
           record: str) -> str:
    """The select list of one TOOL span, given SQL for its attributes (``attr(key)``), the span (``record``) and its fields."""
    inp = as_json(attr("input.value"))
    return f"""
               CASE WHEN json_type({record}) <> 'OBJECT' THEN 'span is not a JSON object'
                    WHEN upper(coalesce({attr('openinference.span.kind')} ->> '$', '')) <> 'TOOL'
                    THEN {skipped(f"{attr('openinference.span.kind')} ->> '$'")} END AS pre_reason,
               coalesce({attr('session.id')}, {trace}) AS session_id, {ts} AS ts, NULL::JSON AS seq,
               coalesce({attr('tool.name')}, {name}) AS tool,
               to_json(NOT {failed}) AS success, NULL::JSON AS status,
               CASE WHEN {failed} THEN to_json(coalesce(nullif({message}, ''), 'error')) END AS error,
               {duration} AS duration_ms, NULL::JSON AS latency, NULL::JSON AS cost,
               CASE WHEN json_type({inp}) = 'OBJECT' THEN {inp}
                    WHEN json_type({inp}) = 'VARCHAR' AND ({inp} ->> '$') <> '' THEN json_object('input', {inp})
                    WHEN json_type({as_json(attr('tool.parameters'))}) = 'OBJECT'
                    THEN {as_json(attr('tool.parameters'))} END AS args,
               {as_json(attr('output.value'))} AS result,
               coalesce({attr('tool_call.id')}, {span}) AS call_id, NULL::JSON AS agent,
               {attr('user.id')} AS "user", NULL::JSON AS session_outcome"""


def openinference_sql(raw_sql: str) -> str:
    """Pre relation for OpenInference spans (OTLP/JSON lines or Phoenix's flat spans, mixed freely).

    Examples
    --------
    >>> import duckdb
    >>> flat = ('{"name": "lookup", "context": {"trace_id": "t1", "span_id": "s1"}, "span_kind": "TOOL", '
    ...         '"start_time": "2024-05-01T10:00:00+00:00", "end_time": "2024-05-01T10:00:00.2+00:00", '
    ...         '"status_code": "ERROR", "status_message": "not found", '
    ...         '"attributes": {"openinference.span.kind": "TOOL", "tool.name": "lookup", '
    ...         '"input.value": "{\\\\"id\\\\": 7}"}}')
    >>> sql = openinference_sql(f"(SELECT 1 AS line, '{flat}' AS raw)")
    >>> duckdb.sql(f"SELECT session_id, tool, success, error, duration_ms, args FROM ({sql})").fetchall()
    [('"t1"', '"lookup"', 'false', '"not found"', '200.0', '{"id":7}')]
    """
    code = "(sp -> '$.status.code')"
    otlp_failed = f"coalesce(({code} ->> '$') IN ('2', 'STATUS_CODE_ERROR'), false)"
    flat_failed = "upper(coalesce(j ->> 'status_code', '')) = 'ERROR'"
    otlp_duration = ("to_json((try_cast(sp ->> 'endTimeUnixNano' AS HUGEINT) - "
                     "try_cast(sp ->> 'startTimeUnixNano' AS HUGEINT)) / 1e6)")
    otlp = _calls(lambda k: attribute(k), name="sp -> 'name'", trace="sp -> 'traceId'", span="sp -> 'spanId'",
                  ts="sp -> 'startTimeUnixNano'", duration=otlp_duration, failed=otlp_failed,
                  message="sp ->> '$.status.message'", record="sp")
    flat = _calls(lambda k: (f"coalesce(nullif(j -> 'span_kind', 'null'::JSON), {_flat_attribute(k)})"
                             if k == "openinference.span.kind" else _flat_attribute(k)),
                  name="j -> 'name'", trace=_flat_field("context.trace_id"), span=_flat_field("context.span_id"),
                  ts="j -> 'start_time'", duration=duration_ms("j ->> 'start_time'", "j ->> 'end_time'"),
                  failed=flat_failed, message="j ->> 'status_message'", record="j")
    check = (f"""json_type(raw, '$.resourceSpans') = 'ARRAY' OR {present('$.context.trace_id')} """
             f"""OR {present('$."context.trace_id"')}""")
    return f"""
        WITH {records_cte(raw_sql, check, 'no resourceSpans and no context.trace_id (not an OpenInference span)')},
        spans AS (SELECT line, unnest(json_extract(j, '{SPANS_PATH}')) AS sp
                  FROM recs WHERE pre_reason IS NULL AND json_type(j, '$.resourceSpans') = 'ARRAY'),
        tools AS (SELECT line, sp, json_extract(sp, '$.attributes[*]') AS attrs FROM spans)
        SELECT line, left(sp::VARCHAR, 10000) AS raw, {otlp}
        FROM tools
        UNION ALL BY NAME
        SELECT line, left(raw, 10000) AS raw, {flat}
        FROM recs WHERE pre_reason IS NULL AND json_type(j, '$.resourceSpans') IS DISTINCT FROM 'ARRAY'
        UNION ALL BY NAME
        SELECT line, left(raw, 10000) AS raw, pre_reason FROM recs WHERE pre_reason IS NOT NULL
    """
