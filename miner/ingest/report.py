"""What an ingest did: the :class:`IngestReport` and read-back of the ``rejects`` table."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import duckdb

log = logging.getLogger(__name__)

RAW_PREVIEW = 200
"""Characters of a rejected row's raw text shown by :func:`list_rejects`."""


@dataclass(frozen=True)
class IngestReport:
    """Counts of one :func:`~miner.ingest.ingest_paths` call, in total and per file.

    ``accepted`` counts tool calls newly stored, ``duplicates`` rows already stored
    (or repeated within the batch), ``rejected`` bad rows (kept in ``rejects``),
    ``sessions`` the distinct sessions of the accepted calls. ``files`` holds one
    dict per source: ``path``, ``format``, ``accepted``, ``rejected``,
    ``duplicates`` (plus ``sessions`` and ``ingest_id``). ``reject_reasons`` maps
    each reason to its count, most frequent first.

    Examples
    --------
    >>> r = IngestReport(accepted=3, rejected=1, duplicates=0, sessions=2, files=[])
    >>> sorted(r.to_dict())[:5]
    ['accepted', 'duplicates', 'files', 'reject_reasons', 'rejected']
    """

    accepted: int
    rejected: int
    duplicates: int
    sessions: int
    files: list[dict] = field(default_factory=list)
    reject_reasons: dict[str, int] = field(default_factory=dict)

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
        """The ``chainmine ingest --json`` document (DESIGN shape plus ``reject_reasons``).

        Examples
        --------
        >>> IngestReport(1, 0, 0, 1).to_dict()["accepted"]
        1
        """
        return {"accepted": self.accepted, "rejected": self.rejected, "duplicates": self.duplicates,
                "sessions": self.sessions, "files": [dict(f) for f in self.files],
                "reject_reasons": dict(self.reject_reasons)}


def reject_reasons(con: duckdb.DuckDBPyConnection, ingest_ids: list[int]) -> dict[str, int]:
    """Reject counts by reason for the given ingests, most frequent first.

    Examples
    --------
    >>> from miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> _ = con.execute("INSERT INTO rejects VALUES (1, 'a', 1, 'x', 'invalid JSON'), (1, 'a', 2, 'y', 'invalid JSON')")
    >>> reject_reasons(con, [1])
    {'invalid JSON': 2}
    """
    rows = con.execute("""SELECT reason, count(*) AS n FROM rejects
                          WHERE ingest_id IN (SELECT unnest(?::INTEGER[]))
                          GROUP BY reason ORDER BY n DESC, reason""", [ingest_ids]).fetchall()
    return {reason: n for reason, n in rows}


def list_rejects(con: duckdb.DuckDBPyConnection, limit: int = 50, *,
                 ingest_ids: list[int] | None = None) -> list[dict]:
    """Rejected rows (newest ingest first, then by line): ``source``, ``line``, ``reason``, ``raw``.

    ``raw`` is cut to :data:`RAW_PREVIEW` characters (the table keeps up to 10 kB);
    ``ingest_ids`` limits the list to those ingests.

    Examples
    --------
    >>> from miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> _ = con.execute("INSERT INTO rejects VALUES (1, 'a.jsonl', 3, 'nope', 'invalid JSON')")
    >>> list_rejects(con)
    [{'ingest_id': 1, 'source': 'a.jsonl', 'line': 3, 'reason': 'invalid JSON', 'raw': 'nope'}]
    """
    where = "WHERE ingest_id IN (SELECT unnest(?::INTEGER[]))" if ingest_ids is not None else ""
    params: list = [ingest_ids] if ingest_ids is not None else []
    rows = con.execute(f"""SELECT ingest_id, source, line, reason, left(raw, {RAW_PREVIEW}) FROM rejects {where}
                           ORDER BY ingest_id DESC NULLS LAST, line LIMIT ?""", params + [int(limit)]).fetchall()
    return [{"ingest_id": i, "source": s, "line": ln, "reason": r, "raw": raw} for i, s, ln, r, raw in rows]
