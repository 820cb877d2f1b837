"""LangSmith run exports (JSON Lines, JSON, CSV, Parquet): ``run_type = "tool"`` runs, in SQL.

A run export holds one record per run: ``id``, ``name``, ``run_type`` (``tool``,
``llm``, ``chain``, ``retriever``, ...), ``trace_id``, ``start_time``/``end_time``,
``inputs``, ``outputs``, ``error``, ``status`` and ``total_cost``. Tool runs become
calls; every other run is skipped (counted, not rejected). The trace is the
session: LangSmith's own ``session_id`` names the tracing *project*, not a
conversation, so it is not used. ``inputs`` is the tool's argument object;
``outputs`` of the usual ``{"output": ...}`` shape gives its ``output`` as the
result. In CSV cells (and some Parquet exports) these objects arrive as JSON text,
which is parsed.
"""

from __future__ import annotations

import logging

from chainmine.miner.ingest.records import as_json, duration_ms, present, records_cte, skipped

log = logging.getLogger(__name__)


def langsmith_sql(raw_sql: str) -> str:
    """Pre relation for LangSmith runs from a ``(line, raw)`` relation of JSON records.

    Examples
    --------
    >>> import duckdb
    >>> run = ('{"id": "r1", "trace_id": "t1", "name": "search", "run_type": "tool", '
    ...        '"start_time": "2024-05-01T10:00:00", "end_time": "2024-05-01T10:00:00.5", '
    ...        '"inputs": {"q": "x"}, "outputs": {"output": "3 hits"}, "error": null}')
    >>> llm = '{"id": "r2", "trace_id": "t1", "name": "gpt", "run_type": "llm"}'
    >>> sql = langsmith_sql(f"(SELECT * FROM (VALUES (1, '{run}'), (2, '{llm}')) v(line, raw))")
    >>> duckdb.sql(f"SELECT line, session_id, tool, success, duration_ms, args, result, pre_reason "
    ...            f"FROM ({sql}) ORDER BY line").fetchall()
    [(1, '"t1"', '"search"', 'true', '500.0', '{"q":"x"}', '"3 hits"', None), (2, '"t1"', '"gpt"', 'true', None, None, None, 'skipped: llm run')]
    """
    err = "nullif(nullif(j ->> 'error', ''), 'null')"
    failed = f"({err} IS NOT NULL OR lower(coalesce(j ->> 'status', '')) = 'error')"
    outputs = as_json("j -> 'outputs'")
    return f"""
        WITH {records_cte(raw_sql, present('$.run_type'), 'no run_type (not a LangSmith run)')},
        runs AS (SELECT line, raw, j, {outputs} AS outs FROM recs WHERE pre_reason IS NULL)
        SELECT line, left(raw, 10000) AS raw,
               CASE WHEN lower(j ->> 'run_type') <> 'tool' THEN {skipped("j ->> 'run_type'")} END AS pre_reason,
               coalesce(j -> 'trace_id', j -> 'id') AS session_id,
               j -> 'start_time' AS ts, NULL::JSON AS seq,
               j -> 'name' AS tool,
               to_json(NOT {failed}) AS success, NULL::JSON AS status,
               CASE WHEN {failed} THEN to_json(coalesce({err}, 'error')) END AS error,
               {duration_ms("j ->> 'start_time'", "j ->> 'end_time'")} AS duration_ms,
               NULL::JSON AS latency, nullif(j -> 'total_cost', 'null'::JSON) AS cost,
               {as_json("j -> 'inputs'")} AS args,
               CASE WHEN json_type(outs) = 'OBJECT' AND json_keys(outs) = ['output'] THEN outs -> 'output'
                    ELSE outs END AS result,
               j -> 'id' AS call_id, NULL::JSON AS agent, NULL::JSON AS "user", NULL::JSON AS session_outcome
        FROM runs
        UNION ALL BY NAME
        SELECT line, left(raw, 10000) AS raw, pre_reason FROM recs WHERE pre_reason IS NOT NULL
    """
