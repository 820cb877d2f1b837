"""Type-check and normalise pre-mapped records set-wise, and cut sessions at idle gaps.

Every importer produces the same *pre* relation: ``line``, ``raw``, ``pre_reason``
and one JSON column per field of :data:`chainmine.miner.ingest.canonical.PRE_FIELDS`. One SQL
statement turns it into typed columns plus a ``reason`` (NULL for good rows): the
first problem found, so a bad row is rejected with a specific message.
"""

from __future__ import annotations

import logging

import duckdb

from chainmine.miner.ingest.sqltext import MAX_DEPTH, json_kind, nested_deeper, starts_container, starts_object, strip

log = logging.getLogger(__name__)

MAX_RAW = 10_000
"""Characters of a rejected row's raw text kept in ``rejects``."""
DIGEST_SHOWN = 12
"""Hex digits of the source digest shown in a derived session id (the whole one is in ``session_source``)."""

NUMERIC = "('NUMBER')"
SCALAR = "('VARCHAR', 'NUMBER')"
OK_STATUS = "('ok', 'success', 'succeeded', 'successful', 'completed', 'done', 'pass', 'passed')"
ERROR_STATUS = "('error', 'failed', 'failure', 'fail', 'errored', 'timeout', 'cancelled', 'canceled')"
TRUE_TEXT = "('true', 't', 'yes', 'y', '1')"
FALSE_TEXT = "('false', 'f', 'no', 'n', '0')"
ZONE_RE = r"(?i)\d:\d\d(:\d\d(\.\d+)?)?\s*(z|utc|[+-]\d\d(:?\d\d)?)$"
NUMBER_RE = r"^\s*-?\d+(\.\d+)?([eE][+-]?\d+)?\s*$"
ISO_UTC_RE = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?Z"
# The plain TIMESTAMP cast reads these as UTC exactly as the TIMESTAMPTZ route does, at
# a fraction of its cost (no time zone library); they are the usual log timestamps.

# Fields whose empty string means "absent" (an empty tool is an error; a result may be "").
_BLANK_IS_MISSING = ("session_id", "ts", "seq", "success", "status", "error", "duration_ms", "latency",
                     "cost", "args", "call_id", "agent", "user", "session_outcome")
# Text kept exactly as logged (everything else is stripped of surrounding whitespace).
_VERBATIM = ("error", "result", "args")
_FIELDS = ("session_id", "ts", "seq", "tool", "success", "status", "error", "duration_ms",
           "latency", "cost", "args", "result", "call_id", "agent", "user", "session_outcome")


def _typed_columns(texts: bool, types: bool) -> str:
    cols = []
    for f in _FIELDS:
        j = f'"{f}"::VARCHAR'
        text = f'"{f}_text"' if texts else f"\"{f}\" ->> '$'"
        stripped = text if f in _VERBATIM else strip(f"({text})")
        if types:  # the importer knows each column's type (tables): no JSON needed
            cols.append(f'"{f}_type" AS {f}_jt')
            cols.append(f"CASE WHEN \"{f}_type\" = 'VARCHAR' THEN {stripped} ELSE {text} END AS {f}_s")
        else:
            # Minified JSON: a non-string value's JSON text is its text already.
            cols.append(f"{json_kind(j)} AS {f}_jt")
            cols.append(f"CASE WHEN left({j}, 1) <> '\"' THEN {j} ELSE {stripped} END AS {f}_s")
        if f in ("args", "result"):
            cols.append(f'"{f}" AS {f}_j')
    return ",\n".join(cols)


def _field_types() -> str:
    cols = []
    for f in _FIELDS:
        blank = f" OR ({f}_jt = 'VARCHAR' AND {f}_s = '')" if f in _BLANK_IS_MISSING else ""
        cols.append(f"CASE WHEN {f}_jt = 'NULL'{blank} THEN NULL ELSE {f}_jt END AS {f}_t")
    return ", ".join(cols)


def _number(f: str) -> str:
    return (f"CASE WHEN {f}_t IN {NUMERIC} THEN try_cast({f}_s AS DOUBLE) "
            f"WHEN {f}_t = 'VARCHAR' THEN try_cast({f}_s AS DOUBLE) END")


def _boolean(f: str) -> str:
    return (f"CASE WHEN {f}_t = 'BOOLEAN' THEN {f}_s = 'true' "
            f"WHEN {f}_t IN {NUMERIC} THEN CASE try_cast({f}_s AS DOUBLE) WHEN 1 THEN true WHEN 0 THEN false END "
            f"WHEN {f}_t = 'VARCHAR' THEN CASE WHEN lower({f}_s) IN {TRUE_TEXT} THEN true "
            f"WHEN lower({f}_s) IN {FALSE_TEXT} THEN false END END")


