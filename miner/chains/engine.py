"""Where the chain search's SQL runs: DuckDB (a store connection) or Spark (a SparkSession).

The search (:mod:`chainmine.miner.chains.events`, :mod:`chainmine.miner.chains.search`,
:class:`chainmine.miner.chains.chain_search.ChainSearch`) is written once, as SQL text over
``calls`` and its own temporary relations. An engine runs that text and
renders the few constructs the two dialects spell differently (hashing,
integer division, a list of offsets, registering a small key set, a
temporary table). Everything else is SQL both accept as written.

:class:`DuckEngine` runs on a DuckDB connection; :class:`SparkEngine`
(see :mod:`chainmine.miner.lake.spark` for how the session is made) on Spark SQL,
where a "temporary table" is a temporary view over a checkpointed result.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import duckdb

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")
_INT_TYPES = ("INTEGER", "BIGINT")


class DuckEngine:
    """The search's SQL on a DuckDB connection (the store, or an in-memory copy).

    It runs SQL and spells the dialect; what a search does with a store (its
    events, key codec and search object) is added by
    :class:`chainmine.miner.chains.chain_search.StoreEngine`, so this module imports none
    of the search's.

    Examples
    --------
    >>> e = DuckEngine(duckdb.connect())
    >>> e.table("_t", "SELECT 7 AS x"); e.rows("SELECT x FROM _t"), e.exists("_t")
    ([(7,)], True)
    >>> e.drop(["_t"]); e.exists("_t")
    False
    """

    name = "duckdb"
    positional = True
    """Whether ``POSITIONAL JOIN`` is available (the first search levels use it)."""
    hash_type = "UBIGINT"
    """SQL type of :meth:`hash` values."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def run(self, sql: str, params: dict | None = None) -> None:
        """Run a statement (``$name`` parameters)."""
        self.con.execute(sql, params or {})

    def rows(self, sql: str, params: dict | None = None) -> list[tuple]:
        """Every row of a query."""
        return self.con.execute(sql, params or {}).fetchall()

    def one(self, sql: str, params: dict | None = None) -> tuple:
        """The first row of a query."""
        return self.con.execute(sql, params or {}).fetchone()

    def table(self, name: str, body: str, params: dict | None = None) -> None:
        """Store the result of ``body`` as temporary table ``name`` (replacing it)."""
        self.run(f"CREATE OR REPLACE TEMP TABLE {name} AS {body}", params)

    def view(self, name: str, body: str) -> None:
        """Define temporary view ``name`` as ``body`` (replacing it)."""
        self.run(f"CREATE OR REPLACE TEMP VIEW {name} AS {body}")

    def exists(self, name: str) -> bool:
        """Whether a temporary table or view ``name`` exists."""
        return self.one("""SELECT count(*) FROM (SELECT table_name AS n FROM duckdb_tables() WHERE temporary
                           UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary) WHERE n = ?""",
                        [name])[0] > 0

    def drop(self, names: Sequence[str]) -> None:
        """Drop the temporary views and tables among ``names`` (safe to call twice)."""
        drop_temp(self.con, list(names))

    def columns(self, name: str) -> set[str]:
        """Column names of relation ``name``."""
        return {r[0] for r in self.rows(f"DESCRIBE SELECT * FROM {name}")}

    def frame(self, name: str, columns: dict[str, tuple[str, Sequence[Any]]]) -> None:
        """Temporary table ``name`` from Python lists: ``{column: (sql type, values)}``, values as text for keys."""
        ints = {c for c, (t, _) in columns.items() if t in _INT_TYPES}
        cols = ", ".join(f"CAST(unnest(${c}::{t if c in ints else 'VARCHAR'}[]) AS {t}) AS {c}"
                         for c, (t, _) in columns.items())
        self.table(name, f"SELECT {cols}", {c: [int(x) for x in v] if c in ints else [str(x) for x in v]
                                            for c, (_, v) in columns.items()})

    def tool_names(self) -> list[tuple[int, str]]:
        """``(tool id, tool name)`` of every tool."""
        return self.rows("SELECT tool_id, tool FROM tools")

    SQL = {"hash": "hash({0})", "idiv": "{0} // {1}", "offsets": "unnest(range({0}))",
           "epoch_ms": "epoch_ms({0})::DOUBLE", "ordered_list": "list({0} ORDER BY {1})",
           "null_list": "NULL::{0}[]", "set_list": "list_sort(list(DISTINCT {0}))",
           "overlaps": "list_has_any({0}, {1})"}
    """The dialect's spelling of each construct that differs (``{0}``, ``{1}``: its arguments)."""

    @classmethod
    def hash(cls, *exprs: str) -> str:
        """SQL hashing ``exprs`` to an integer (the same values wherever this engine runs)."""
        return cls.SQL["hash"].format(", ".join(exprs))

    @classmethod
    def idiv(cls, a: str, b: str) -> str:
        """SQL integer division."""
        return cls.SQL["idiv"].format(a, b)

    @classmethod
    def offsets(cls, n: int) -> str:
        """SQL in a select list yielding one row per value ``0 .. n - 1``."""
        return cls.SQL["offsets"].format(int(n))

    @classmethod
    def epoch_ms(cls, ts: str) -> str:
        """SQL for a timestamp in epoch milliseconds, as DOUBLE."""
        return cls.SQL["epoch_ms"].format(ts)

    @classmethod
    def render(cls, construct: str, *args: str) -> str:
        """SQL for one of the constructs of :attr:`SQL`: ``ordered_list(value, order)`` (aggregate of
        ``value`` ordered by ``order``), ``null_list(item type)``, ``set_list(value)`` (aggregate: sorted
        distinct values), ``overlaps(a, b)`` (two lists share an element), ...

        Examples
        --------
        >>> DuckEngine.render("overlaps", "a", "b")
        'list_has_any(a, b)'
        """
        return cls.SQL[construct].format(*args)

    @staticmethod
    def int_list(values: Sequence[int]) -> str:
        """SQL literal list of integers."""
        return "[" + ", ".join(str(int(v)) for v in values) + "]::INTEGER[]"


