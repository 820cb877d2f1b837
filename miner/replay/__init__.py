"""Validation by replay: run a workflow on its logged occurrences and compare every call with the log.

Entry points: :func:`validate_workflow` (one workflow → :class:`ReplayReport`)
and :func:`validate_library` (several, storing ``evidence.replay``).
"""

from chainmine.miner.replay.validate import (LibraryValidation, NoOccurrencesError, OccurrenceReplay, ReplayReport,
                                   validate_library, validate_workflow)

__all__ = ["LibraryValidation", "NoOccurrencesError", "OccurrenceReplay", "ReplayReport", "validate_library",
           "validate_workflow"]