def _text(f: str) -> str:
    return f"CASE WHEN {f}_t IN {SCALAR} THEN {f}_s END"


def _epoch_micros(x: str) -> str:
    # The unit of an epoch number is decided by its magnitude: s, ms, us or ns.
    return (f"try(make_timestamp(CAST(round({x} * CASE WHEN abs({x}) < 1e11 THEN 1e6 "
            f"WHEN abs({x}) < 1e14 THEN 1e3 WHEN abs({x}) < 1e17 THEN 1 ELSE 1e-3 END) AS BIGINT)))")


def _ts_number() -> str:
    # A number never holds ':', a timestamp with a time always does: most skip the regex.
    return (f"CASE WHEN ts_t IN {NUMERIC} THEN try_cast(ts_s AS DOUBLE) "
            f"WHEN ts_t = 'VARCHAR' AND NOT contains(ts_s, ':') AND regexp_matches(ts_s, '{NUMBER_RE}') "
            f"THEN try_cast(ts_s AS DOUBLE) END")


def _parsed() -> str:
    # JSON held in a string: an invalid text gives NULL, and a valid one that starts with
    # '{' is an object, so no json_type pass. json_valid rather than try(json(...)): try()
    # evaluates a whole vector again row by row when one value fails (a result such as
    # "[draft] ..."), which cost 0.3 s per million results.
    return (f"CASE WHEN args_t = 'VARCHAR' AND {starts_object('args_s')} AND json_valid(args_s) "
            f"THEN json(args_s) END AS args_m, "
            f"CASE WHEN result_t = 'VARCHAR' AND {starts_container('result_s')} AND json_valid(result_s) "
            f"THEN json(result_s) END "
            f"AS result_m")


def _values(types: bool) -> str:
    # Tables hand over their own columns (JSON made only where needed); JSON importers JSON.
    args_j, result_j = ("to_json(args_j)", "to_json(result_j)") if types else ("args_j", "result_j")
    return f"""
        {_text('session_id')} AS session_id,
        CASE WHEN ts_num IS NOT NULL THEN {_epoch_micros('ts_num')}
             WHEN ts_t = 'VARCHAR' THEN CASE
                  WHEN ends_with(ts_s, 'Z') AND regexp_full_match(ts_s, '{ISO_UTC_RE}') THEN try_cast(ts_s AS TIMESTAMP)
                  WHEN regexp_matches(ts_s, '{ZONE_RE}')
                  THEN try_cast(upper(ts_s) AS TIMESTAMPTZ) AT TIME ZONE 'UTC'
                  ELSE try_cast(ts_s AS TIMESTAMP) END END AS ts,
        CASE WHEN seq_t IN {SCALAR} AND try_cast(seq_s AS DOUBLE) = floor(try_cast(seq_s AS DOUBLE))
             THEN try_cast(seq_s AS BIGINT) END AS seq,
        CASE WHEN tool_t = 'VARCHAR' THEN tool_s END AS tool,
        {_boolean('success')} AS success_b,
        CASE WHEN status_t = 'BOOLEAN' THEN status_s = 'true'
             WHEN status_t = 'VARCHAR' THEN CASE WHEN lower(status_s) IN {OK_STATUS} THEN true
                  WHEN lower(status_s) IN {ERROR_STATUS} THEN false END END AS status_b,
        CASE WHEN error_t IN {SCALAR} OR error_t IN ('OBJECT', 'ARRAY') THEN error_s
             WHEN error_t = 'BOOLEAN' AND error_s = 'true' THEN 'error' END AS error,
        {_number('duration_ms')} AS duration_n,
        {_number('latency')} AS latency_n,
        {_number('cost')} AS cost,
        CASE WHEN args_t = 'OBJECT' THEN {args_j} WHEN left(args_m, 1) = '{{' THEN args_m END AS args,
        CASE WHEN result_t IS NULL THEN NULL WHEN result_m IS NOT NULL THEN result_m ELSE {result_j} END AS result,
        {_text('call_id')} AS call_id,
        {_text('agent')} AS agent,
        {_text('user')} AS "user",
        CASE WHEN session_outcome_t = 'BOOLEAN' OR lower(session_outcome_s) IN ('true', 'false')
             THEN CAST(lower(session_outcome_s) = 'true' AS DOUBLE)
             ELSE {_number('session_outcome')} END AS session_outcome
    """


