"""The runs in a chainmine run trace: ``invoke_workflow`` root spans into the ``runs`` table.

``chainmine run --trace-file`` writes each run as a GenAI ``invoke_workflow``
span (instrumentation scope ``chainmine``, attribute ``chainmine.run_id``) over
one ``execute_tool`` span per call. The calls are read by :mod:`miner.ingest.otel`
(``origin = 'run'``); this module reads the root spans of the same lines, so the
ingested run is listed by ``chainmine runs`` with its workflow, status, times and
cost. A run already in ``runs`` (recorded live, or ingested before) is kept as
it is. A resumed run has one root span per attempt: the last one to end wins.
"""

from __future__ import annotations

import duckdb

from miner.ingest.otel import RUN_ID, RUN_SCOPE, attribute


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
               nullif(sp ->> '$.status.message', '') AS error,
               make_timestamp(({start} // 1000)::BIGINT) AS started_at,
               make_timestamp(({end} // 1000)::BIGINT) AS finished_at,
               (({end} - {start}) / 1e6)::DOUBLE AS duration_ms,
               coalesce(try_cast({text('chainmine.run.cost')} AS DOUBLE), 0.0) AS total_cost
        FROM spans
        WHERE {text('gen_ai.operation.name')} = 'invoke_workflow' AND {attribute(RUN_ID)} IS NOT NULL
    """


def store_run_roots(con: duckdb.DuckDBPyConnection, roots_sql: str, values: dict) -> int:
    """Insert the runs ``roots_sql`` (from :func:`run_roots_sql`) finds that ``runs`` lacks; returns how many.

    Examples
    --------
    >>> from miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> store_run_roots(con, "SELECT 'r1' AS run_id, 'w' AS workflow, NULL AS workflow_version, 'completed' AS status, "
    ...                 "NULL::JSON AS inputs, NULL AS error, NULL::TIMESTAMP AS started_at, "
    ...                 "NULL::TIMESTAMP AS finished_at, 5.0 AS duration_ms, 0.0 AS total_cost", {})
    1
    >>> con.execute("SELECT run_id, workflow, status FROM runs").fetchall()
    [('r1', 'w', 'completed')]
    """
    sql = f"""
        INSERT INTO runs (run_id, workflow, workflow_version, status, inputs, error, started_at, finished_at,
                          duration_ms, total_cost)
        SELECT run_id, coalesce(workflow, '?'), workflow_version, status, inputs, error, started_at, finished_at,
               duration_ms, total_cost
        FROM ({roots_sql})
        WHERE run_id IS NOT NULL AND run_id NOT IN (SELECT run_id FROM runs)
        QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY finished_at DESC NULLS LAST) = 1
    """
    return con.execute(sql, {k: v for k, v in values.items() if f"${k}" in sql}).fetchone()[0]
