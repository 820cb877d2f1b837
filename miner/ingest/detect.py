"""Detect a log file's container (JSON Lines, JSON document, CSV, Parquet) and format.

Detection peeks at the first records (at most :data:`PEEK_RECORDS` of the first MiB)
and trusts a definite answer there. When the peek is not conclusive (no record it
recognises, or conversations without a single tool call) one DuckDB scan of the whole
file counts the records holding tool calls of each format (:func:`tool_evidence`) and
the format that explains the most wins, so bad leading rows become rejects and late
tool calls are not lost.
"""

from __future__ import annotations

import csv
import json
import logging
import os

import duckdb

from chainmine.miner.errors import IngestError
from chainmine.miner.ingest.conversations import MESSAGE_KEYS, messages_expr
from chainmine.miner.ingest.readers import BUFFER_BYTES, MAX_LINE_BYTES
from chainmine.miner.ingest.records import table_format
from chainmine.miner.ingest.spans import classify_export, classify_otlp, export_evidence
from chainmine.miner.ingest.sources import Source, open_source

log = logging.getLogger(__name__)

FORMATS = ("canonical", "openai", "openai-responses", "anthropic", "otel", "langsmith", "langfuse", "openinference",
           "claude-code", "mcp")
"""Every log format an ingest understands (``--format`` choices besides ``auto``)."""

CONTAINERS = ("jsonl", "json", "csv", "parquet")
PEEK_RECORDS = 50
TOOL_KEYS = ("tool", "tool_name", "name")
_BY_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv",
              ".parquet": "parquet", ".pq": "parquet"}
_RESPONSES_TYPES = ("function_call", "function_call_output")  # tuples: a type may be any JSON value
_ANTHROPIC_TYPES = ("tool_use", "tool_result")


def _text(head: bytes) -> str:
    return head.decode("utf-8", errors="replace").lstrip("\ufeff")


def _complete_lines(text: str, truncated: bool) -> list[str]:
    lines = text.split("\n")
    if truncated and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut off by the peek
    return [ln for ln in lines if ln.strip()]


_BAD = object()


def _decode(text: str, pos: int = 0) -> tuple[object, int]:
    """``raw_decode`` of ``text`` at ``pos``, or ``(_BAD, pos)``: not JSON, or nested too deep for Python."""
    try:
        return json.JSONDecoder().raw_decode(text, pos)
    except (ValueError, RecursionError):
        return _BAD, pos


def _loads(line: str) -> object:
    """The JSON value of ``line``, or ``_BAD`` (DuckDB, which reads any depth, decides about those rows)."""
    stripped = line.strip()
    value, end = _decode(stripped)
    return value if end == len(stripped) else _BAD


def _parses(line: str) -> bool:
    return _loads(line) is not _BAD


def _leading_value(text: str) -> tuple[object, int] | None:
    """The first JSON value in ``text`` and where it ends, or None if it is cut off or bad."""
    stripped = text.lstrip()
    value, end = _decode(stripped)
    if value is _BAD:
        return None
    return value, end + len(text) - len(stripped)


def detect_container(head: bytes, suffixes: list[str], *, truncated: bool = False) -> str | None:
    """Which container a file is: ``jsonl``, ``json``, ``csv``, ``parquet`` or None.

    The name decides for ``.jsonl``/``.ndjson``/``.csv``/``.tsv``/``.parquet``; otherwise
    the content does: a single JSON value spanning the file (or cut off by the peek) is a
    JSON document, mostly one-value-per-line text is JSON Lines, a header naming a tool
    column is CSV.

    Examples
    --------
    >>> detect_container(b'[{"tool": "a"}]', [])
    'json'
    >>> detect_container(b'{"tool": "a"}\\n{"tool": "b"}\\n', [])
    'jsonl'
    >>> detect_container(b'tool,ts\\na,1\\n', [])
    'csv'
    """
    if head.startswith(b"PAR1"):
        return "parquet"
    for suffix in reversed(suffixes):
        if suffix in _BY_SUFFIX:
            return _BY_SUFFIX[suffix]
    text = _text(head)
    first = text.lstrip()[:1]
    if first in ("{", "["):
        leading = _leading_value(text)
        if leading is None:
            lines = _complete_lines(text, truncated)
            good = sum(_parses(ln) for ln in lines[:PEEK_RECORDS])
            return "jsonl" if lines and good * 2 >= min(len(lines), PEEK_RECORDS) else "json"
        value_text = text[:leading[1]]
        rest = text[leading[1]:]
        if not rest.strip() and not truncated:
            return "json"
        gap = rest[:len(rest) - len(rest.lstrip())]
        return "jsonl" if "\n" in gap and "\n" not in value_text.strip() else "json"
    if _csv_header(text) is not None:
        return "csv"
    return None


