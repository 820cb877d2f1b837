"""Content-hash ids of tool calls: the hash, the engine fingerprint it depends on, the rehash.

A call's ``id`` is DuckDB's ``hash()`` over its content (:data:`HASHED`), widened to
``UHUGEINT``. It costs a tenth of an ``md5`` over the rendered row, but DuckDB does not
promise the same ``hash()`` values across versions or platforms. So the store keeps a
fingerprint in ``meta``: :data:`META_HASH` holds the hash of a fixed probe row under the
engine that wrote the ids (:data:`META_ENGINE` its version, for people reading the table).
When the current engine hashes the probe differently, or a store written before this
scheme has no fingerprint, :func:`ensure_id_scheme` recomputes every stored id from the
stored content, so re-ingesting a file still adds nothing after an upgrade.

What a call's identity may not depend on, since re-ingesting the same file must add
nothing whatever the options:

* **How its session was cut.** A session id the ingest derives (rows without one are cut
  at idle gaps, id-less conversations are numbered) depends on ``--session-gap``. Such a
  call keeps in ``calls.session_source`` what its session comes from: the digest of the
  source's rows without a session id (md5 of each row, combined; no engine hash, so a
  re-ingest on another engine finds the same text), plus ``:<record>`` for a
  conversation. Its id hashes that and its own content (:func:`call_id_sql`), never the
  derived id, and both are stored, so the id can be recomputed. (Calls stored before
  ``session_source`` existed hashed their derived id, which was named after the file
  only: the first re-ingest of such a file stores its rows without session ids once more.)
* **Whether it was masked.** With ``--redact`` and the store's own key (kept in ``meta``,
  so anyone who can read the store can test guesses against the tokens anyway) the id of
  a call that masking changed is the hash of its content *before* masking, equal to the
  id the same call gets without ``--redact``; ``calls.unmasked_id`` marks it. That content
  is not stored, so such an id cannot be recomputed: after an engine change these calls
  keep their old ids (a later re-ingest of their file would store them again). With a
  key of your own the tokens cannot be guessed, and an id hashing the unmasked row would
  let anyone holding the store test a guess at the secret, so the id is the hash of the
  masked content as stored; such a file ingested again without ``--redact`` (or with
  another key) is then stored again.

Ids only nominate duplicates: :mod:`~chainmine.miner.ingest.writer` confirms a match by comparing
the content itself (:func:`content_equal_sql`: the session identity and every column,
where one side is masked every column masking leaves alone), so a hash collision never
drops a distinct call.
"""

from __future__ import annotations

import logging

import duckdb

log = logging.getLogger(__name__)

HASHED = ("session_id", "ts", "seq", "tool", "success", "error", "duration_ms", "cost",
          "args", "result", "call_id", "agent", "user", "session_outcome")
"""The content a call's id is the hash of: equal content, equal id."""
CONTENT = HASHED[1:]
"""The call's own content: everything hashed but its session."""
MASKED = ("error", "args", "result")
"""The hashed columns ``--redact`` may change."""

META_HASH = "call_id_hash"
META_ENGINE = "call_id_engine"

# One row of every hashed type with values and one of NULLs: a change in how the engine
# hashes any of them changes the fingerprint.
_PROBE = """
    SELECT * FROM (VALUES
        ('s1', TIMESTAMP '2024-05-01 10:00:00.123456', 7::BIGINT, 'get_user', true, 'Timeout', 12.5::DOUBLE,
         0.25::DOUBLE, '{"id":7}'::JSON, '[1,"a"]'::JSON, 'c1', 'bot', 'ana', 1.0::DOUBLE, NULL::VARCHAR,
         NULL::BOOLEAN),
        (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
    ) v(session_id, ts, seq, tool, success, error, duration_ms, cost, args, result, call_id, agent, "user",
        session_outcome, session_source, unmasked_id)
"""


def _columns(names: tuple[str, ...], alias: str, tool: str | None) -> str:
    return ", ".join(tool if c == "tool" and tool else f'{alias}"{c}"' for c in names)


def content_hash_sql(alias: str = "", tool: str | None = None) -> str:
    """SQL hash (``UBIGINT``) of a call's own content (:data:`CONTENT`), the part of a derived id known per row.

    Examples
    --------
    >>> con = duckdb.connect()
    >>> q = f"SELECT {content_hash_sql()} FROM ({_PROBE}) ORDER BY session_id"
    >>> len(set(con.execute(q).fetchall()))
    2
    """
    return f"hash({_columns(CONTENT, alias, tool)})"