class SparkEngine(DuckEngine):
    """The search's SQL on Spark SQL.

    Temporary tables are checkpointed results registered as temporary views, so
    a later table never recomputes the lineage of an earlier one. There is no
    ``POSITIONAL JOIN``: every level is grown by key.

    Examples
    --------
    >>> SparkEngine.idiv("r", "2048"), SparkEngine.offsets(2)
    ('r div 2048', 'explode(sequence(0, 2 - 1))')
    """

    name = "spark"
    positional = False
    hash_type = "BIGINT"
    SQL = {"hash": "xxhash64({0})", "idiv": "{0} div {1}", "offsets": "explode(sequence(0, {0} - 1))",
           "epoch_ms": "CAST(unix_millis({0}) AS DOUBLE)",
           "ordered_list": "transform(array_sort(collect_list(struct({1} AS o, {0} AS v))), x -> x.v)",
           "null_list": "CAST(NULL AS ARRAY<{0}>)", "set_list": "array_sort(collect_set({0}))",
           "overlaps": "arrays_overlap({0}, {1})"}

    def __init__(self, spark: Any):
        self.spark = spark
        self.con = None

    def _sql(self, sql: str, params: dict | None):
        # Spark marks named parameters ``:name``; the search writes ``$name`` for both engines.
        return self.spark.sql(_PARAM.sub(r":\1", sql), args=params or None)

    def run(self, sql: str, params: dict | None = None) -> None:
        self._sql(sql, params).collect()

    def rows(self, sql: str, params: dict | None = None) -> list[tuple]:
        return [tuple(r) for r in self._sql(sql, params).collect()]

    def one(self, sql: str, params: dict | None = None) -> tuple:
        rows = self._sql(sql, params).take(1)
        return tuple(rows[0]) if rows else None

    def table(self, name: str, body: str, params: dict | None = None) -> None:
        self._sql(body, params).localCheckpoint(eager=True).createOrReplaceTempView(name)

    def view(self, name: str, body: str) -> None:
        self.spark.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS {body}")

    def exists(self, name: str) -> bool:
        return bool(self.spark.catalog.tableExists(name))

    def drop(self, names: Sequence[str]) -> None:
        for name in names:
            self.spark.catalog.dropTempView(name)

    def columns(self, name: str) -> set[str]:
        return set(self.spark.table(name).columns)

    def frame(self, name: str, columns: dict[str, tuple[str, Sequence[Any]]]) -> None:
        names = list(columns)
        values = list(zip(*(v for _, v in columns.values())))
        schema = ", ".join(f"{c} STRING" for c in names)
        raw = self.spark.createDataFrame([tuple(str(x) for x in row) for row in values], schema)
        raw.createOrReplaceTempView("_cm_frame")
        cols = ", ".join(f"CAST({c} AS {'STRING' if t == 'VARCHAR' else t}) AS {c}" for c, (t, _) in columns.items())
        self.table(name, f"SELECT {cols} FROM _cm_frame")
        self.spark.catalog.dropTempView("_cm_frame")

    @staticmethod
    def int_list(values: Sequence[int]) -> str:
        return "array(" + ", ".join(f"CAST({int(v)} AS INT)" for v in values) + ")" if values \
            else "CAST(array() AS ARRAY<INT>)"


def engine_of(con: Any) -> DuckEngine:
    """The engine running SQL on ``con``: itself when already an engine, else DuckDB.

    Examples
    --------
    >>> engine_of(duckdb.connect()).name
    'duckdb'
    """
    return con if isinstance(con, DuckEngine) else DuckEngine(con)


def drop_temp(con: duckdb.DuckDBPyConnection, names: list[str]) -> None:
    """Drop the temporary views and tables among ``names`` (whichever kind each is; safe to call twice).

    Examples
    --------
    >>> con = duckdb.connect(); _ = con.execute("CREATE TEMP TABLE a AS SELECT 1 x")
    >>> drop_temp(con, ["a", "b"]); drop_temp(con, ["a"])
    """
    kinds = con.execute("""SELECT 'VIEW', view_name FROM duckdb_views() WHERE temporary AND list_contains($n, view_name)
                           UNION ALL SELECT 'TABLE', table_name FROM duckdb_tables()
                           WHERE temporary AND list_contains($n, table_name)""", {"n": names}).fetchall()
    # Views first: they read the tables.
    for kind, name in sorted(kinds, key=lambda r: r[0] != "VIEW"):
        con.execute(f"DROP {kind} IF EXISTS {name}")
