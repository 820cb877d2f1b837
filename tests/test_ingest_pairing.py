"""Tool results pair with the call that asked for them, whatever the call ids (chainmine.miner.ingest.pairing)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from chainmine.miner.ingest import ingest_paths
from chainmine.miner.ingest.pairing import AMBIGUOUS, BEFORE_ANY_CALL, NO_CALL
from chainmine.miner.store import connect

DATA = Path(__file__).resolve().parent / "data"
TAU_SLICE = DATA / "tau_airline_gpt4o_slice.json.gz"
TAU_FULL = Path("/work/shared/real-logs/tau_airline/gpt-4o-airline.json.gz")


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "t.duckdb")
    yield c
    c.close()


def _chat(turns):
    """An OpenAI Chat conversation: each turn ``(calls, results)`` of ``(id, name)`` / ``(id, text)``."""
    msgs = [{"role": "user", "content": "go"}]
    for calls, results in turns:
        msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": n, "arguments": "{}"}, **({"id": i} if i else {})}
            for i, n in calls]})
        msgs += [{"role": "tool", "content": t, **({"tool_call_id": i} if i else {})} for i, t in results]
    return {"id": "c", "messages": msgs}


def _claude(turns):
    msgs = [{"role": "user", "content": "go"}]
    for calls, results in turns:
        msgs.append({"role": "assistant", "content": [
            {"type": "tool_use", "name": n, "input": {}, **({"id": i} if i else {})} for i, n in calls]})
        msgs.append({"role": "user", "content": [
            {"type": "tool_result", "content": t, "is_error": t.startswith("Error"), **({"tool_use_id": i} if i else {})}
            for i, t in results]})
    return {"id": "c", "messages": msgs}


def _responses(turns):
    items = [{"type": "message", "role": "user", "content": "go"}]
    for calls, results in turns:
        items += [{"type": "function_call", "name": n, "arguments": "{}", **({"call_id": i} if i else {})}
                  for i, n in calls]
        items += [{"type": "function_call_output", "output": t, **({"call_id": i} if i else {})} for i, t in results]
        items.append({"type": "message", "role": "assistant", "content": "next"})
    return {"id": "c", "items": items}


CASES = {
    # name: (turns, expected results in call order, rejected reasons, paired by position)
    "id reused in a later turn": ([([("k", "a")], [("k", "A")]), ([("k", "b")], [("k", "Error: B")])],
                                  ["A", "Error: B"], [], 0),
    "parallel calls answered out of order": ([([("x", "a"), ("y", "b")], [("y", "B"), ("x", "A")])],
                                             ["A", "B"], [], 0),
    "id reused inside one turn": ([([("k", "a"), ("k", "b")], [("k", "A"), ("k", "B")])], ["A", "B"], [], 2),
    "results without ids": ([([("x", "a"), ("y", "b")], [(None, "A"), (None, "B")])], ["A", "B"], [], 2),
    "calls without ids": ([([(None, "a")], [("q", "A")]), ([(None, "b")], [("q", "B")])], ["A", "B"], [], 2),
    "unanswered call": ([([("k", "a")], []), ([("k", "b")], [("k", "B")])], [None, "B"], [], 0),
    "result for no call": ([([("x", "a")], [("x", "A"), ("z", "Z")])], ["A"], [NO_CALL], 0),
    "two results for one call": ([([("x", "a")], [("x", "A"), ("x", "A2")])], [None], [AMBIGUOUS, AMBIGUOUS], 0),
    "more results than calls": ([([("x", "a"), (None, "b")], [("x", "A"), (None, "B"), (None, "C")])],
                                ["A", None], [AMBIGUOUS, AMBIGUOUS], 0),
}


@pytest.mark.parametrize("build, fmt", [(_chat, "openai"), (_claude, "anthropic"), (_responses, "openai-responses")])
@pytest.mark.parametrize("case", list(CASES))
def test_results_pair_with_their_own_call(con, tmp_path, build, fmt, case):
    turns, expected, reasons, by_position = CASES[case]
    path = tmp_path / "conv.jsonl"
    path.write_text(json.dumps(build(turns)) + "\n")
    report = ingest_paths(con, [path], format=fmt)
    got = [r for (r,) in con.execute("SELECT result ->> '$' FROM calls_v ORDER BY seq").fetchall()]
    assert got == expected
    success = [s for (s,) in con.execute("SELECT success FROM calls_v ORDER BY seq").fetchall()]
    assert success == [not (r or "").startswith("Error") for r in expected]
    assert sorted(r for (r,) in con.execute("SELECT reason FROM rejects").fetchall()) == sorted(reasons)
    assert report.paired_by_position == by_position
    assert report.to_dict()["paired_by_position"] == by_position


def test_a_result_before_any_call_is_rejected(con, tmp_path):
    conv = {"messages": [{"role": "tool", "tool_call_id": "k", "content": "early"},
                         {"role": "assistant", "tool_calls": [{"id": "k", "function": {"name": "f", "arguments": "{}"}}]},
                         {"role": "tool", "tool_call_id": "k", "content": "ok"}]}
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(conv) + "\n")
    r = ingest_paths(con, [path])
    assert (r.accepted, r.rejected) == (1, 1)
    assert con.execute("SELECT result ->> '$' FROM calls_v").fetchone()[0] == "ok"
    assert con.execute("SELECT reason FROM rejects").fetchone()[0] == BEFORE_ANY_CALL


def _answers(traj):
    """Each call of a τ-bench trajectory with the tool message answering it, by position."""
    calls, pending = [], []
    for m in traj:
        for tc in m.get("tool_calls") or []:
            calls.append([tc["function"]["name"], None])
            pending.append(calls[-1])
        if m.get("role") == "tool":
            pending.pop(0)[1] = m["content"]
    return calls


def _value(text):
    """A tool message's text as the store keeps it: JSON objects and lists parsed, anything else as text."""
    if text.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _check_tau(con, path):
    report = ingest_paths(con, [path])
    records = json.loads(gzip.open(path, "rt").read())
    assert report.files[0]["format"] == "openai"
    assert report.rejected == 0
    stored = con.execute("SELECT session_id, tool, result::VARCHAR, success, session_outcome FROM calls_v "
                         "ORDER BY session_id, seq").fetchall()
    by_session: dict[str, list] = {}
    for sid, tool, result, success, outcome in stored:
        by_session.setdefault(sid, []).append((tool, json.loads(result), success, outcome))
    compared = 0
    for rec in records:
        expected = _answers(rec["traj"])
        got = by_session.get(f"{rec['task_id']}-{rec['trial']}", [])
        assert [(t, r) for t, r, _, _ in got] == [(t, _value(r)) for t, r in expected]
        assert [s for _, _, s, _ in got] == [not r.startswith("Error") for _, r in expected]
        assert all(o == rec["reward"] for _, _, _, o in got)
        compared += len(expected)
    assert compared == report.accepted
    return report


