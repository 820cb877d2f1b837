"""The call filter every analytics function honours (time range, agents, tools, runs).

Filters become fixed SQL fragments with ``?`` parameters; user text is only
ever a parameter value. The time range is half-open, ``start <= ts < end``,
in UTC (stored time stamps are UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from chainmine.miner.errors import ChainmineError
from chainmine.miner.origins import calls_where

__all__ = ["AnalyticsError", "CallFilter", "iso", "limit_value", "parse_time", "resolve"]


class AnalyticsError(ChainmineError):
    """An analytics request cannot be answered as asked (bad time, bucket, ...).

    Examples
    --------
    >>> isinstance(AnalyticsError("x"), ChainmineError)
    True
    """


def _naive_utc(value: datetime | date | None, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        raise AnalyticsError(f"{what} must be a datetime, got {value!r}")
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


@dataclass(frozen=True)
class CallFilter:
    """Which calls an analytics function looks at.

    ``start``/``end`` bound the call start time (``start <= ts < end``; aware
    datetimes are converted to UTC), ``agents`` keeps calls of those agents,
    ``tools`` those tools. Functions over sequences (transitions, variants)
    apply the tool filter to what they report, not to the sequences
    themselves, so a tool's neighbours stay real neighbours. The calls of
    recorded workflow runs are left out unless ``include_runs`` (see
    :mod:`chainmine.miner.origins`).

    Examples
    --------
    >>> CallFilter(agents=["bot"], include_runs=True).where()
    ('agent IN (SELECT unnest(?::VARCHAR[]))', [['bot']])
    >>> CallFilter().where()
    ("origin NOT IN ('run', 'runner')", [])
    """

    start: datetime | None = None
    end: datetime | None = None
    agents: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    include_runs: bool = False

    def __post_init__(self) -> None:
        start, end = _naive_utc(self.start, "start"), _naive_utc(self.end, "end")
        if start is not None and end is not None and start >= end:
            raise AnalyticsError(f"the time range is empty: start {start.isoformat()} is not before "
                                 f"end {end.isoformat()}; swap --since and --until")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "agents", _names(self.agents, "agents"))
        object.__setattr__(self, "tools", _names(self.tools, "tools"))

    @property
    def is_empty(self) -> bool:
        """True when the filter keeps every call it may see (runs are counted apart, see ``include_runs``)."""
        return self == CallFilter(include_runs=self.include_runs)

    def where(self, *, tools: bool = True) -> tuple[str, list[Any]]:
        """SQL condition over ``calls`` columns and its parameters; ``tools=False`` ignores the tool filter."""
        clauses: list[str] = [] if self.include_runs else [calls_where(False)]
        params: list[Any] = []
        if self.start is not None:
            clauses.append("ts >= ?")
            params.append(self.start)
        if self.end is not None:
            clauses.append("ts < ?")
            params.append(self.end)
        if self.agents:
            clauses.append("agent IN (SELECT unnest(?::VARCHAR[]))")
            params.append(list(self.agents))
        if tools and self.tools:
            clauses.append(self.tool_condition("tool_id"))
            params.append(list(self.tools))
        return " AND ".join(clauses) or "TRUE", params

    def tool_condition(self, column: str) -> str:
        """SQL condition that ``column`` (a ``tool_id`` column) is one of :attr:`tools` (one ``?``)."""
        return f"{column} IN (SELECT tool_id FROM tools WHERE tool IN (SELECT unnest(?::VARCHAR[])))"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (times as ISO text)."""
        return {"start": iso(self.start), "end": iso(self.end), "agents": list(self.agents), "tools": list(self.tools),
                "include_runs": self.include_runs}


def _names(values: Iterable[str] | str | None, what: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = (values,)
    out = tuple(dict.fromkeys(values))
    if not all(isinstance(v, str) and v for v in out):
        raise AnalyticsError(f"{what} must be non-empty names, got {list(out)!r}")
    return out


def parse_time(text: str, *, end: bool = False) -> datetime:
    """Parse an ISO-8601 date or date-time (``Z`` or an offset allowed) as naive UTC.

    With ``end=True`` a bare date means the end of that day, so
    ``--until 2026-01-06`` includes all of January 6.

    Examples
    --------
    >>> parse_time("2026-01-05T10:00:00+02:00")
    datetime.datetime(2026, 1, 5, 8, 0)
    >>> parse_time("2026-01-06", end=True)
    datetime.datetime(2026, 1, 7, 0, 0)
    """
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise AnalyticsError(f"cannot read time {text!r}: use ISO-8601 such as 2026-01-05 or "
                             "2026-01-05T08:00:00Z") from None
    bare_date = len(raw) == 10
    value = _naive_utc(value, "time")
    return value + timedelta(days=1) if end and bare_date else value


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO-8601 text with a ``Z``, or ``None``.

    Examples
    --------
    >>> iso(datetime(2026, 1, 5, 8, 0, 1, 250000))
    '2026-01-05T08:00:01.250Z'
    """
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def resolve(flt: CallFilter | None) -> CallFilter:
    """``flt`` or the filter that keeps everything.

    Examples
    --------
    >>> resolve(None).is_empty
    True
    """
    if flt is None:
        return CallFilter()
    if not isinstance(flt, CallFilter):
        raise AnalyticsError(f"expected a CallFilter, got {type(flt).__name__}")
    return flt


def limit_value(top: int | None) -> int:
    """A SQL ``LIMIT`` value for ``top``; ``None`` means every row.

    Examples
    --------
    >>> limit_value(5), limit_value(None) > 10**18
    (5, True)
    """
    if top is None:
        return 2**62
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise AnalyticsError(f"top must be a non-negative integer or None, got {top!r}")
    return top
