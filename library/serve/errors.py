"""Exceptions raised while serving workflows as MCP tools.

Messages are one line that say what is wrong and how to fix it; the CLI
prints them as they are and exits 1.
"""

from __future__ import annotations

from chainmine.library.errors import LibraryError


def one_line(exc: BaseException) -> str:
    """An exception as one line of text (its type name when it has no message).

    Examples
    --------
    >>> one_line(ValueError("bad\\n  value")), one_line(KeyError())
    ('bad value', 'KeyError')
    """
    return " ".join(str(exc).split()) or type(exc).__name__


class ServeError(LibraryError):
    """The MCP bridge cannot start or serve (bad address, missing library, ...).

    Examples
    --------
    >>> isinstance(ServeError("x"), LibraryError)
    True
    """


class ArgumentError(ServeError):
    """Tool-call arguments do not fit a workflow's input schema.

    ``problems`` lists each problem as ``"name: message"``.

    Examples
    --------
    >>> ArgumentError("bad", ["n: 'x' is not of type 'integer'"]).problems
    ["n: 'x' is not of type 'integer'"]
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])