def _csv_header(text: str) -> list[str] | None:
    line = text.split("\n", 1)[0].strip("\r")
    for delim in [d for d in (",", "\t", ";", "|") if d in line] or [","]:
        fields = [f.strip().lower() for f in next(csv.reader([line], delimiter=delim))]
        if any(f in TOOL_KEYS for f in fields):
            return fields
    return None


def sample_records(head: bytes, container: str, *, truncated: bool = False) -> list:
    """Up to :data:`PEEK_RECORDS` parsed records from the start of a JSON container.

    Examples
    --------
    >>> sample_records(b'[{"a": 1}, {"b": 2}]', "json")
    [{'a': 1}, {'b': 2}]
    """
    text = _text(head)
    if container == "jsonl":
        out = []
        for line in _complete_lines(text, truncated)[:PEEK_RECORDS]:
            value = _loads(line)
            if value is not _BAD:
                out.append(value)
        return out
    leading = _leading_value(text)
    if leading is not None:
        value = leading[0]
        return value[:PEEK_RECORDS] if isinstance(value, list) else [value]
    return _partial_array(text)


def _partial_array(text: str) -> list:
    """Elements of a JSON array (or a run of JSON objects) that the peek cut off."""
    pos = len(text) - len(text.lstrip())
    if text[pos:pos + 1] == "[":
        pos += 1
    out = []
    while len(out) < PEEK_RECORDS:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        value, pos = _decode(text, pos)
        if value is _BAD:
            break
        out.append(value)
    return out


def classify_record(record: object) -> str | None:
    """The format one parsed record belongs to, ``"conversation"`` if unclear, else None.

    Examples
    --------
    >>> classify_record({"tool": "search", "ts": 1})
    'canonical'
    >>> classify_record({"messages": [{"role": "tool", "tool_call_id": "c1", "content": "ok"}]})
    'openai'
    """
    if not isinstance(record, dict):
        return None
    if "resourceSpans" in record:
        return classify_otlp(record)
    export = classify_export(record)
    if export is not None:
        return export
    messages = record.get("messages")
    if isinstance(messages, list):
        return _classify_messages(messages)
    if any(isinstance(record.get(k), str) for k in ("tool", "tool_name")):
        return "canonical"
    wrapped = message_list(record)
    if wrapped is not None:
        return _classify_messages(wrapped)
    items = [record.get("items"), record.get("input"), record.get("output")]
    for seq in items:
        if isinstance(seq, list) and any(isinstance(i, dict) and i.get("type") in _RESPONSES_TYPES for i in seq):
            return "openai-responses"
    if isinstance(record.get("name"), str):
        return "canonical"
    return None


def message_list(record: dict) -> list | None:
    """The message list of a conversation record: ``messages``, else the first of
    :data:`~chainmine.miner.ingest.conversations.MESSAGE_KEYS` holding a list of role messages.

    Examples
    --------
    >>> message_list({"task_id": 3, "traj": [{"role": "user", "content": "hi"}]})
    [{'role': 'user', 'content': 'hi'}]
    >>> message_list({"turns": [1, 2]}) is None
    True
    """
    if isinstance(record.get("messages"), list):
        return record["messages"]
    for key in MESSAGE_KEYS:
        value = record.get(key)
        if isinstance(value, list) and any(isinstance(m, dict) and "role" in m for m in value):
            return value
    return None


def _classify_messages(messages: list) -> str:
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        if "tool_calls" in msg or msg.get("role") == "tool":
            return "openai"
        content = msg.get("content")
        if isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") in _ANTHROPIC_TYPES for b in content):
            return "anthropic"
    return "conversation"


def classify_records(records: list) -> str | None:
    """The format of a file from its first records (first definite answer wins).

    Conversations without any tool call in the sample are read as Anthropic when
    their contents are block lists, else as OpenAI Chat (a guess: see :func:`definite`).

    Examples
    --------
    >>> classify_records([{"messages": [{"role": "user", "content": "hi"}]}])
    'openai'
    """
    fmt = definite(records)
    if fmt is not None:
        return fmt
    if not any(classify_record(r) == "conversation" for r in records):
        return None
    return _conversation_shape(records)


