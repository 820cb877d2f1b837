"""Mining canonical Parquet on Spark (local[2]) gives what DuckDB gives on the same calls."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import time
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


def test_thinned_samples_are_the_same_on_both_engines(generated, spark, monkeypatch):
    """Where the log has call times, a sample thinned by windows is drawn alike on DuckDB and Spark.

    Windows of 16 calls and samples of 5 make the 300-session log thin its samples as a
    log of millions does with the defaults.
    """
    from chainmine.miner.chains import chain_search
    from chainmine.miner.synthesis import screen

    monkeypatch.setattr(chain_search, "SAMPLE_WINDOW", 16)
    monkeypatch.setattr(screen, "SAMPLE_WINDOW", 16)
    db, lake = generated
    calls = duckdb.connect(str(db), read_only=True).execute("SELECT count(*) FROM calls").fetchone()[0]
    runner = CliRunner()
    local = runner.invoke(cli, ["mine", "--db", str(db), "--json", "--quiet", "--sample", "5"])
    on_spark = runner.invoke(cli, ["mine", "--engine", "spark", "--source", str(lake), "--spark-master", "local[2]",
                                   "--json", "--quiet", "--sample", "5"])
    assert local.exit_code == 0 and on_spark.exit_code == 0, on_spark.output
    a, b = json.loads(local.stdout), json.loads(on_spark.stdout)
    top = a[0]["stats"]["frequency"]
    assert chain_search.sample_plan(calls, top, 5)[0] > 1, "the top chain's sample is thinned"
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


def test_a_session_started_here_listens_on_localhost_and_logs_errors_only(spark):
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.driver.bindAddress") == "127.0.0.1" and conf.get("spark.driver.host") == "127.0.0.1"
    option = conf.get("spark.driver.extraJavaOptions")
    config = Path(option.split("-Dlog4j2.configurationFile=file://", 1)[1])
    assert config.is_file() and "rootLogger.level = error" in config.read_text()


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
    monkeypatch.setattr("chainmine.miner.lake.spark._reachable", lambda url: None)  # no server needed here
    assert spark_session("sc://localhost:15002") == "connect-session"
    assert asked == ["sc://localhost:15002"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    """A real Spark Connect server (pyspark's own, local[2]) on a free localhost port."""
    _spark_or_skip()
    import pyspark

    home = Path(pyspark.__file__).parent
    port = _free_port()
    log = tmp_path_factory.mktemp("spark_connect") / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
             "--master", "local[2]", "--conf", f"spark.connect.grpc.binding.port={port}",
             "--conf", "spark.connect.grpc.binding.address=127.0.0.1", "--conf", "spark.ui.enabled=false"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "SPARK_HOME": str(home)})
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the Spark Connect server did not start:\n" + log.read_text()[-2000:])
                time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()


def _chainmine(*args: str) -> subprocess.CompletedProcess:
    # Its own process: a Connect session switches pyspark into remote mode for the whole interpreter.
    return subprocess.run([sys.executable, "-m", "chainmine", *args], capture_output=True, text=True, timeout=900)


def test_spark_connect_mine_suggests_what_duckdb_does(generated, connect_server):
    db, lake = generated
    local = _chainmine("mine", "--db", str(db), "--json", "--quiet")
    remote = _chainmine("mine", "--engine", "spark", "--source", str(lake), "--spark-master", connect_server,
                        "--json", "--quiet")
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr[-2000:]
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    assert "FutureWarning" not in remote.stderr


def test_an_unreachable_spark_connect_server_is_one_line_at_once(generated):
    pytest.importorskip("pyspark")
    _, lake = generated
    result = CliRunner().invoke(cli, ["mine", "--engine", "spark", "--source", str(lake),
                                      "--spark-master", f"sc://127.0.0.1:{_free_port()}", "--json"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "cannot reach Spark Connect at 127.0.0.1:" in lines[0]


def test_connect_progress_is_one_self_erasing_line_on_stderr():
    from chainmine.miner.lake.spark import TaskProgress
    import io

    class Stage:
        def __init__(self, n, done):
            self.num_tasks, self.num_completed_tasks = n, done

    out = io.StringIO()
    bar = TaskProgress(out)
    bar(stages=[Stage(4, 1), Stage(4, 0)], inflight_tasks=2, operation_id="a", done=False)
    bar(stages=[Stage(4, 4), Stage(4, 3)], inflight_tasks=1, operation_id="a", done=False)
    bar(stages=[], inflight_tasks=0, operation_id="a", done=True)
    text = out.getvalue()
    assert "spark: 1/8 tasks, 2 running" in text and "spark: 7/8 tasks, 1 running" in text
    assert "\n" not in text and text.endswith("\r")


def test_spark_engine_needs_a_source():
    result = CliRunner().invoke(cli, ["mine", "--engine", "spark"])
    assert result.exit_code == 2 and "--source" in result.output
