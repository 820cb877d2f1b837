"""Exceptions of the runner.

Two families live here. Tools raise :class:`RetryableError` or
:class:`NonRetryableError` to tell the runner whether another attempt can help;
the runner's own call failures (timeouts, oversized results, open circuits,
dead MCP servers) subclass one of them so the retry rule stays in one place.
Errors that stop a run before it starts (unknown tool, bad input, corrupt run
record) subclass :class:`chainmine.library.errors.RunError`, so the CLI prints them as
one line and exits 1.
"""

from __future__ import annotations

from chainmine.library.errors import RunError


class RetryableError(Exception):
    """Raised by a tool when the same call may succeed if tried again.

    Examples
    --------
    >>> isinstance(RetryableError("rate limited, try later"), Exception)
    True
    """


class NonRetryableError(Exception):
    """Raised by a tool when trying again cannot help (bad arguments, business rule).

    Examples
    --------
    >>> str(NonRetryableError("order already shipped"))
    'order already shipped'
    """


class ToolTimeoutError(TimeoutError):
    """A tool call ran past its step's ``timeout``; timeouts are retryable.

    Examples
    --------
    >>> isinstance(ToolTimeoutError("slow"), OSError)
    True
    """


class ToolReturnedError(NonRetryableError):
    """A tool reported failure in its result (an MCP result with ``is_error``).

    Examples
    --------
    >>> str(ToolReturnedError("Unknown tool: nope"))
    'Unknown tool: nope'
    """


class FailedResultError(Exception):
    """A tool returned a result that the failure rule calls a failure (:mod:`chainmine.library.failures`).

    ``result`` is what the tool returned; ``retryable`` says whether another attempt
    may help (only a tools module's ``is_failure`` hook can say so).

    Examples
    --------
    >>> e = FailedResultError("Error: no such user", result="Error: no such user")
    >>> str(e), e.retryable
    ('Error: no such user', False)
    """

    def __init__(self, reason: str, result: object = None, retryable: bool = False):
        super().__init__(reason)
        self.result = result
        self.retryable = retryable


class ResultTooLargeError(NonRetryableError):
    """A tool returned more JSON than the runner's ``max_result_bytes`` allows.

    Examples
    --------
    >>> str(ResultTooLargeError("result is 12 MB"))
    'result is 12 MB'
    """


class ResultNotJSONError(NonRetryableError):
    """A tool result cannot be written as JSON (NaN, circular references).

    Examples
    --------
    >>> issubclass(ResultNotJSONError, NonRetryableError)
    True
    """


class CircuitOpenError(NonRetryableError):
    """The tool's circuit breaker is open: the call was refused without calling it.

    Examples
    --------
    >>> issubclass(CircuitOpenError, NonRetryableError)
    True
    """


class ServerGoneError(NonRetryableError):
    """An MCP server exited or closed its connection; retrying the same server cannot help.

    Examples
    --------
    >>> str(ServerGoneError("server exited"))
    'server exited'
    """


class UnknownToolError(RunError):
    """A tool name is in no registry.

    Examples
    --------
    >>> str(UnknownToolError("tool 'x' is not in any registry"))
    "tool 'x' is not in any registry"
    """


class RegistryError(RunError):
    """A tool registry cannot be loaded (bad module path, MCP server fails to start).

    Examples
    --------
    >>> issubclass(RegistryError, RunError)
    True
    """


class InputError(RunError):
    """Workflow inputs do not match the declared ``inputs``.

    Examples
    --------
    >>> str(InputError("missing required input 'user_id'"))
    "missing required input 'user_id'"
    """


class ResumeError(RunError):
    """A run cannot be resumed: unknown id, corrupt record, or nothing left to do.

    Examples
    --------
    >>> issubclass(ResumeError, RunError)
    True
    """


class UnreviewedWorkflowError(RunError):
    """The workflow (or a sub-workflow) is not ``accepted`` and unreviewed runs are not allowed.

    Examples
    --------
    >>> issubclass(UnreviewedWorkflowError, RunError)
    True
    """