def given_id_sql(alias: str = "", tool: str | None = None) -> str:
    """SQL id (``UHUGEINT``) of a call whose log gave its session id: the hash of :data:`HASHED`.

    Examples
    --------
    >>> con = duckdb.connect()
    >>> q = f"SELECT {given_id_sql()} = {call_id_sql()} FROM ({_PROBE})"
    >>> con.execute(q).fetchall()
    [(True,), (True,)]
    """
    return f"hash({_columns(HASHED, alias, tool)})::UHUGEINT"


def derived_id_sql(source: str, content_hash: str) -> str:
    """SQL id of a call whose session id was derived: the hash of its ``session_source`` and content hash.

    Examples
    --------
    >>> con = duckdb.connect()
    >>> con.execute(f"SELECT {derived_id_sql('a', 'h')} <> {derived_id_sql('b', 'h')} "
    ...             "FROM (SELECT 'x' AS a, 'y' AS b, 7::UBIGINT AS h)").fetchone()[0]
    True
    """
    return f"hash({source}, {content_hash})::UHUGEINT"


def call_id_sql(alias: str = "", tool: str | None = None) -> str:
    """SQL expression of the content-hash id (``UHUGEINT``) of a stored call.

    :func:`given_id_sql` when ``session_source`` is NULL, else :func:`derived_id_sql`.
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
    derived = derived_id_sql(f'{alias}"session_source"', content_hash_sql(alias, tool))
    return (f'CASE WHEN {alias}"session_source" IS NULL THEN {given_id_sql(alias, tool)} '
            f"ELSE {derived} END")


def content_equal_sql(left: str, right: str, *, right_tool: str | None = None) -> str:
    """SQL predicate: rows ``left`` and ``right`` (aliases) are the same call.

    Same session identity (the given id, or the ``session_source`` of a derived one)
    and the same :data:`CONTENT`; where either side has an ``unmasked_id`` the columns
    masking changes (:data:`MASKED`) are not compared, since one side no longer holds
    them. NULLs compare equal, JSON compares as its stored text. ``right_tool``
    replaces ``right.tool`` (e.g. a joined tool name for ``calls``).

    Examples
    --------
    >>> con = duckdb.connect()
    >>> p = f"({_PROBE})"
    >>> con.execute(f"SELECT count(*) FROM {p} a JOIN {p} b ON {content_equal_sql('a', 'b')}").fetchone()[0]
    2
    """
    def same(c: str) -> str:
        r = right_tool if c == "tool" and right_tool else f'{right}."{c}"'
        cast = "::VARCHAR" if c in ("args", "result") else ""
        return f'{left}."{c}"{cast} IS NOT DISTINCT FROM {r}{cast}'

    session = (f"coalesce({left}.session_source, {left}.session_id) IS NOT DISTINCT FROM "
               f"coalesce({right}.session_source, {right}.session_id) AND ({left}.session_source IS NULL) = ({right}.session_source IS NULL)")
    kept = " AND ".join(same(c) for c in CONTENT if c not in MASKED)
    masked = " AND ".join(same(c) for c in MASKED)
    either = f"coalesce({left}.unmasked_id, false) OR coalesce({right}.unmasked_id, false)"
    return f"{session} AND {kept} AND ({either} OR ({masked}))"


def identity_columns() -> str:
    """SQL list of what makes two calls of one batch the same (for ``PARTITION BY``).

    Examples
    --------
    >>> identity_columns().startswith("coalesce(session_source, session_id), session_source IS NULL, ")
    True
    """
    return ", ".join(["coalesce(session_source, session_id)", "session_source IS NULL"]
                     + [f'"{c}"' for c in CONTENT])


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
    stored yet and ``calls`` has rows) all ids are recomputed from the stored content,
    except those of calls whose content before masking is gone (``unmasked_id``), which
    are kept. Then the fingerprint and the DuckDB version are recorded. Runs in the
    caller's transaction.

    Notes
    -----
    O(1) when the fingerprint matches (the usual case); one pass over ``calls`` otherwise.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
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
                                   FROM tools t WHERE t.tool_id = calls.tool_id
                                   AND NOT coalesce(calls.unmasked_id, false)""").fetchone()[0]
        kept = con.execute("SELECT count(*) FROM calls WHERE unmasked_id").fetchone()[0]
        log.warning("call ids were made by another hash (engine %s): recomputed %d ids, kept %d of masked calls",
                    _stored_engine(con), rehashed, kept)
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?), (?, ?)",
                [META_HASH, current, META_ENGINE, duckdb.__version__])
    return rehashed


def _stored_engine(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [META_ENGINE]).fetchone()
    return row[0] if row else "unknown"