def definite(records: list) -> str | None:
    """The first format a record of ``records`` proves, or None (none recognised, or only tool-less conversations).

    Examples
    --------
    >>> definite([{"messages": [{"role": "user", "content": "hi"}]}, {"tool": "a", "seq": 1}])
    'canonical'
    >>> definite([{"messages": [{"role": "user", "content": "hi"}]}]) is None
    True
    """
    for record in records:
        kind = classify_record(record)
        if kind not in (None, "conversation"):
            return kind
    return None


def _conversation_shape(records: list) -> str:
    blocks = any(isinstance(m, dict) and isinstance(m.get("content"), list)
                 for r in records if isinstance(r, dict)
                 for m in message_list(r) or [])
    return "anthropic" if blocks else "openai"


# Per format, an SQL predicate on one record ``j`` (JSON): it holds that format's tool calls.
_MSGS = messages_expr("j")
_EVIDENCE = {
    "canonical": ("json_type(j, '$.messages') IS NULL AND json_type(j, '$.resourceSpans') IS NULL AND "
                  "json_type(j, '$.run_type') IS NULL AND json_type(j, '$.traceId') IS NULL AND "
                  "json_type(j, '$.sessionId') IS NULL AND json_type(j, '$.context.trace_id') IS NULL AND "
                  "json_type(j, '$.\"context.trace_id\"') IS NULL AND "
                  "(json_type(j, '$.tool') = 'VARCHAR' OR json_type(j, '$.tool_name') = 'VARCHAR' "
                  f"OR (json_type(j, '$.name') = 'VARCHAR' AND {_MSGS} IS NULL))"),
    "openai": (f"coalesce(list_bool_or(list_transform(json_extract({_MSGS}, '$[*].tool_calls'), "
               "lambda c: json_array_length(c) > 0)), false) "
               f"OR coalesce(list_contains(json_extract_string({_MSGS}, '$[*].role'), 'tool'), false)"),
    "openai-responses": ("list_has_any(list_concat(coalesce(json_extract_string(j, '$.items[*].type'), []), "
                         "coalesce(json_extract_string(j, '$.input[*].type'), []), "
                         "coalesce(json_extract_string(j, '$.output[*].type'), [])), "
                         "['function_call', 'function_call_output'])"),
    "anthropic": (f"list_has_any(coalesce(json_extract_string({_MSGS}, '$[*].content[*].type'), []), "
                  "['tool_use', 'tool_result'])"),
    **export_evidence(),
}


def tool_evidence(src: Source, container: str) -> dict[str, int]:
    """Records of the whole file (a JSON container) holding tool calls, per format.

    One DuckDB scan in a connection of its own; unreadable records count for
    nothing (the ingest rejects them), and a file DuckDB cannot read at all gives
    no evidence (the ingest then fails with the reason).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> p = Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = p.write_text('nope\\n{"tool": "a", "seq": 1}\\n{"resourceSpans": []}\\n')
    >>> tool_evidence(open_source(p), "jsonl")
    {'canonical': 1, 'openai': 0, 'openai-responses': 0, 'anthropic': 0, 'otel': 1, 'langsmith': 0, 'langfuse': 0, 'openinference': 0, 'claude-code': 0, 'mcp': 0}
    """
    if container == "jsonl":
        records = (f"""(SELECT try_cast(raw AS JSON) AS j
                       FROM read_csv($path, columns = {{'raw': 'VARCHAR'}}, delim = chr(1114111), quote = '',
                                     escape = '', header = false, auto_detect = false, ignore_errors = true,
                                     compression = '{src.compression}', max_line_size = {MAX_LINE_BYTES},
                                     buffer_size = {BUFFER_BYTES}))""")
    else:
        records = (f"""(SELECT json AS j FROM read_json_objects($path, format = 'auto', compression = '{src.compression}',
                                                              maximum_object_size = {MAX_LINE_BYTES}))""")
    counts = ", ".join(f"count(*) FILTER (WHERE {cond})" for cond in _EVIDENCE.values())
    con = duckdb.connect()
    try:
        row = con.execute(f"SELECT {counts} FROM {records} WHERE j IS NOT NULL", {"path": str(src.local)}).fetchone()
    except duckdb.Error as exc:
        log.debug("no format evidence from %s: %s", src.path, exc)
        row = (0,) * len(_EVIDENCE)
    finally:
        con.close()
    return dict(zip(_EVIDENCE, row))


