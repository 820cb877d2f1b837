"""Mining canonical Parquet on Spark (local[2]) gives what DuckDB gives on the same calls."""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from chainmine.miner import ChainMiner
from chainmine.miner.cli import cli
from chainmine.miner.errors import MiningError

REAL = Path(__file__).parent / "data" / "real"


def _spark_or_skip():
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'chainmine[spark]')")
    if shutil.which("java") is None:
        pytest.skip("no java on PATH: the spark engine needs Java 17 or later")
    from chainmine.miner.lake.spark import spark_session

    return spark_session("local[2]")


@pytest.fixture(scope="session")
def spark():
    session = _spark_or_skip()
    yield session
    session.stop()


def _store_and_lake(tmp: Path, log: Path) -> tuple[Path, Path]:
    db, lake = tmp / "calls.duckdb", tmp / "lake"
    runner = CliRunner()
    for args in (["ingest", str(log), "--db", str(db), "--quiet"],
                 ["export", "--format", "parquet", "--out", str(lake), "--db", str(db)]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    return db, lake


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("spark_gen")
    result = CliRunner().invoke(cli, ["generate", "--out", str(tmp / "logs.jsonl"), "--sessions", "300",
                                      "--seed", "5", "--quiet"])
    assert result.exit_code == 0, result.output
    return _store_and_lake(tmp, tmp / "logs.jsonl")


def test_export_writes_one_parquet_folder_per_day_with_every_call(generated, tmp_path):
    db, lake = generated
    days = sorted(p.name for p in lake.iterdir())
    assert days and all(d.startswith("day=") for d in days)
    con = duckdb.connect()
    stored = duckdb.connect(str(db), read_only=True).execute("SELECT count(*) FROM calls").fetchone()[0]
    exported, tools = con.execute(f"SELECT count(*), count(DISTINCT tool) FROM read_parquet('{lake}/*/*.parquet', "
                                  "hive_partitioning = true)").fetchone()
    assert exported == stored and tools > 10
    again = CliRunner().invoke(cli, ["export", "--format", "parquet", "--out", str(lake), "--db", str(db)])
    assert again.exit_code == 1 and "already exists" in again.output


def test_spark_mine_suggests_the_same_workflows_figures_and_bindings_as_duckdb(generated, spark):
    db, lake = generated
    runner = CliRunner()
    local = runner.invoke(cli, ["mine", "--db", str(db), "--json", "--quiet"])
    on_spark = runner.invoke(cli, ["mine", "--engine", "spark", "--source", str(lake), "--spark-master", "local[2]",
                                   "--json", "--quiet"])
    assert local.exit_code == 0 and on_spark.exit_code == 0, on_spark.output
    a, b = json.loads(local.stdout), json.loads(on_spark.stdout)
    assert len(a) >= 8
    assert [w["name"] for w in b] == [w["name"] for w in a]
    assert [w["stats"] for w in b] == [w["stats"] for w in a]
    assert [w["steps"] for w in b] == [w["steps"] for w in a]  # parameters bound the same way
    assert b == a


def test_spark_mine_of_a_real_log_slice_matches_duckdb(tmp_path, spark):
    log = tmp_path / "airline.jsonl"
    with gzip.open(REAL / "tau_airline" / "gpt-4o-airline.json.gz", "rt") as f, log.open("w") as out:
        for s in json.load(f):
            out.write(json.dumps({"id": f"{s['task_id']}-{s.get('trial', 0)}", "messages": s["traj"],
                                  "reward": s["reward"]}) + "\n")
    db, lake = _store_and_lake(tmp_path, log)
    con = duckdb.connect(str(db), read_only=True)
    local = ChainMiner().fit(con)
    from chainmine.miner.lake.spark import LakeEngine

    remote = ChainMiner(engine="spark").fit(LakeEngine(spark, lake))
    assert local.workflows_, "the real slice yields suggestions"
    assert [w.to_dict() for w in remote.workflows_] == [w.to_dict() for w in local.workflows_]
    assert remote.stats_ == local.stats_


def test_missing_pyspark_is_one_line_naming_the_extra(monkeypatch):
    from chainmine.miner.lake.spark import spark_session

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(MiningError, match=r"needs pyspark: pip install 'chainmine\[spark\]'"):
        spark_session("local[2]")


def test_missing_java_names_java_home(monkeypatch):
    pytest.importorskip("pyspark")
    from chainmine.miner.lake.spark import spark_session

    monkeypatch.setenv("JAVA_HOME", "/nonexistent/jdk")
    with pytest.raises(MiningError, match="JAVA_HOME"):
        spark_session("local[2]")


def test_an_sc_url_builds_a_spark_connect_session(monkeypatch):
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    from chainmine.miner.lake.spark import spark_session

    asked = []

    class Remote:
        def getOrCreate(self):
            return "connect-session"

    monkeypatch.setattr(type(SparkSession.builder), "remote", lambda self, url: asked.append(url) or Remote())
    assert spark_session("sc://localhost:15002") == "connect-session"
    assert asked == ["sc://localhost:15002"]


def test_spark_engine_needs_a_source():
    result = CliRunner().invoke(cli, ["mine", "--engine", "spark"])
    assert result.exit_code == 2 and "--source" in result.output
