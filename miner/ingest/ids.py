"""Content-hash ids of tool calls: the hash, the engine fingerprint it depends on, the rehash.

A call's ``id`` is DuckDB's ``hash()`` over its content (:data:`HASHED`), widened to
``UHUGEINT``. It costs a tenth of an ``md5`` over the rendered row, but DuckDB does not
promise the same ``hash()`` values across versions or platforms. So the store keeps a
fingerprint in ``meta``: :data:`META_HASH` holds the hash of a fixed probe row under the
engine that wrote the ids (:data:`META_ENGINE` its version, for people reading the table).
When the current engine hashes the probe differently, or a store written before this
scheme has no fingerprint, :func:`ensure_id_scheme` recomputes every stored id from the
stored content (``calls`` keeps everything that is hashed), so re-ingesting a file still
adds nothing after an upgrade.

Ids only nominate duplicates: :mod:`~miner.ingest.writer` confirms a match by comparing
the content itself, so a hash collision never drops a distinct call.
"""

from __future__ import annotations

import logging

import duckdb

log = logging.getLogger(__name__)

HASHED = ("session_id", "ts", "seq", "tool", "success", "error", "duration_ms", "cost",
          "args", "result", "call_id", "agent", "user", "session_outcome")
"""The content a call's id is the hash of: equal content, equal id."""

META_HASH = "call_id_hash"
META_ENGINE = "call_id_engine"

# One row of every hashed type with values and one of NULLs: a change in how the engine
# hashes any of them changes the fingerprint.
_PROBE = """
    SELECT * FROM (VALUES
        ('s1', TIMESTAMP '2024-05-01 10:00:00.123456', 7::BIGINT, 'get_user', true, 'Timeout', 12.5::DOUBLE,
         0.25::DOUBLE, '{"id":7}'::JSON, '[1,"a"]'::JSON, 'c1', 'bot', 'ana', 1.0::DOUBLE),
        (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
    ) v(session_id, ts, seq, tool, success, error, duration_ms, cost, args, result, call_id, agent, "user",
        session_outcome)
"""


def call_id_sql(alias: str = "", tool: str | None = None) -> str:
    """SQL expression of the content-hash id (``UHUGEINT``) over the :data:`HASHED` columns.

    ``alias`` qualifies the columns (``"c."``); ``tool`` replaces the tool column (for
    ``calls``, which keeps a ``tool_id``). The columns must have the types ``calls`` has
    (``ts`` TIMESTAMP, ``seq`` BIGINT, ``args``/``result`` JSON, ...): the hash depends on them.

    Examples
    --------
    >>> con = duckdb.connect()
    >>> q = f"SELECT {call_id_sql()} FROM ({_PROBE}) ORDER BY session_id"
    >>> a = con.execute(q).fetchall(); a == con.execute(q).fetchall() and a[0] != a[1]
    True
    """
    cols = [tool if c == "tool" and tool else f'{alias}"{c}"' for c in HASHED]
    return f"hash({', '.join(cols)})::UHUGEINT"


def content_equal_sql(left: str, right: str, *, right_tool: str | None = None) -> str:
    """SQL predicate: rows ``left`` and ``right`` (aliases) hold the same :data:`HASHED` content.

    NULLs compare equal, JSON compares as its stored text. ``right_tool`` replaces
    ``right.tool`` (e.g. a joined tool name for ``calls``).

    Examples
    --------
    >>> con = duckdb.connect()
    >>> p = f"({_PROBE})"
    >>> con.execute(f"SELECT count(*) FROM {p} a JOIN {p} b ON {content_equal_sql('a', 'b')}").fetchone()[0]
    2
    """
    parts = []
    for c in HASHED:
        r = right_tool if c == "tool" and right_tool else f'{right}."{c}"'
        cast = "::VARCHAR" if c in ("args", "result") else ""
        parts.append(f'{left}."{c}"{cast} IS NOT DISTINCT FROM {r}{cast}')
    return " AND ".join(parts)


def fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """How this engine hashes call content: the combined id of the probe rows, as text.

    Examples
    --------
    >>> con = duckdb.connect()
    >>> fingerprint(con) == fingerprint(duckdb.connect())
    True
    """
    return con.execute(f"SELECT string_agg(h::VARCHAR, ':' ORDER BY h) FROM (SELECT {call_id_sql()} AS h "
                       f"FROM ({_PROBE}))").fetchone()[0]


def ensure_id_scheme(con: duckdb.DuckDBPyConnection) -> int:
    """Make every stored id the current engine's content hash; returns the calls rehashed.

    Compares :func:`fingerprint` with the one in ``meta``; when they differ (or none is
    stored yet and ``calls`` has rows) all ids are recomputed from the stored content.
    Then the fingerprint and the DuckDB version are recorded. Runs in the caller's
    transaction.

    Notes
    -----
    O(1) when the fingerprint matches (the usual case); one pass over ``calls`` otherwise.

    Examples
    --------
    >>> from miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> ensure_id_scheme(con), ensure_id_scheme(con)
    (0, 0)
    >>> con.execute("SELECT value FROM meta WHERE key = ?", [META_ENGINE]).fetchone()[0] == duckdb.__version__
    True
    """
    current = fingerprint(con)
    row = con.execute("SELECT value FROM meta WHERE key = ?", [META_HASH]).fetchone()
    if row is not None and row[0] == current:
        return 0
    rehashed = 0
    if con.execute("SELECT EXISTS (SELECT 1 FROM calls)").fetchone()[0]:
        rehashed = con.execute(f"""UPDATE calls SET id = {call_id_sql('calls.', tool='t.tool')}
                                   FROM tools t WHERE t.tool_id = calls.tool_id""").fetchone()[0]
        log.warning("call ids were made by another hash (engine %s): recomputed %d ids", _stored_engine(con),
                    rehashed)
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?), (?, ?)",
                [META_HASH, current, META_ENGINE, duckdb.__version__])
    return rehashed


def _stored_engine(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [META_ENGINE]).fetchone()
    return row[0] if row else "unknown"