def _reason() -> str:
    checks = [
        ("pre_reason IS NOT NULL", "pre_reason"),
        ("tool_t IS NULL", "'no tool'"),
        ("tool_t <> 'VARCHAR'", "'tool is not a string'"),
        ("tool = ''", "'empty tool'"),
        ("session_id_t IS NOT NULL AND session_id IS NULL", "'session_id is not a string'"),
        ("ts_t IS NOT NULL AND ts IS NULL", "'unparseable ts'"),
        ("seq_t IS NOT NULL AND seq IS NULL", "'seq is not an integer'"),
        ("ts IS NULL AND seq IS NULL", "'neither ts nor seq'"),
        ("success_t IS NOT NULL AND success_b IS NULL", "'success is not true/false'"),
        ("status_t IS NOT NULL AND status_b IS NULL", "'unknown status (expected ok/error/success/failed)'"),
    ]
    for f, name in (("duration_n", "duration_ms"), ("latency_n", "latency"), ("cost", "cost")):
        checks.append((f"{name}_t IS NOT NULL AND ({f} IS NULL OR NOT isfinite({f}))", f"'{name} is not a number'"))
        checks.append((f"{f} < 0", f"'negative {name}'"))
    checks += [
        ("args_t IS NOT NULL AND args IS NULL", "'args is not a JSON object'"),
        ("session_outcome_t IS NOT NULL AND (session_outcome IS NULL OR NOT isfinite(session_outcome))",
         "'session_outcome is not a bool or number'"),
        (nested_deeper("args::VARCHAR"), f"'args nested deeper than {MAX_DEPTH} levels'"),
        (nested_deeper("result::VARCHAR"), f"'result nested deeper than {MAX_DEPTH} levels'"),
    ]
    for f in ("call_id", "agent", "user"):
        name = f'"{f}"' if f == "user" else f
        checks.append((f"{f}_t IS NOT NULL AND {name} IS NULL", f"'{f} is not a string'"))
    return "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r in checks) + " END"


def normalize_sql(pre_sql: str, *, texts: bool = False, types: bool = False, raw_text: str = "raw",
                  contexts: bool = False, origins: bool = False,
                  records: bool = False) -> str:
    """SQL turning a pre relation into typed rows with a ``reason`` for bad ones.

    Output columns: ``line``, ``reason``, ``raw`` (bad rows only, truncated to
    :data:`MAX_RAW` characters) and the canonical typed fields; ``session_id`` is
    NULL where the log had none (see :func:`assign_sessions`). With ``texts`` the pre
    relation also carries each field's text as ``<field>_text`` (strings unescaped),
    which saves extracting it here; with ``types`` also ``<field>_type`` (as
    :func:`json_kind` names them), and then ``args`` and ``result`` may be the table's own
    columns (any type ``to_json`` takes), turned into JSON only for the rows that need it.
    ``raw_text`` renders the ``raw`` column as text
    (for sources whose ``raw`` is a row struct); it runs for rejected rows only. With
    ``records`` the pre relation has a ``session_record`` column (conversations: the
    record a call's session is when it has no id) and ``by_position`` (its result was
    paired by position, see :mod:`~chainmine.miner.ingest.pairing`), passed on; else they are NULL.
    With ``contexts`` it has a ``context`` text column (the conversation text the agent
    had read before the call), passed on; else it is NULL. With ``origins`` it has an
    ``origin`` column (``'run'`` for a chainmine run's own calls, else NULL: a log call),
    passed on; else it is NULL.

    Examples
    --------
    >>> import duckdb
    >>> from chainmine.miner.ingest.canonical import canonical_sql
    >>> con = duckdb.connect()
    >>> raw = "(SELECT 1 AS line, '{\\"tool\\": \\"a\\", \\"ts\\": 1700000000, \\"status\\": \\"failed\\"}' AS raw)"
    >>> con.execute(f"SELECT tool, ts, success, reason FROM ({normalize_sql(canonical_sql(raw), texts=True)})").fetchall()
    [('a', datetime.datetime(2023, 11, 14, 22, 13, 20), False, None)]
    """
    record = ("session_record::BIGINT AS session_record, by_position::BOOLEAN AS by_position" if records
              else "NULL::BIGINT AS session_record, NULL::BOOLEAN AS by_position")
    passed = ", session_record, by_position" if records else ""
    context = "left(nullif(trim(context::VARCHAR), ''), 20000) AS context" if contexts else "NULL::VARCHAR AS context"
    passed += ", context" if contexts else ""
    origin = "origin::VARCHAR AS origin" if origins else "NULL::VARCHAR AS origin"
    passed += ", origin" if origins else ""
    return f"""
        SELECT line, reason, CASE WHEN reason IS NOT NULL THEN left({raw_text}, {MAX_RAW}) END AS raw,
               session_id, ts, seq, tool,
               coalesce(success_b, status_b, error IS NULL) AS success,
               error, coalesce(duration_n, latency_n * 1000) AS duration_ms, cost, args, result,
               call_id, agent, "user", session_outcome, {record}, {context}, {origin}
        FROM (SELECT *, {_reason()} AS reason
              FROM (SELECT *, {_values(types)}
                    FROM (SELECT *, {_ts_number()} AS ts_num, {_parsed()}
                          FROM (SELECT *, {_field_types()}
                                FROM (SELECT line, raw, pre_reason, {_typed_columns(texts, types)}{passed}
                                      FROM ({pre_sql}))))))
    """


