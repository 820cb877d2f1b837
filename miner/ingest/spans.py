"""Which tracing export a record comes from: OTLP span conventions, run and observation exports.

OTLP/JSON lines (``resourceSpans``) carry three conventions for tool calls: GenAI
``execute_tool`` spans (``otel``), OpenInference ``TOOL`` spans (``openinference``)
and MCP client ``tools/call`` spans (``mcp``). MCP spans of a tool call are
"compatible with" and often nested in a GenAI ``execute_tool`` span, so a record
is read as ``mcp`` only when it holds MCP tool calls and no other ``execute_tool``
span: a trace with both is GenAI, each call read once. Exports of one record per
line are told apart by their keys: LangSmith runs (``run_type``), Langfuse
observations (``traceId`` + ``type``), Claude Code transcripts (``sessionId`` +
``uuid``/``message``) and Phoenix's flat spans (``context.trace_id``).
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

log = logging.getLogger(__name__)

OPENINFERENCE_KIND = "openinference.span.kind"
MCP_METHOD = "mcp.method.name"


def _items(obj: Any, key: str) -> list:
    """``obj[key]`` when obj is an object and that is a list, else nothing: sniffing never trusts shapes."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def _spans(record: dict) -> Iterator[dict]:
    for rs in _items(record, "resourceSpans"):
        for ss in _items(rs, "scopeSpans"):
            for span in _items(ss, "spans"):
                if isinstance(span, dict):
                    yield span


def _attributes(span: dict) -> dict:
    out = {}
    for a in _items(span, "attributes"):
        if isinstance(a, dict) and isinstance(a.get("key"), str) and isinstance(a.get("value"), dict):
            out[a["key"]] = next(iter(a["value"].values()), None)
    return out


def classify_otlp(record: dict) -> str:
    """``otel``, ``openinference`` or ``mcp``: the convention an OTLP/JSON record's tool spans follow.

    Examples
    --------
    >>> def span(name, **attrs):
    ...     return {"name": name, "attributes": [{"key": k.replace("_", "."), "value": {"stringValue": v}}
    ...                                          for k, v in attrs.items()]}
    >>> line = lambda *spans: {"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}
    >>> classify_otlp(line(span("tools/call get", mcp_method_name="tools/call")))
    'mcp'
    >>> classify_otlp(line(span("execute_tool get"), span("tools/call get", mcp_method_name="tools/call")))
    'otel'
    >>> classify_otlp({"resourceSpans": []})
    'otel'
    """
    mcp, genai = False, False
    for span in _spans(record):
        attrs = _attributes(span)
        if OPENINFERENCE_KIND in attrs:
            return "openinference"
        if attrs.get(MCP_METHOD) == "tools/call":
            mcp = True
        elif attrs.get("gen_ai.operation.name") == "execute_tool" or str(span.get("name", "")).startswith(
                "execute_tool"):
            genai = True
    return "mcp" if mcp and not genai else "otel"


def classify_export(record: dict) -> str | None:
    """The one-record-per-span/run export a record belongs to, or None.

    Examples
    --------
    >>> classify_export({"id": "r", "run_type": "llm", "trace_id": "t"})
    'langsmith'
    >>> classify_export({"id": "o", "traceId": "t", "type": "TOOL"})
    'langfuse'
    >>> classify_export({"type": "user", "sessionId": "s", "uuid": "u"})
    'claude-code'
    >>> classify_export({"name": "f", "context": {"trace_id": "t", "span_id": "s"}})
    'openinference'
    >>> classify_export({"tool": "a"}) is None
    True
    """
    if "run_type" in record:
        return "langsmith"
    if "traceId" in record and "type" in record:
        return "langfuse"
    if "sessionId" in record and ("uuid" in record or "message" in record):
        return "claude-code"
    context = record.get("context")
    if (isinstance(context, dict) and "trace_id" in context) or "context.trace_id" in record:
        return "openinference"
    return None


_OTLP = "json_type(j, '$.resourceSpans') = 'ARRAY'"
_OI = "contains(j::VARCHAR, '\"openinference.span.kind\"')"
_MCP = "(contains(j::VARCHAR, '\"mcp.method.name\"') AND NOT contains(j::VARCHAR, '\"execute_tool '))"


def export_evidence() -> dict[str, str]:
    """Per format, an SQL predicate on a record ``j`` (JSON): it holds that format's tool calls.

    Examples
    --------
    >>> import duckdb
    >>> ev = export_evidence()
    >>> duckdb.sql(f"SELECT {ev['langsmith']}, {ev['otel']} FROM (SELECT '{{\\"run_type\\": \\"tool\\"}}'::JSON AS j)").fetchall()
    [(True, False)]
    """
    preds = {
        "otel": f"{_OTLP} AND NOT {_OI} AND NOT {_MCP}",
        "langsmith": "(j ->> 'run_type') = 'tool'",
        "langfuse": "json_type(j, '$.traceId') IS NOT NULL AND (j ->> 'type') IN ('TOOL', 'SPAN')",
        "openinference": (f"({_OTLP} AND {_OI} AND contains(j::VARCHAR, '\"TOOL\"')) OR "
                          "(coalesce(json_type(j, '$.context.trace_id'), json_type(j, '$.\"context.trace_id\"')) "
                          "IS NOT NULL AND contains(j::VARCHAR, '\"TOOL\"'))"),
        "claude-code": ("json_type(j, '$.sessionId') IS NOT NULL AND "
                        "list_contains(coalesce(json_extract_string(j, '$.message.content[*].type'), []), 'tool_use')"),
        "mcp": f"{_OTLP} AND NOT {_OI} AND {_MCP} AND contains(j::VARCHAR, 'tools/call')",
    }
    return {fmt: f"coalesce(({pred}), false)" for fmt, pred in preds.items()}
