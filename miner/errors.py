"""Exceptions raised by the miner: store, ingest, analytics, mining.

Each message is one line that says what went wrong and how to fix it; the CLI
prints it as is and exits with code 1.
"""

from __future__ import annotations

from chainmine.library.errors import LibraryError


class ChainmineError(Exception):
    """Base class for every error raised by :mod:`miner`."""


class StoreError(ChainmineError):
    """The DuckDB store cannot be opened, read or written."""


class StoreLockedError(StoreError):
    """Another process holds the database file's write lock."""


class IngestError(ChainmineError):
    """A log file cannot be read at all (missing, unreadable, unknown format)."""


class MiningError(ChainmineError):
    """Mining cannot run (no calls yet, bad thresholds, ...)."""


class EmptyStoreError(MiningError):
    """The store holds no tool calls yet."""


USER_ERRORS = (ChainmineError, LibraryError)
"""Errors the CLI reports as one line with exit code 1."""