def assign_sessions(con: duckdb.DuckDBPyConnection, table: str, *, stem: str, digest: str, gap_s: float) -> int:
    """Give every good row of ``table`` without a ``session_id`` one, and its ``session_source``; returns how many.

    Rows that carry a ``session_id`` keep it. The calls of an id-less conversation
    (``session_record`` set) form one session, ``<stem>:<d>:<record>``. The others are
    grouped per ``agent``/``user`` (per file when both are missing), ordered like the
    store orders calls, and a new session starts after an idle gap longer than
    ``gap_s`` seconds: ``<stem>:<d>:<agent/user>:<n>`` (``<stem>:<d>:<n>`` without either).
    ``<d>`` is the head of ``digest``, which identifies the rows without a session id
    (see :mod:`~chainmine.miner.ingest.ids`): sources with other rows never share a session, and
    the same rows always get the same ids. ``session_source`` is ``digest`` (plus
    ``:<record>`` for a conversation): what each call's id hashes instead of the cut.
    ``table`` is a table the caller created (never user text); it is updated in place,
    so later passes over it read the ids instead of cutting again.

    Notes
    -----
    Two window passes over the rows without a session id, O(k log k) for k of them;
    nothing when every row has one.

    Examples
    --------
    >>> import datetime as dt
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (1, TIMESTAMP '2024-01-01 10:00', NULL), "
    ...                 "(2, TIMESTAMP '2024-01-01 10:10', NULL), (3, TIMESTAMP '2024-01-01 12:00', NULL), "
    ...                 "(4, NULL, 4)) v(line, ts, session_record)")
    >>> _ = con.execute("ALTER TABLE t ADD COLUMN session_id VARCHAR; ALTER TABLE t ADD COLUMN seq BIGINT; "
    ...                 "ALTER TABLE t ADD COLUMN agent VARCHAR; ALTER TABLE t ADD COLUMN \\"user\\" VARCHAR; "
    ...                 "ALTER TABLE t ADD COLUMN reason VARCHAR; ALTER TABLE t ADD COLUMN session_source VARCHAR")
    >>> assign_sessions(con, "t", stem="f", digest="3f2a9c1b4d5e6f708192a3b4c5d6e7f8", gap_s=1800)
    4
    >>> con.execute("SELECT line, session_id, session_source FROM t ORDER BY line").fetchall()[2:]
    [(3, 'f:3f2a9c1b4d5e:2', '3f2a9c1b4d5e6f708192a3b4c5d6e7f8'), (4, 'f:3f2a9c1b4d5e:4', '3f2a9c1b4d5e6f708192a3b4c5d6e7f8:4')]
    """
    order = "ts NULLS LAST, seq NULLS LAST, line"
    window = f'PARTITION BY agent, "user" ORDER BY {order}'
    values = {"prefix": f"{stem}:{digest[:DIGEST_SHOWN]}", "digest": digest, "gap": float(gap_s)}
    cut = con.execute(f"""
        UPDATE {table} SET session_id = n.session_id, session_source = $digest
        FROM (SELECT rid, $prefix || ':' || CASE WHEN gkey <> '' THEN gkey || ':' ELSE '' END
                          || sum(CASE WHEN idle > $gap THEN 1 ELSE 0 END) OVER ({window} ROWS UNBOUNDED PRECEDING) + 1
                          AS session_id
              FROM (SELECT rowid AS rid, ts, seq, line, agent, "user", concat_ws('/', agent, "user") AS gkey,
                           epoch(ts) - lag(epoch(ts)) OVER ({window}) AS idle
                    FROM {table} WHERE reason IS NULL AND session_id IS NULL AND session_record IS NULL)) n
        WHERE {table}.rowid = n.rid
    """, values).fetchone()[0]
    numbered = con.execute(f"""
        UPDATE {table} SET session_id = $prefix || ':' || session_record,
                           session_source = $digest || ':' || session_record
        WHERE reason IS NULL AND session_id IS NULL AND session_record IS NOT NULL
    """, {k: values[k] for k in ("prefix", "digest")}).fetchone()[0]
    return cut + numbered
