"""What an ingest did: the :class:`IngestReport`, and the ``rejects`` table: writing and reading it.

Bad rows are stored once per source content. A source's rejects are stored under
its ``rejects_digest`` (a digest of its bytes, :func:`~chainmine.miner.ingest.sources.content_digest`),
and every ingest of it records that digest in ``ingests``: ingesting the same file
again (under any name, with any options) reports its bad rows again, each ingest's
``rejected`` counts them, and reading an ingest's rejects finds them, but nothing is
stored twice. A changed file is other content: its bad rows are stored as well.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import duckdb

log = logging.getLogger(__name__)

RAW_PREVIEW = 200
"""Characters of a rejected row's raw text shown by :func:`list_rejects`."""


@dataclass(frozen=True)
class IngestReport:
    """Counts of one :func:`~chainmine.miner.ingest.ingest_paths` call, in total and per file.

    ``accepted`` counts tool calls newly stored, ``duplicates`` rows already stored
    (or repeated within the batch), ``rejected`` the bad rows read (kept in
    ``rejects``, once per file content: a re-ingest counts them again, stores none),
    ``sessions`` the distinct sessions of the accepted calls. ``files`` holds one
    dict per source: ``path``, ``format``, ``accepted``, ``rejected``,
    ``duplicates`` (plus ``sessions``, ``ingest_id`` and ``paired_by_position``).
    ``reject_reasons`` maps each reason to its count, most frequent first. ``skipped``
    counts the records that are well-formed but no tool call (an LLM run, a chain span).
    ``paired_by_position`` counts the conversation calls read whose result was paired
    by its position in the turn, not by call id (reused or missing ids; see
    :mod:`~chainmine.miner.ingest.pairing`).

    Examples
    --------
    >>> r = IngestReport(accepted=3, rejected=1, duplicates=0, sessions=2, files=[])
    >>> sorted(r.to_dict())[:4]
    ['accepted', 'duplicates', 'files', 'paired_by_position']
    """

    accepted: int
    rejected: int
    duplicates: int
    sessions: int
    files: list[dict] = field(default_factory=list)
    reject_reasons: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    paired_by_position: int = 0

    @property
    def ingest_ids(self) -> list[int]:
        """The ``ingests.ingest_id`` of every file, in order.

        Examples
        --------
        >>> IngestReport(1, 0, 0, 1, files=[{"path": "a", "ingest_id": 7}]).ingest_ids
        [7]
        """
        return [f["ingest_id"] for f in self.files if "ingest_id" in f]

    def to_dict(self) -> dict:
        """The ``chainmine ingest --json`` document (DESIGN shape plus ``reject_reasons``, ``paired_by_position``).

        Examples
        --------
        >>> IngestReport(1, 0, 0, 1).to_dict()["accepted"]
        1
        """
        return {"accepted": self.accepted, "rejected": self.rejected, "duplicates": self.duplicates,
                "sessions": self.sessions, "skipped": self.skipped, "files": [dict(f) for f in self.files],
                "reject_reasons": dict(self.reject_reasons), "paired_by_position": self.paired_by_position}


def nothing_stored(report: IngestReport) -> str | None:
    """The one-line error for an ingest that stored no call and rejected every record (else None).

    It names the file, the commonest reason, and the format the file looks like.

    Examples
    --------
    >>> r = IngestReport(0, 200, 0, 0, files=[{"path": "t.json", "format": "canonical", "accepted": 0,
    ...                  "duplicates": 0, "rejected": 200, "looks_like": "openai"}],
    ...                  reject_reasons={"neither ts nor seq": 200})
    >>> nothing_stored(r)
    't.json: no call stored, all 200 records rejected (neither ts nor seq); it looks like openai: pass --format openai'
    """
    if report.accepted or report.duplicates or not report.rejected:
        return None
    bad = next((f for f in report.files if f.get("rejected")), {"path": "input", "format": "?"})
    reason = next(iter(report.reject_reasons), "see --show-rejects")
    seems, read_as = bad.get("looks_like"), bad.get("format")
    if seems is None:
        hint = "it looks like no known log format; check the file"
    elif seems == read_as:
        hint = f"it looks like {seems}, as it was read; fix the rows (see --show-rejects)"
    else:
        hint = f"it looks like {seems}: pass --format {seems}"
    return f"{bad['path']}: no call stored, all {report.rejected} records rejected ({reason}); {hint}"


