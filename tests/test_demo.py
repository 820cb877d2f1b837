"""`chainmine demo` runs every stage for real and leaves files a user can explore."""

from __future__ import annotations

import json

from click.testing import CliRunner

from chainmine.library.store import WorkflowLibrary
from chainmine.miner.cli import cli
from chainmine.miner.run_store import list_runs
from chainmine.miner.store import connect


def test_demo_runs_end_to_end_and_can_be_repeated(tmp_path):
    folder = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--dir", str(folder), "--sessions", "400", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ingested"]["accepted"] == doc["generated"]["calls"] > 0
    assert doc["ingested"]["rejected"] == 0
    assert len(doc["mined"]) >= 3
    assert doc["run"]["status"] == "completed"
    assert all(step["status"] == "completed" for step in doc["run"]["steps"])

    accepted = [wf.name for wf in WorkflowLibrary(folder / "workflows.json").list_all(status="accepted")]
    assert accepted == [doc["accepted"]]
    con = connect(folder / "chainmine.duckdb", read_only=True)
    try:
        runs = list_runs(con)
        assert [(r["run_id"], r["status"]) for r in runs] == [(doc["run"]["run_id"], "completed")]
    finally:
        con.close()

    again = CliRunner().invoke(cli, ["demo", "--dir", str(folder), "--sessions", "400", "--json", "--quiet"])
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    assert second["ingested"]["accepted"] == 0
    assert second["ingested"]["duplicates"] == doc["ingested"]["accepted"]
    assert second["saved"]["added"] == 0
    assert second["accepted"] == doc["accepted"]


def test_demo_prints_every_stage_and_where_to_look_next(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path / "d"), "--sessions", "300"])
    assert result.exit_code == 0, result.output
    for stage in ("1. Logs", "2. Ingest", "3. Mine", "4. Library", "5. Run", "where to look next"):
        assert stage in result.stdout
    assert "completed" in result.stdout