def best_evidence(counts: dict[str, int]) -> str | None:
    """The format with the most records holding its tool calls (earlier in :data:`FORMATS` on a tie), or None.

    Examples
    --------
    >>> best_evidence({"anthropic": 0, "openai": 3, "canonical": 3}), best_evidence({"otel": 0})
    ('canonical', None)
    """
    ranked = sorted((-n, FORMATS.index(f), f) for f, n in counts.items() if n > 0)
    return ranked[0][2] if ranked else None


def detect(head: bytes, suffixes: list[str], *, truncated: bool = False) -> tuple[str, str | None]:
    """``(container, format)`` of a file from its head; format None when unknown.

    Examples
    --------
    >>> detect(b'{"resourceSpans": []}\\n', [".jsonl"])
    ('jsonl', 'otel')
    """
    container = detect_container(head, suffixes, truncated=truncated)
    if container == "csv":
        return container, table_format(_csv_header(_text(head)) or [])
    if container == "parquet":
        return container, "canonical"
    if container is None:
        return "jsonl", None
    return container, classify_records(sample_records(head, container, truncated=truncated))


def detect_source(src: Source) -> tuple[str, str | None]:
    """``(container, format)`` of a source: from its head when that is conclusive, else from the whole file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> p = Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = p.write_text('{"seq": 1}\\n' * 60 + '{"tool": "a", "seq": 1}\\n')
    >>> detect(open_source(p).head, [".jsonl"]), detect_source(open_source(p))
    (('jsonl', None), ('jsonl', 'canonical'))
    """
    container = detect_container(src.head, src.suffixes, truncated=src.truncated)
    if container in ("csv", "parquet"):
        return container, table_format(_table_columns(src, container))
    records = sample_records(src.head, container or "jsonl", truncated=src.truncated)
    fmt = definite(records)
    if fmt is not None:
        return container or "jsonl", fmt
    container = container or "jsonl"
    found = best_evidence(tool_evidence(src, container))
    if found is not None:
        log.info("%s: no tool call in the first records; the whole file reads as %s", src.path, found)
        return container, found
    return container, classify_records(records)


def _table_columns(src: Source, container: str) -> list[str]:
    """Column names of a CSV/Parquet source (none when DuckDB cannot tell: the ingest then says why)."""
    reader = "read_parquet($path)" if container == "parquet" else \
        f"read_csv($path, header = true, all_varchar = true, compression = '{src.compression}')"
    con = duckdb.connect()
    try:
        return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader}", {"path": str(src.local)}).fetchall()]
    except duckdb.Error as exc:
        log.debug("no columns from %s: %s", src.path, exc)
        return []
    finally:
        con.close()


def detect_format(path_or_bytes: str | os.PathLike | bytes) -> str:
    """The log format of a file (path, ``.gz`` accepted; see :func:`detect_source`) or of its first bytes.

    Returns one of :data:`FORMATS`; raises :class:`~chainmine.miner.errors.IngestError` when
    the content matches none.

    Examples
    --------
    >>> detect_format(b'{"session_id": "s1", "tool": "search", "ts": 1700000000}\\n')
    'canonical'
    >>> detect_format(b'[{"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]}]}]')
    'anthropic'
    """
    if isinstance(path_or_bytes, (bytes, bytearray)):
        name = "input"
        _, fmt = detect(bytes(path_or_bytes), [])
    else:
        src = open_source(path_or_bytes)
        name = src.path
        _, fmt = detect_source(src)
    if fmt is None:
        raise IngestError(unknown_format_message(name))
    return fmt


def unknown_format_message(name: str) -> str:
    """The one-line error for a file in no known format.

    Examples
    --------
    >>> unknown_format_message("x.txt")[:40]
    'x.txt is not in a known log format (cano'
    """
    return (f"{name} is not in a known log format (canonical JSONL/JSON/CSV/Parquet, "
            f"{', '.join(FORMATS[1:])}); check the file or pass --format")


def looks_like(src: Source, container: str) -> str | None:
    """The format a file's content suggests (its tool calls first, else its first records), or None.

    Used to tell the user what a file whose every record was rejected seems to be.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> p = Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = p.write_text('{"traj": [{"role": "user", "content": "hi"}]}\\n')
    >>> looks_like(open_source(p), "jsonl")
    'openai'
    """
    if container in ("csv", "parquet"):
        return "canonical"
    found = best_evidence(tool_evidence(src, container))
    if found is not None:
        return found
    return classify_records(sample_records(src.head, container, truncated=src.truncated))
