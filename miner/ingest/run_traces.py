"""The runs in a chainmine run trace: ``invoke_workflow`` root spans into the ``runs`` table.

``chainmine run --trace-file`` writes each run as a GenAI ``invoke_workflow``
span (instrumentation scope ``chainmine``, attribute ``chainmine.run_id``) over
one ``execute_tool`` span per call. The calls are read by :mod:`chainmine.miner.ingest.otel`
(``origin = 'run'``); this module reads the root spans of the same lines, so the
ingested run is listed by ``chainmine runs`` with its workflow, status, times and
cost, and its steps come from the root's ``chainmine.step`` events. A run already
in ``runs`` (recorded live, or ingested before) is kept as it is. A resumed run has
one root span per attempt: the last one to end wins, and each step is the state the
latest attempt reported for it.
"""

from __future__ import annotations

import duckdb

from chainmine.miner.ingest.otel import RUN_ID, RUN_SCOPE, attribute

STEP_EVENT = "chainmine.step"
"""Name of the span event that carries one step's final state (:mod:`chainmine.library.runner.tracing`)."""
_ROOTS = "_ing_run_roots"


def run_roots_sql(raw_sql: str) -> str:
    """SQL: one row per chainmine run found in the ``(line, raw)`` OTLP/JSON relation ``raw_sql``.

    Examples
    --------
    >>> span = ('{"name": "invoke_workflow w", "startTimeUnixNano": "1700000000000000000", '
    ...         '"endTimeUnixNano": "1700000000500000000", "status": {"code": 2, "message": "step a failed"}, '
    ...         '"attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_workflow"}}, '
    ...         '{"key": "gen_ai.workflow.name", "value": {"stringValue": "w"}}, '
    ...         '{"key": "chainmine.run_id", "value": {"stringValue": "r1"}}, '
    ...         '{"key": "chainmine.run.status", "value": {"stringValue": "failed"}}]}')
    >>> line = '{"resourceSpans": [{"scopeSpans": [{"scope": {"name": "chainmine"}, "spans": [' + span + ']}]}]}'
    >>> duckdb.sql(f"SELECT run_id, workflow, status, error, duration_ms FROM ({run_roots_sql(repr(line).join(['(SELECT 1 AS line, ', ' AS raw)']))})").fetchall()
    [('r1', 'w', 'failed', 'step a failed', 500.0)]
    """
    start, end = "try_cast(sp ->> 'startTimeUnixNano' AS HUGEINT)", "try_cast(sp ->> 'endTimeUnixNano' AS HUGEINT)"

    def text(key: str) -> str:
        return f"({attribute(key)} ->> '$')"

    return f"""
        WITH scopes AS (
            SELECT unnest(json_extract(raw, '$.resourceSpans[*].scopeSpans[*]')) AS ss
            FROM {raw_sql} AS r
            WHERE json_valid(raw) AND json_type(raw, '$.resourceSpans') = 'ARRAY'),
        spans AS (
            SELECT sp, json_extract(sp, '$.attributes[*]') AS attrs
            FROM (SELECT unnest(json_extract(ss, '$.spans[*]')) AS sp FROM scopes
                  WHERE (ss ->> '$.scope.name') = '{RUN_SCOPE}'))
        SELECT {text(RUN_ID)} AS run_id,
               coalesce({text('gen_ai.workflow.name')}, regexp_extract(sp ->> 'name', '^invoke_workflow\\s+(.+)$', 1))
                   AS workflow,
               try_cast({text('chainmine.workflow.version')} AS INTEGER) AS workflow_version,
               coalesce({text('chainmine.run.status')},
                        CASE WHEN (sp ->> '$.status.code') IN ('2', 'STATUS_CODE_ERROR') THEN 'failed'
                             ELSE 'completed' END) AS status,
               try_cast({text('chainmine.run.inputs')} AS JSON) AS inputs,
               try_cast({text('chainmine.run.outputs')} AS JSON) AS outputs,
               nullif(sp ->> '$.status.message', '') AS error,
               make_timestamp(({start} // 1000)::BIGINT) AS started_at,
               make_timestamp(({end} // 1000)::BIGINT) AS finished_at,
               (({end} - {start}) / 1e6)::DOUBLE AS duration_ms,
               coalesce(try_cast({text('chainmine.run.cost')} AS DOUBLE), 0.0) AS total_cost,
               to_json(list_filter(coalesce(json_extract(sp, '$.events[*]'), []),
                                   lambda e: (e ->> 'name') = '{STEP_EVENT}')) AS step_events
        FROM spans
        WHERE {text('gen_ai.operation.name')} = 'invoke_workflow' AND {attribute(RUN_ID)} IS NOT NULL
    """


