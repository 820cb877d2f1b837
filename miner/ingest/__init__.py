"""Log ingest: every supported format into the DuckDB store, with rejects, dedupe and redaction.

Public API
----------
:func:`ingest_paths`   load files (or ``-`` for stdin) in one transaction → :class:`IngestReport`
:func:`detect_format`  which format a file (or its first bytes) is in
:func:`list_rejects`   rejected rows with source, line, reason and raw text
:func:`store_records`  store already-normalised calls (used by the runner, ``origin='run'``)

Examples
--------
>>> detect_format(b'{"tool": "search", "seq": 1}\\n')
'canonical'
"""

from chainmine.miner.ingest.detect import FORMATS, detect_format
from chainmine.miner.ingest.pipeline import ingest_paths
from chainmine.miner.ingest.report import IngestReport, list_rejects
from chainmine.miner.ingest.writer import RECORD_COLUMNS, store_records

__all__ = ["FORMATS", "IngestReport", "RECORD_COLUMNS", "detect_format", "ingest_paths", "list_rejects",
           "store_records"]
