"""Exceptions raised by the workflow library, templates and runner.

Every message says what is wrong and how to fix it, so the CLI can print it
as one line.
"""

from __future__ import annotations


class LibraryError(Exception):
    """Base class for every error raised by :mod:`library`."""


class TemplateError(LibraryError):
    """A ``{{...}}`` template is malformed or points at a missing value."""


class ConditionError(LibraryError):
    """A step ``condition`` cannot be parsed or evaluated safely."""


class ValidationError(LibraryError):
    """A workflow (or a library file) breaks the workflow rules.

    ``problems`` lists every problem found as ``"path: message"`` strings.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class LibraryFileError(LibraryError):
    """A library file cannot be read, parsed or written."""


class NotFoundError(LibraryError):
    """A workflow name is not in the library; ``suggestions`` holds close matches."""

    def __init__(self, message: str, suggestions: list[str] | None = None):
        super().__init__(message)
        self.suggestions = list(suggestions or [])


class DuplicateNameError(LibraryError):
    """A workflow name is already taken in the library."""


class ReviewError(LibraryError):
    """A review step the current status does not allow without ``force``."""


class RunError(LibraryError):
    """A workflow cannot be planned or run (unknown tool, bad input, ...)."""
