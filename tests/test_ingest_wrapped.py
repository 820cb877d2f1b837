"""Benchmark result files: records wrapping a conversation (traj, trajectory, conversation, history, turns)."""

from __future__ import annotations

import gzip
import json

import pytest

from chainmine.miner.ingest import detect_format, ingest_paths
from chainmine.miner.store import connect


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "t.duckdb")
    yield c
    c.close()


def _openai(n: int, tag: str) -> list:
    msgs = [{"role": "user", "content": "help"}]
    for i in range(n):
        msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": f"tool_{i}", "arguments": json.dumps({"i": i})}}]})
        msgs.append({"role": "tool", "tool_call_id": "call_1", "content": f"{tag}-{i}"})
    return msgs


def _anthropic(n: int, tag: str) -> list:
    msgs = [{"role": "user", "content": "help"}]
    for i in range(n):
        msgs.append({"role": "assistant", "content": [{"type": "tool_use", "id": f"t{i}", "name": f"tool_{i}",
                                                       "input": {"i": i}}]})
        msgs.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}",
                                                  "content": f"{tag}-{i}"}]})
    return msgs


def _write(path, records, container):
    if container == "json":
        text = json.dumps(records)
    else:
        text = "".join(json.dumps(r) + "\n" for r in records)
    data = text.encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


@pytest.mark.parametrize("key", ["traj", "trajectory", "conversation", "messages", "history", "turns"])
@pytest.mark.parametrize("style, fmt", [(_openai, "openai"), (_anthropic, "anthropic")])
@pytest.mark.parametrize("name, container", [("r.json", "json"), ("r.jsonl", "jsonl"), ("r.json.gz", "json")])
def test_wrapped_conversations_are_detected_and_read(con, tmp_path, key, style, fmt, name, container):
    records = [{"task_id": t, "trial": trial, "reward": float(t % 2), "info": {"k": 1}, key: style(2 + t, f"{t}.{trial}")}
               for t in range(3) for trial in range(2)]
    path = tmp_path / name
    _write(path, records, container)
    assert detect_format(path) == fmt
    r = ingest_paths(con, [path])
    assert (r.accepted, r.rejected, r.sessions) == (sum(2 + t for t in range(3)) * 2, 0, 6)
    rows = con.execute("SELECT session_id, seq, tool, result ->> '$', session_outcome FROM calls_v "
                       "ORDER BY session_id, seq").fetchall()
    assert rows[:3] == [("0-0", 0, "tool_0", "0.0-0", 0.0), ("0-0", 1, "tool_1", "0.0-1", 0.0),
                        ("0-1", 0, "tool_0", "0.1-0", 0.0)]
    assert {sid: o for sid, _, _, _, o in rows} == {f"{t}-{k}": float(t % 2) for t in range(3) for k in range(2)}


def test_record_ids_win_over_task_and_trial(con, tmp_path):
    path = tmp_path / "r.jsonl"
    _write(path, [{"id": "run-7", "task_id": 1, "trial": 0, "traj": _openai(1, "x")},
                  {"task_id": 1, "traj": _openai(1, "y")}], "jsonl")
    ingest_paths(con, [path])
    sessions = [s for (s,) in con.execute("SELECT session_id FROM calls_v ORDER BY line").fetchall()]
    assert sessions[0] == "run-7"
    assert sessions[1].startswith("r:")  # no trial: the record is numbered, not merged with other trials


def test_a_named_benchmark_record_is_a_conversation_not_a_canonical_call(con, tmp_path):
    path = tmp_path / "bench.jsonl"
    records = [{"name": f"case {i}", "conversation": [{"role": "user", "content": "hi"},
                                                      {"role": "assistant", "content": "hello"}]} for i in range(3)]
    records.append({"name": "case 9", "conversation": _openai(2, "z")})
    _write(path, records, "jsonl")
    r = ingest_paths(con, [path])
    assert (r.files[0]["format"], r.accepted, r.rejected) == ("openai", 2, 0)


def test_tool_calls_late_in_a_wrapped_file_are_found(con, tmp_path):
    path = tmp_path / "late.json"
    quiet = [{"task_id": i, "trial": 0, "traj": [{"role": "user", "content": "hi"}]} for i in range(60)]
    _write(path, quiet + [{"task_id": 99, "trial": 0, "traj": _anthropic(2, "a")}], "json")
    assert detect_format(path) == "anthropic"
    assert ingest_paths(con, [path]).accepted == 2


def test_a_list_that_holds_no_messages_is_not_the_conversation(con, tmp_path):
    path = tmp_path / "r.jsonl"
    _write(path, [{"task_id": 1, "trial": 0, "history": [1, 2], "turns": _openai(2, "h")}], "jsonl")
    r = ingest_paths(con, [path])
    assert (r.accepted, r.rejected) == (2, 0)