def store_rejects(con: duckdb.DuckDBPyConnection, table: str, *, ingest_id: int, source: str,
                  digest: str) -> int:
    """Store the bad rows in ``table`` (``line``, ``raw``, ``reason``) under ``digest``, unless stored already.

    Returns how many rows were stored (0 when rows of that content are in ``rejects``).
    ``table`` is a table the caller created (never user text).

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> _ = con.execute("CREATE TEMP TABLE bad AS SELECT 3 AS line, 'x' AS raw, 'invalid JSON' AS reason")
    >>> store_rejects(con, "bad", ingest_id=1, source="a.jsonl", digest="d1")
    1
    >>> store_rejects(con, "bad", ingest_id=2, source="b.jsonl", digest="d1")
    0
    """
    if con.execute("SELECT EXISTS (SELECT 1 FROM rejects WHERE rejects_digest = ?)", [digest]).fetchone()[0]:
        return 0
    return con.execute(f"""INSERT INTO rejects (ingest_id, source, line, raw, reason, rejects_digest)
                           SELECT ?, ?, line, raw, reason, ? FROM {table} ORDER BY line""",
                       [ingest_id, source, digest]).fetchone()[0]


def _of_ingests(columns: str) -> str:
    """SQL: the rejects of the ingests listed in parameter ``$ids``, each under that ingest's id and source."""
    # Rows stored before digests were kept belong to their own ingest only.
    return f"""(SELECT i.ingest_id, i.source, {columns} FROM ingests i JOIN rejects r
                ON r.rejects_digest = i.rejects_digest
                WHERE i.ingest_id IN (SELECT unnest($ids::INTEGER[]))
                UNION ALL
                SELECT r.ingest_id, r.source, {columns} FROM rejects r
                WHERE r.rejects_digest IS NULL AND r.ingest_id IN (SELECT unnest($ids::INTEGER[])))"""


def reject_reasons(con: duckdb.DuckDBPyConnection, ingest_ids: list[int]) -> dict[str, int]:
    """Reject counts by reason for the given ingests, most frequent first.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> _ = con.execute("INSERT INTO rejects VALUES (1, 'a', 1, 'x', 'invalid JSON', NULL), "
    ...                 "(1, 'a', 2, 'y', 'invalid JSON', NULL)")
    >>> reject_reasons(con, [1])
    {'invalid JSON': 2}
    """
    rows = con.execute(f"""SELECT reason, count(*) AS n FROM {_of_ingests('r.reason')}
                           GROUP BY reason ORDER BY n DESC, reason""", {"ids": ingest_ids}).fetchall()
    return {reason: n for reason, n in rows}


def list_rejects(con: duckdb.DuckDBPyConnection, limit: int = 50, *,
                 ingest_ids: list[int] | None = None) -> list[dict]:
    """Rejected rows (newest ingest first, then by line): ``source``, ``line``, ``reason``, ``raw``.

    ``raw`` is cut to :data:`RAW_PREVIEW` characters (the table keeps up to 10 kB).
    ``ingest_ids`` lists the bad rows those ingests read, under their own ids and
    sources, also where an earlier ingest of the same content stored them; without
    it every stored row is listed once.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> _ = con.execute("INSERT INTO rejects VALUES (1, 'a.jsonl', 3, 'nope', 'invalid JSON', NULL)")
    >>> list_rejects(con)
    [{'ingest_id': 1, 'source': 'a.jsonl', 'line': 3, 'reason': 'invalid JSON', 'raw': 'nope'}]
    """
    columns = f"r.line, r.reason, left(r.raw, {RAW_PREVIEW}) AS raw"
    if ingest_ids is None:
        relation, params = f"(SELECT r.ingest_id, r.source, {columns} FROM rejects r)", {}
    else:
        relation, params = _of_ingests(columns), {"ids": ingest_ids}
    rows = con.execute(f"""SELECT ingest_id, source, line, reason, raw FROM {relation}
                           ORDER BY ingest_id DESC NULLS LAST, line LIMIT $limit""",
                       {**params, "limit": int(limit)}).fetchall()
    return [{"ingest_id": i, "source": s, "line": ln, "reason": r, "raw": raw} for i, s, ln, r, raw in rows]