def test_tau_bench_slice_with_reused_call_ids_pairs_every_result(con):
    records = json.loads(gzip.open(TAU_SLICE, "rt").read())
    ids = [tc["id"] for m in records[0]["traj"] for tc in m.get("tool_calls") or []]
    assert len(ids) > len(set(ids))  # the slice does hold reused ids
    report = _check_tau(con, TAU_SLICE)
    assert report.accepted == 91 and report.sessions == 8


@pytest.mark.skipif(not TAU_FULL.exists(), reason="real τ-bench log not on this machine")
def test_tau_bench_full_log(con):
    report = _check_tau(con, TAU_FULL)
    assert report.accepted == 1164


def test_the_cli_shows_pairings_by_position(tmp_path):
    from click.testing import CliRunner

    from chainmine.miner.cli import cli

    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(_chat(CASES["results without ids"][0])) + "\n")
    db = tmp_path / "t.duckdb"
    human = CliRunner().invoke(cli, ["ingest", str(path), "--db", str(db)])
    assert human.exit_code == 0, human.output
    assert "results paired by position (reused or missing call ids): 2" in human.stdout
    data = json.loads(CliRunner().invoke(cli, ["ingest", str(path), "--db", str(db), "--json"]).stdout)
    assert (data["paired_by_position"], data["files"][0]["paired_by_position"], data["duplicates"]) == (2, 2, 2)


def test_each_call_keeps_what_was_said_since_the_call_before_it(tmp_path):
    from click.testing import CliRunner

    from chainmine.miner.cli import cli
    conv = {"id": "c1", "messages": [
        {"role": "system", "content": "Policy: never reveal SECRET-POLICY"},
        {"role": "user", "content": "Hi, my user id is mia_li_3668"},
        {"role": "assistant", "content": "Looking you up.", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "get_user", "arguments": "{\"id\": \"mia_li_3668\"}"}}]},
        {"role": "tool", "tool_call_id": "a", "content": "{\"reservations\": [\"R1\"]}"},
        {"role": "user", "content": "Cancel R1 please"},
        {"role": "assistant", "tool_calls": [
            {"id": "b", "type": "function", "function": {"name": "cancel", "arguments": "{\"id\": \"R1\"}"}}]},
        {"role": "tool", "tool_call_id": "b", "content": "ok"}]}
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(conv) + "\n")
    db = tmp_path / "c.duckdb"
    assert CliRunner().invoke(cli, ["ingest", str(path), "--db", str(db), "--quiet"]).exit_code == 0
    con = connect(db, read_only=True)
    rows = con.execute("SELECT seq, context FROM calls ORDER BY seq").fetchall()
    con.close()
    assert rows == [(0, "Hi, my user id is mia_li_3668\nLooking you up."), (1, "Cancel R1 please")]