def store_run_roots(con: duckdb.DuckDBPyConnection, roots_sql: str, values: dict) -> int:
    """Insert the runs ``roots_sql`` (from :func:`run_roots_sql`) finds that ``runs`` lacks, with their steps.

    Returns how many runs were added.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> store_run_roots(con, "SELECT 'r1' AS run_id, 'w' AS workflow, NULL AS workflow_version, 'completed' AS status, "
    ...                 "NULL::JSON AS inputs, NULL::JSON AS outputs, NULL AS error, NULL::TIMESTAMP AS started_at, "
    ...                 "NULL::TIMESTAMP AS finished_at, 5.0 AS duration_ms, 0.0 AS total_cost, NULL::JSON AS step_events", {})
    1
    >>> con.execute("SELECT run_id, workflow, status FROM runs").fetchall()
    [('r1', 'w', 'completed')]
    """
    create = f"""CREATE OR REPLACE TEMP TABLE {_ROOTS} AS
                 SELECT * FROM ({roots_sql}) WHERE run_id IS NOT NULL AND run_id NOT IN (SELECT run_id FROM runs)"""
    con.execute(create, {k: v for k, v in values.items() if f"${k}" in create})
    try:
        added = con.execute(f"""
            INSERT INTO runs (run_id, workflow, workflow_version, status, inputs, outputs, error, started_at,
                              finished_at, duration_ms, total_cost)
            SELECT run_id, coalesce(workflow, '?'), workflow_version, status, inputs, outputs, error, started_at,
                   finished_at, duration_ms, total_cost
            FROM {_ROOTS}
            QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY finished_at DESC NULLS LAST) = 1
        """).fetchone()[0]
        con.execute(_steps_sql())
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_ROOTS}")
    return added


def _steps_sql() -> str:
    def text(key: str) -> str:
        return f"({attribute(key)} ->> '$')"

    start = "try_cast(ev ->> 'timeUnixNano' AS HUGEINT)"
    duration = f"try_cast({text('chainmine.step.duration_ms')} AS DOUBLE)"
    return f"""
        INSERT INTO run_steps (run_id, step_id, status, tool, attempts, parameters, result, error, started_at,
                               finished_at, duration_ms, cost)
        SELECT run_id, step_id, status, tool, attempts, parameters, result, error, started_at,
               started_at + to_microseconds(coalesce(duration_ms, 0)::BIGINT * 1000), duration_ms, cost
        FROM (SELECT run_id, root_end, {text('chainmine.step.id')} AS step_id,
                     coalesce({text('chainmine.step.status')}, 'completed') AS status,
                     {text('gen_ai.tool.name')} AS tool,
                     try_cast({text('chainmine.step.attempts')} AS INTEGER) AS attempts,
                     try_cast({text('chainmine.step.parameters')} AS JSON) AS parameters,
                     try_cast({text('chainmine.step.result')} AS JSON) AS result,
                     {text('chainmine.step.error')} AS error,
                     make_timestamp(({start} // 1000)::BIGINT) AS started_at,
                     {duration} AS duration_ms, try_cast({text('chainmine.step.cost')} AS DOUBLE) AS cost
              FROM (SELECT run_id, finished_at AS root_end, ev, json_extract(ev, '$.attributes[*]') AS attrs
                    FROM (SELECT run_id, finished_at, unnest(json_extract(step_events, '$[*]')) AS ev
                          FROM {_ROOTS} WHERE step_events IS NOT NULL)))
        WHERE step_id IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY run_id, step_id ORDER BY root_end DESC NULLS LAST) = 1
    """
