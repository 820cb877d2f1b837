"""Detect a log file's container (JSON Lines, JSON document, CSV, Parquet) and format.

Detection peeks at the first records only (at most :data:`PEEK_RECORDS` of the first
MiB); the data itself is read by DuckDB afterwards.
"""

from __future__ import annotations

import csv
import json
import logging
import os

from miner.errors import IngestError
from miner.ingest.sources import open_source

log = logging.getLogger(__name__)

FORMATS = ("canonical", "openai", "openai-responses", "anthropic", "otel")
"""Every log format an ingest understands (``--format`` choices besides ``auto``)."""

CONTAINERS = ("jsonl", "json", "csv", "parquet")
PEEK_RECORDS = 50
TOOL_KEYS = ("tool", "tool_name", "name")
_BY_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv",
              ".parquet": "parquet", ".pq": "parquet"}
_RESPONSES_TYPES = {"function_call", "function_call_output"}
_ANTHROPIC_TYPES = {"tool_use", "tool_result"}


def _text(head: bytes) -> str:
    return head.decode("utf-8", errors="replace").lstrip("\ufeff")


def _complete_lines(text: str, truncated: bool) -> list[str]:
    lines = text.split("\n")
    if truncated and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut off by the peek
    return [ln for ln in lines if ln.strip()]


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _leading_value(text: str) -> tuple[object, int] | None:
    """The first JSON value in ``text`` and where it ends, or None if it is cut off or bad."""
    stripped = text.lstrip()
    try:
        value, end = json.JSONDecoder().raw_decode(stripped)
    except ValueError:
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
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out
    leading = _leading_value(text)
    if leading is not None:
        value = leading[0]
        return value[:PEEK_RECORDS] if isinstance(value, list) else [value]
    return _partial_array(text)


def _partial_array(text: str) -> list:
    """Elements of a JSON array (or a run of JSON objects) that the peek cut off."""
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if text[pos:pos + 1] == "[":
        pos += 1
    out = []
    while len(out) < PEEK_RECORDS:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError:
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
        return "otel"
    messages = record.get("messages")
    if isinstance(messages, list):
        return _classify_messages(messages)
    if any(isinstance(record.get(k), str) for k in ("tool", "tool_name")):
        return "canonical"
    items = [record.get("items"), record.get("input"), record.get("output")]
    for seq in items:
        if isinstance(seq, list) and any(isinstance(i, dict) and i.get("type") in _RESPONSES_TYPES for i in seq):
            return "openai-responses"
    if isinstance(record.get("name"), str):
        return "canonical"
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
    their contents are block lists, else as OpenAI Chat.

    Examples
    --------
    >>> classify_records([{"messages": [{"role": "user", "content": "hi"}]}])
    'openai'
    """
    unclear = False
    for record in records:
        kind = classify_record(record)
        if kind == "conversation":
            unclear = True
        elif kind is not None:
            return kind
    if not unclear:
        return None
    blocks = any(isinstance(m, dict) and isinstance(m.get("content"), list)
                 for r in records if isinstance(r, dict) and isinstance(r.get("messages"), list)
                 for m in r["messages"])
    return "anthropic" if blocks else "openai"


def detect(head: bytes, suffixes: list[str], *, truncated: bool = False) -> tuple[str, str | None]:
    """``(container, format)`` of a file from its head; format None when unknown.

    Examples
    --------
    >>> detect(b'{"resourceSpans": []}\\n', [".jsonl"])
    ('jsonl', 'otel')
    """
    container = detect_container(head, suffixes, truncated=truncated)
    if container in ("csv", "parquet"):
        return container, "canonical"
    if container is None:
        return "jsonl", None
    return container, classify_records(sample_records(head, container, truncated=truncated))


def detect_format(path_or_bytes: str | os.PathLike | bytes) -> str:
    """The log format of a file (path, ``.gz`` accepted) or of its first bytes.

    Returns one of :data:`FORMATS`; raises :class:`~miner.errors.IngestError` when
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
        _, fmt = detect(src.head, src.suffixes, truncated=src.truncated)
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
    return (f"{name} is not in a known log format (canonical JSONL/JSON/CSV/Parquet, openai, "
            f"openai-responses, anthropic, otel); check the file or pass --format")
