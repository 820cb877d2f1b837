"""`chainmine validate`: replaying workflows on their logged occurrences with real tools, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from chainmine.library.errors import LibraryFileError
from chainmine.library.store.atomic import file_lock
from chainmine.library.serve.schema import evidence_text
from chainmine.library.store import WorkflowLibrary
from chainmine.miner.cli import cli
from chainmine.miner.replay import validate_library

USERS = {
    "u1": {"user_id": "u1", "name": "Mia", "orders": ["o1", "o2"], "last_order": "o2"},
    "u2": {"user_id": "u2", "name": "Noa", "orders": ["o3"], "last_order": "o3"},
    "u3": {"user_id": "u3", "name": "Ari", "orders": ["o4", "o5", "o6"], "last_order": "o6"},
}
ORDERS = {f"o{i}": {"order_id": f"o{i}", "total": 10.5 * i, "status": "open"} for i in range(1, 7)}

# A real tools module: the data lives in a JSON file beside it and is loaded at import, like the
# τ-bench tools; every cancellation is also appended to writes.log, so a test can see whether it ran.
TOOLS = '''
import json
from pathlib import Path

HERE = Path(__file__).parent
DATA = json.loads((HERE / "data.json").read_text())


def get_user(user_id):
    """Look a user up."""
    if user_id not in DATA["users"]:
        raise KeyError(f"no user {user_id}")
    return DATA["users"][user_id]


def get_order(order_id):
    """Look an order up."""
    return DATA["orders"][order_id]


def cancel_order(order_id):
    """Cancel an open order."""
    with open(HERE / "writes.log", "a") as f:
        f.write(order_id + "\\n")
    order = DATA["orders"][order_id]
    if order["status"] != "open":
        raise ValueError(f"order {order_id} is already {order['status']}")
    order["status"] = "cancelled"
    return order
'''

LOOKUP = {"name": "lookup_orders", "source": "mined", "inputs": {"user_id": {"type": "string"}},
          "steps": [{"id": "get_user", "tool_name": "get_user", "parameters": {"user_id": "{{user_id}}"}},
                    {"id": "get_order", "tool_name": "get_order", "parameters": {"order_id": "{{item}}"},
                     "map_over": "{{get_user.orders}}", "depends_on": ["get_user"]}]}
CANCEL = {"name": "cancel_first_order", "source": "mined", "inputs": {"user_id": {"type": "string"}},
          "steps": [{"id": "get_user", "tool_name": "get_user", "parameters": {"user_id": "{{user_id}}"}},
                    {"id": "cancel", "tool_name": "cancel_order",
                     "parameters": {"order_id": "{{get_user.orders[0]}}"}, "depends_on": ["get_user"]}]}


def miswired(wf: dict, name: str, step: str, param: str, template: str) -> dict:
    copy = json.loads(json.dumps(wf))
    copy["name"] = name
    next(s for s in copy["steps"] if s["id"] == step)["parameters"][param] = template
    return copy


def _log(tmp_path: Path) -> Path:
    """Sessions as an agent made them: look a user up, read each order; some cancel the first one."""
    rows, t = [], 0
    sessions = [("u1", False), ("u2", True), ("u3", False), ("u1", True), ("u3", True), ("u2", False)]
    for n, (uid, cancels) in enumerate(sessions):
        sid = f"s{n}"
        calls = [("get_user", {"user_id": uid}, USERS[uid])]
        calls += [("get_order", {"order_id": o}, ORDERS[o]) for o in USERS[uid]["orders"]]
        if cancels:
            calls = calls[:1] + [("cancel_order", {"order_id": USERS[uid]["orders"][0]},
                                  {**ORDERS[USERS[uid]["orders"][0]], "status": "cancelled"})]
        for seq, (tool, args, result) in enumerate(calls):
            t += 1
            rows.append({"session_id": sid, "seq": seq, "ts": 1_700_000_000 + t, "tool": tool,
                         "args": args, "result": result, "success": True})
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def env(tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "data.json").write_text(json.dumps({"users": USERS, "orders": ORDERS}))
    (tools / "shop_tools.py").write_text(TOOLS)
    db, lib = tmp_path / "t.duckdb", tmp_path / "workflows.json"
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(_log(tmp_path)), "--db", str(db)]).exit_code == 0
    library = WorkflowLibrary(lib)
    for wf in (LOOKUP, CANCEL, miswired(LOOKUP, "lookup_miswired", "get_order", "order_id", "{{get_user.user_id}}")):
        library.register(library_workflow(wf))
    return {"db": str(db), "lib": str(lib), "tools": str(tools / "shop_tools.py"), "writes": tools / "writes.log",
            "library": library, "runner": runner}


def library_workflow(data: dict):
    from chainmine.library.model import WorkflowTemplate
    return WorkflowTemplate.from_dict(data)


def validate(env, *args: str):
    result = env["runner"].invoke(cli, ["validate", *args, "--tools", env["tools"], "--db", env["db"],
                                        "--library", env["lib"]])
    return result


def validate_json(env, *args: str) -> dict:
    result = validate(env, *args, "--json")
    assert result.exit_code == 0, result.output
    return {r["workflow"]: r for r in json.loads(result.stdout)["workflows"]}


def test_pass_rate_per_workflow_is_stored_and_shown_by_library_show(env):
    reports = validate_json(env, "--all")
    lookup = reports["lookup_orders"]
    assert (lookup["occurrences"], lookup["replayed"], lookup["pass_rate"]) == (3, 3, 1.0)
    assert lookup["compared"] == 3 + 2 + 1 + 3  # each get_user plus every order it read
    stored = env["library"].get("lookup_orders").evidence["replay"]
    assert stored["pass_rate"] == 1.0 and stored["compared"] == 9 and stored["first_disagreement"] is None
    assert stored["at"].endswith("+00:00")
    shown = env["runner"].invoke(cli, ["library", "show", "lookup_orders", "--library", env["lib"]])
    assert "Replay: 3 of 3 logged occurrences replayed identically (100%), 9 calls compared" in shown.output
    shown = env["runner"].invoke(cli, ["library", "show", "lookup_orders", "--library", env["lib"], "--json"])
    assert json.loads(shown.stdout)["evidence"]["replay"]["pass_rate"] == 1.0
    assert "Replay: 3 of 3 logged occurrences" in evidence_text(env["library"].get("lookup_orders"))


def test_a_miswired_workflow_scores_low_and_names_the_step_and_parameter(env):
    report = validate_json(env, "lookup_miswired")["lookup_miswired"]
    assert report["replayed"] == 3 and report["pass_rate"] == 0.0 and report["args_pass_rate"] == 0.0
    first = report["first_disagreement"]
    assert (first["step"], first["field"]) == ("get_order", "args.order_id")
    assert first["session"] == "s0" and first["logged"] == '"o1"' and first["replayed"] == '"u1"'
    shown = env["runner"].invoke(cli, ["library", "show", "lookup_miswired", "--library", env["lib"]])
    assert "first disagreement: session s0, step get_order, args.order_id" in shown.output


def test_writes_are_answered_from_the_log_unless_allowed(env):
    report = validate_json(env, "cancel_first_order")["cancel_first_order"]
    assert not env["writes"].exists(), "cancel_order was called without --allow-writes"
    assert report["pass_rate"] == 1.0 and report["skipped_writes"] == 3 and report["allow_writes"] is False
    wrong = miswired(CANCEL, "cancel_last_order", "cancel", "order_id", "{{get_user.last_order}}")
    env["library"].register(library_workflow(wrong))
    bad = validate_json(env, "cancel_last_order")["cancel_last_order"]
    assert not env["writes"].exists()
    assert bad["pass_rate"] < 0.5 and bad["first_disagreement"]["field"] == "args.order_id"


def test_allowed_writes_run_on_fresh_tool_state_per_occurrence(env):
    report = validate_json(env, "cancel_first_order", "--allow-writes")["cancel_first_order"]
    assert env["writes"].read_text().split() == ["o3", "o1", "o4"]
    # each replay starts from the module's initial data, so no cancellation sees an earlier one's write
    assert report["pass_rate"] == 1.0 and report["skipped_writes"] == 0 and report["compared"] == 6


def test_accept_warns_without_replay_evidence_or_with_a_low_pass_rate(env):
    runner = CliRunner()
    plain = runner.invoke(cli, ["library", "accept", "lookup_orders", "--library", env["lib"]])
    assert plain.exit_code == 0 and "lookup_orders has no replay evidence" in plain.stderr
    assert env["library"].get("lookup_orders").status == "accepted"
    validate_json(env, "lookup_miswired")
    low = runner.invoke(cli, ["library", "accept", "lookup_miswired", "--library", env["lib"]])
    assert low.exit_code == 0 and "replays identically in only 0%" in low.stderr
    assert env["library"].get("lookup_miswired").status == "accepted"
    validate_json(env, "cancel_first_order")
    good = runner.invoke(cli, ["library", "accept", "cancel_first_order", "--library", env["lib"]])
    assert good.exit_code == 0 and "warning" not in good.stderr


def test_ignored_fields_do_not_count(env):
    changed = json.loads((Path(env["tools"]).parent / "data.json").read_text())
    changed["users"]["u1"]["name"] = "Mia Li"  # the tools' data moved on since the log was written
    (Path(env["tools"]).parent / "data.json").write_text(json.dumps(changed))
    report = validate_json(env, "lookup_orders", "--fresh-tools")["lookup_orders"]
    assert report["pass_rate"] < 1.0 and report["args_pass_rate"] == 1.0
    assert report["first_disagreement"]["field"] == "result.name"
    assert validate_json(env, "lookup_orders", "--fresh-tools", "--ignore", "result.name")["lookup_orders"][
        "pass_rate"] == 1.0


@pytest.mark.parametrize("args, message", [
    (["nope", "--tools", "TOOLS"], "no workflow named 'nope'"),
    (["lookup_orders", "--tools", "BROKEN"], "failed to import"),
    (["lookup_orders", "--tools", "MISSING.py"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_1(env, tmp_path, args, message):
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    args = [{"TOOLS": env["tools"], "BROKEN": str(tmp_path / "broken.py"),
             "MISSING.py": str(tmp_path / "missing.py")}.get(a, a) for a in args]
    result = env["runner"].invoke(cli, ["validate", *args, "--db", env["db"], "--library", env["lib"]])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_a_workflow_with_no_logged_occurrence_is_an_error(env):
    never = {"name": "never_seen", "steps": [
        {"id": "a", "tool_name": "get_order", "parameters": {"order_id": "o1"}},
        {"id": "b", "tool_name": "get_user", "parameters": {"user_id": "u1"}, "depends_on": ["a"]}]}
    env["library"].register(library_workflow(never))
    result = validate(env, "never_seen")
    assert result.exit_code == 1 and "no logged occurrence of workflow 'never_seen'" in result.stderr
    assert "replay" not in (env["library"].get("never_seen").evidence or {})
    everything = validate_json(env, "--all")  # validating many reports it and goes on
    assert "lookup_orders" in everything


def test_a_locked_library_fails_before_replaying_and_keeps_the_file(env, monkeypatch):
    import chainmine.miner.commands.validate as command
    monkeypatch.setattr(command, "LOCK_CHECK_S", 0.05)
    before = Path(env["lib"]).read_text()
    with file_lock(env["lib"]):
        result = validate(env, "lookup_orders")
        assert result.exit_code == 1 and "is locked by another process" in result.stderr
        con = duckdb.connect(env["db"], read_only=True)
        try:
            with pytest.raises(LibraryFileError):
                validate_library(con, WorkflowLibrary(env["lib"], lock_timeout=0.05), ["lookup_orders"],
                                 [env["tools"]])
        finally:
            con.close()
    assert Path(env["lib"]).read_text() == before


REAL_TOOLS = [p / "tools.py" for p in (Path(__file__).resolve().parents[2] / "shared" / "real-logs" / "tau_airline",
                                       Path("/work/shared/real-logs/tau_airline"))]
REAL_TOOLS = next((p for p in REAL_TOOLS if p.exists()), None)


@pytest.mark.skipif(REAL_TOOLS is None, reason="the real τ-bench tools are not beside the clone")
def test_tau_mined_workflows_replay_against_the_real_tau_bench_tools(tmp_path):
    log = Path(__file__).parent / "data" / "real" / "tau_airline" / "gpt-4o-airline.json.gz"
    db, lib, runner = str(tmp_path / "t.duckdb"), str(tmp_path / "w.json"), CliRunner()
    assert runner.invoke(cli, ["ingest", str(log), "--db", db]).exit_code == 0
    assert runner.invoke(cli, ["mine", "--db", db, "--library", lib, "--save", "-q"]).exit_code == 0
    result = runner.invoke(cli, ["validate", "--tools", str(REAL_TOOLS), "--db", db, "--library", lib, "--json"])
    assert result.exit_code == 0, result.output
    reports = {tuple(WorkflowLibrary(lib).get(r["workflow"]).tools): r for r in json.loads(result.stdout)["workflows"]}
    lookup = reports[("get_user_details", "get_reservation_details")]
    # the agent's calls are exactly the workflow's (wiring right); the shipped users carry address.state
    # where the logged ones said address.province, so the results differ
    assert lookup["replayed"] == 20 and lookup["args_pass_rate"] == 1.0
    assert lookup["first_disagreement"]["field"] == "result.address.province"
    ignoring = runner.invoke(cli, ["validate", lookup["workflow"], "--tools", str(REAL_TOOLS), "--db", db,
                                   "--library", lib, "--json", "--ignore", "result.address.*"])
    assert json.loads(ignoring.stdout)["workflows"][0]["pass_rate"] == 1.0
    cancel = reports[("get_reservation_details", "cancel_reservation")]
    # agents often cancelled another reservation than the one looked up just before
    assert 0.2 < cancel["pass_rate"] < 0.8 and cancel["first_disagreement"]["field"] == "args.reservation_id"
    assert cancel["skipped_writes"] > 0
    # a copy reading each reservation by the user's e-mail address instead of the listed ids scores 0
    wrong = WorkflowLibrary(lib).get(lookup["workflow"]).to_dict()
    wrong.update(name="miswired_lookup", origin_signature=None)
    wrong["steps"][1]["parameters"]["reservation_id"] = "{{get_user.email}}"
    WorkflowLibrary(lib).register(library_workflow(wrong))
    result = runner.invoke(cli, ["validate", "miswired_lookup", "--tools", str(REAL_TOOLS), "--db", db,
                                 "--library", lib, "--json"])
    bad = json.loads(result.stdout)["workflows"][0]
    assert bad["pass_rate"] == 0.0 and bad["args_pass_rate"] == 0.0
    assert (bad["first_disagreement"]["step"], bad["first_disagreement"]["field"]) == (
        "get_reservation", "args.reservation_id")
    assert "replays identically in only 0%" in runner.invoke(
        cli, ["library", "accept", "miswired_lookup", "--library", lib]).stderr


def test_evidence_of_an_older_version_asks_to_validate_again(env):
    validate_json(env, "lookup_orders")
    env["library"].edit("lookup_orders", options={"get_user": {"max_retries": 2}})
    shown = env["runner"].invoke(cli, ["library", "show", "lookup_orders", "--library", env["lib"]])
    assert "(of version 1; this is version 2, validate it again)" in " ".join(shown.output.split())
    accepted = env["runner"].invoke(cli, ["library", "accept", "lookup_orders", "--library", env["lib"]])
    assert accepted.exit_code == 0 and "replay evidence is for version 1" in accepted.stderr
