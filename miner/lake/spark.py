"""Mining canonical Parquet on Apache Spark: the search on the cluster, synthesis on the driver.

:class:`LakeEngine` runs the chain search's SQL (the same text DuckDB runs, see
:mod:`chainmine.miner.chains.engine`) on Spark SQL over a ``calls`` view of the Parquet
source. Synthesis reads calls: only the sessions of sampled occurrences (and of
the flow screen's sampled sessions) are fetched, into an in-memory DuckDB store
with the store's schema, and the existing synthesis runs on it unchanged.

pyspark is an optional extra (``pip install 'chainmine[spark]'``); nothing here
is imported unless ``--engine spark`` is asked for.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit

import duckdb

from chainmine.miner.chains.engine import SparkEngine
from chainmine.miner.chains.events import EventSummary, build_sql
from chainmine.miner.chains.keys import KeyCodec
from chainmine.miner.chains.chain_search import ChainSearch
from chainmine.miner.errors import MiningError
from chainmine.miner.origins import calls_where
from chainmine.miner.store import init_schema

log = logging.getLogger(__name__)

SOURCE_COLUMNS = {"session_id": "STRING", "ts": "TIMESTAMP", "seq": "BIGINT", "tool": "STRING",
                  "success": "BOOLEAN", "error": "STRING", "duration_ms": "DOUBLE", "cost": "DOUBLE",
                  "args": "STRING", "result": "STRING", "call_id": "STRING", "agent": "STRING",
                  "user": "STRING", "session_outcome": "DOUBLE", "origin": "STRING", "context": "STRING",
                  "ingest_id": "INT", "line": "BIGINT"}
"""Canonical Parquet columns and their Spark types; columns a lake lacks read as NULL (``origin`` as 'log')."""
REQUIRED = ("session_id", "tool")
"""Columns the source must have."""
LOCAL_CONF = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4",
              "spark.sql.session.timeZone": "UTC",
              # chainmine writes no tables; Spark would otherwise leave spark-warehouse/ in the working folder
              "spark.sql.warehouse.dir": os.path.join(tempfile.gettempdir(), "chainmine-spark-warehouse")}
"""Settings of a session chainmine starts itself."""
LOCAL_ONLY_CONF = {
    # A session on this machine listens on localhost only; a cluster's driver must be reachable by its executors.
    "spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1",
    # Errors only: Spark's default logging buries the command's own output (see log4j2.properties).
    "spark.driver.extraJavaOptions":
        "-Dlog4j2.configurationFile=" + Path(__file__).with_name("log4j2.properties").as_uri()}
"""Settings added when the session runs on this machine (``local[N]``)."""


def spark_session(master: str | None = None, *, progress: bool = False) -> Any:
    """A SparkSession on ``master``: ``sc://host:port`` (Spark Connect), a cluster URL, or ``local[N]``.

    Raises :class:`~chainmine.miner.errors.MiningError` with one line when pyspark (or, for
    a session run here, Java) is missing.

    Examples
    --------
    >>> spark_session.__name__
    'spark_session'
    """
    with warnings.catch_warnings():
        # pyspark warns about the pandas version on import; chainmine hands it no pandas frames
        warnings.simplefilter("ignore", FutureWarning)
        return _session(master or os.environ.get("CHAINMINE_SPARK_MASTER") or "local[*]", progress)


def _session(master: str, progress: bool) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise MiningError("the spark engine needs pyspark: pip install 'chainmine[spark]'") from None
    if master.startswith("sc://"):
        # The Connect client retries an unreachable server for minutes: say so at once instead.
        _reachable(master)
        try:
            spark = SparkSession.builder.remote(master).getOrCreate()
        except ImportError as exc:
            raise MiningError(f"Spark Connect needs pyspark's connect extra ({exc}): "
                              "pip install 'chainmine[spark]'") from None
        if progress:
            spark.registerProgressHandler(TaskProgress())
        return spark
    if not _java_found():
        raise MiningError("the spark engine needs Java 17 or later: install it, or set JAVA_HOME to it")
    conf = {**LOCAL_CONF, "spark.ui.showConsoleProgress": str(progress).lower()}
    if master.startswith("local"):
        conf.update(LOCAL_ONLY_CONF)
    builder = SparkSession.builder.master(master).appName("chainmine")
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def connect_address(url: str) -> tuple[str, int]:
    """``(host, port)`` of a Spark Connect URL (``sc://host[:port][/;param=value...]``, port 15002 by default).

    Examples
    --------
    >>> connect_address("sc://spark-connect:15003/;token=abc"), connect_address("sc://localhost")
    (('spark-connect', 15003), ('localhost', 15002))
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise MiningError(f"{url} has no valid port: write sc://host:port") from None
    if not parts.hostname:
        raise MiningError(f"{url} names no host: write sc://host:port")
    return parts.hostname, port or 15002


def _reachable(url: str, timeout: float = 10.0) -> None:
    host, port = connect_address(url)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise MiningError(f"cannot reach Spark Connect at {host}:{port}: {exc.strerror or exc}") from None


class TaskProgress:
    """A Spark Connect progress handler: one self-erasing line on stderr, ``spark: done/total tasks``.

    A session started here draws Spark's own console progress instead; this one
    stands in for it when the work runs on a Connect server.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO(); bar = TaskProgress(out)
    >>> class Stage: num_tasks, num_completed_tasks = 8, 3
    >>> bar(stages=[Stage()], inflight_tasks=2, operation_id="x", done=False)
    >>> out.getvalue()
    '\\rspark: 3/8 tasks, 2 running'
    """

    def __init__(self, out: Any = None):
        self.out = out if out is not None else sys.stderr
        self.width = 0

    def __call__(self, stages: Any, inflight_tasks: int, operation_id: Any, done: bool, **_: Any) -> None:
        if done:
            if self.width:
                self.out.write("\r" + " " * self.width + "\r")
                self.out.flush()
                self.width = 0
            return
        total = sum(s.num_tasks for s in stages)
        finished = sum(s.num_completed_tasks for s in stages)
        line = f"spark: {finished}/{total} tasks, {inflight_tasks} running"
        self.out.write("\r" + line.ljust(self.width))
        self.out.flush()
        self.width = max(self.width, len(line))


def _java_found() -> bool:
    home = os.environ.get("JAVA_HOME")
    if home:
        return os.path.exists(os.path.join(home, "bin", "java"))
    return shutil.which("java") is not None


class LakeEngine(SparkEngine):
    """Spark SQL over the canonical Parquet at ``source``, with the driver's store of fetched sessions.

    Parameters
    ----------
    spark : a SparkSession (see :func:`spark_session`).
    source : a Parquet folder (``day=`` partitions are read as such), file or glob.

    Examples
    --------
    >>> LakeEngine.positional
    False
    """

    def __init__(self, spark: Any, source: str | os.PathLike):
        super().__init__(spark)
        self.source = str(source)
        # A checkpointed result keeps the constraints of the query that made it, naming columns the
        # result no longer has; a union of two such results then fails to plan ("key not found").
        spark.conf.set("spark.sql.constraintPropagation.enabled", "false")
        try:
            frame = spark.read.parquet(self.source)
        except Exception as exc:  # noqa: BLE001 - Spark raises its own analysis errors
            raise MiningError(f"cannot read Parquet at {self.source}: {str(exc).splitlines()[0]}") from None
        have = set(frame.columns)
        missing = [c for c in REQUIRED if c not in have]
        if missing:
            raise MiningError(f"{self.source} has no {', '.join(missing)} column: export it with "
                              "chainmine export --format parquet, or add the canonical columns")
        frame.createOrReplaceTempView("_cm_src")
        cols = [f"CAST({'`' + c + '`' if c in have else _absent(c)} AS {t}) AS `{c}`"
                for c, t in SOURCE_COLUMNS.items()]
        self.view("_cm_calls_src", f"SELECT {', '.join(cols)} FROM _cm_src")
        names = [r[0] for r in self.rows("SELECT DISTINCT tool FROM _cm_calls_src WHERE tool IS NOT NULL "
                                         "ORDER BY tool")]
        self.tools = list(enumerate(names, 1))
        self.frame("_cm_tool_ids", {"tool_id": ("INTEGER", [i for i, _ in self.tools]),
                                    "tool": ("VARCHAR", names)})
        # Calls are referred to by a hash of what orders them: rowids are DuckDB's alone.
        self.view("calls", """SELECT c.*, t.tool_id,
                                xxhash64(c.session_id, c.ts, c.seq, c.ingest_id, c.line, c.tool) AS rid
                              FROM _cm_calls_src c JOIN _cm_tool_ids t ON t.tool = c.tool""")
        self.local = duckdb.connect()
        init_schema(self.local)
        self.local.execute("SET enable_progress_bar = false")
        self.local.executemany("INSERT INTO tools VALUES (?, ?)", self.tools)
        self.fetched: set[str] = set()

    def count_calls(self, include_runs: bool = False) -> int:
        return int(self.one(f"SELECT count(*) FROM calls WHERE {calls_where(include_runs)}")[0])

    def prepare_events(self, include_runs: bool = False) -> EventSummary:
        where = "" if include_runs else "WHERE " + calls_where(False)
        self.include_runs = include_runs
        self.table("_cm_ev", build_sql("rid", where, self))
        events, calls, max_tool, has_cost = self.one(
            "SELECT count(*), coalesce(sum(n), 0), coalesce(max(t), 0), coalesce(bool_or(cost <> 0), false) "
            "FROM _cm_ev")
        log.info("spark events: %d calls -> %d events", calls, events)
        return EventSummary(int(calls), int(events), int(max_tool), bool(has_cost), ref="rowid")

    def codec(self, max_tool_id: int, max_length: int) -> KeyCodec:
        codec = KeyCodec.for_tools(max_tool_id, max_length)
        if codec.kind != "BIGINT":
            raise MiningError(f"the spark engine packs chains into 64-bit keys: {max_tool_id} tools allow "
                              f"chains of at most {_longest(max_tool_id)} steps; lower --max-length")
        return codec

    def tool_names(self) -> list[tuple[int, str]]:
        return list(self.tools)

    def new_search(self, params: Any, codec: Any, summary: Any, tool_ids: dict[str, int]) -> "LakeSearch":
        return LakeSearch(self.local, params, codec, summary, tool_ids, engine=self)

    def fetch_sessions(self, sids_sql: str) -> None:
        """Copy to the driver's store every call of the sessions whose hashed ids ``sids_sql`` selects.

        Sessions fetched before are not read again; the driver's ``_cm_ev`` is then rebuilt
        (a few thousand sessions: milliseconds).
        """
        wanted = [r[0] for r in self.rows(f"SELECT DISTINCT session_id FROM calls "
                                          f"WHERE xxhash64(session_id) IN ({sids_sql})")]
        new = sorted(set(wanted) - self.fetched)
        if not new:
            return
        self.frame("_cm_want", {"session_id": ("VARCHAR", new)})
        where = "" if self.include_runs else "AND " + calls_where(False)
        cols = ", ".join(f"`{c}`" for c in SOURCE_COLUMNS)
        table = self.spark.sql(f"SELECT {cols} FROM _cm_calls_src WHERE session_id IN "
                               f"(SELECT session_id FROM _cm_want) {where}").toArrow()
        self.drop(["_cm_want"])
        first = self.local.execute("SELECT coalesce(max(id), 0) FROM calls").fetchall()[0][0]
        self.local.register("_cm_fetched", table)
        names = [c for c in SOURCE_COLUMNS if c != "tool"]
        self.local.execute(f"""INSERT INTO calls (id, tool_id, {', '.join(f'"{c}"' for c in names)})
            SELECT {int(first)} + row_number() OVER (), t.tool_id, {', '.join(f'f."{c}"' for c in names)}
            FROM _cm_fetched f JOIN tools t ON t.tool = f.tool""")
        self.local.unregister("_cm_fetched")
        self.fetched.update(new)
        self.local.execute("CREATE OR REPLACE TEMP TABLE _cm_ev AS " + build_sql())
        log.info("fetched %d sessions (%d calls) to the driver", len(new), table.num_rows)


def _absent(column: str) -> str:
    return "'log'" if column == "origin" else "NULL"


def _longest(max_tool_id: int) -> int:
    length = 1
    while KeyCodec.for_tools(max_tool_id, length + 1).kind == "BIGINT":
        length += 1
    return length


class LakeSearch(ChainSearch):
    """A :class:`~chainmine.miner.chains.chain_search.ChainSearch` whose occurrences live on Spark and whose sampled
    sessions' calls are fetched to ``con``, the driver's store, for synthesis.

    Examples
    --------
    >>> LakeSearch.screen_events.__doc__.startswith("The flow screen")
    True
    """

    def _sampled_events(self) -> list[tuple]:
        engine = self.engine
        engine.fetch_sessions("SELECT sid FROM _cm_smp")
        rows = engine.rows("""SELECT m.cid, m.variant, s.session_id, m.spos, m.epos FROM _cm_smp m
            JOIN (SELECT DISTINCT xxhash64(session_id) AS sid, session_id FROM calls
                  WHERE xxhash64(session_id) IN (SELECT sid FROM _cm_smp)) s ON s.sid = m.sid""")
        return self._local_rows("cid INTEGER, variant INTEGER, session_id VARCHAR, spos BIGINT, epos BIGINT", rows)

    def name_sessions(self, table: str) -> None:
        """``_cm_names(r0, session_id)`` on Spark: calls are referred to by a hash there, not by rowid."""
        self.engine.table("_cm_names", f"SELECT rid AS r0, session_id FROM calls "
                                       f"WHERE rid IN (SELECT r0 FROM {table})")

    def _local_rows(self, schema: str, rows: Sequence[tuple]) -> list[tuple]:
        con = self.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE _cm_smp ({schema})")
        if rows:
            con.executemany(f"INSERT INTO _cm_smp VALUES ({', '.join('?' * len(rows[0]))})", list(rows))
        out = con.execute("""
            SELECT m.cid, m.variant, e.sid, m.spos, e.spos, e.epos, e.t, e.rid, e.rids
            FROM _cm_smp m JOIN _cm_ev e ON e.sid = hash(m.session_id) AND e.spos >= m.spos AND e.spos <= m.epos
            ORDER BY m.cid, hash(e.sid, m.spos), e.sid, m.spos, e.spos""").fetchall()
        con.execute("DROP TABLE _cm_smp")
        return out

    def screen_events(self, modulus: int, stretch: int) -> list[tuple]:
        """The flow screen's sampled sessions, chosen on Spark and read from the driver's store."""
        picked = self.screened_sessions(modulus, stretch)
        self.engine.fetch_sessions(picked)
        sessions = [r[0] for r in self.engine.rows(f"""SELECT DISTINCT session_id FROM calls
            WHERE xxhash64(session_id) IN ({picked})""")]
        return self.con.execute("""SELECT sid, t, rid, rids FROM _cm_ev
            WHERE sid IN (SELECT hash(unnest($s::VARCHAR[]))) ORDER BY sid, spos""", {"s": sessions}).fetchall()

    def close(self) -> None:
        super().close()
        drop = ["_cm_ev", "calls", "_cm_calls_src", "_cm_src", "_cm_tool_ids"]
        self.engine.drop(drop)
