"""Run events and a thread-safe event bus.

The runner emits ``workflow.started``, ``step.started``, ``step.retrying``,
``step.completed``, ``step.failed``, ``step.skipped``, ``compensation.started``,
``compensation.completed``, ``compensation.failed`` and finally
``workflow.completed`` or ``workflow.failed`` (whose ``data["status"]`` says
``failed``, ``compensated``, ``cancelled`` or ``budget_exceeded``).

Callbacks run synchronously in the thread that emits (the run's event loop), so
they must be quick; a dashboard in another thread subscribes with
:meth:`EventBus.subscribe_queue` and drains the queue at its own pace. A
callback that raises is logged and never disturbs the run.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

WORKFLOW_STARTED = "workflow.started"
WORKFLOW_COMPLETED = "workflow.completed"
WORKFLOW_FAILED = "workflow.failed"
STEP_STARTED = "step.started"
STEP_RETRYING = "step.retrying"
STEP_COMPLETED = "step.completed"
STEP_FAILED = "step.failed"
STEP_SKIPPED = "step.skipped"
COMPENSATION_STARTED = "compensation.started"
COMPENSATION_COMPLETED = "compensation.completed"
COMPENSATION_FAILED = "compensation.failed"
EVENT_TYPES = (WORKFLOW_STARTED, WORKFLOW_COMPLETED, WORKFLOW_FAILED, STEP_STARTED, STEP_RETRYING,
               STEP_COMPLETED, STEP_FAILED, STEP_SKIPPED, COMPENSATION_STARTED,
               COMPENSATION_COMPLETED, COMPENSATION_FAILED)


@dataclass(frozen=True)
class Event:
    """One thing that happened in a run.

    Examples
    --------
    >>> Event("step.started", run_id="r1", workflow="w", step_id="a").type
    'step.started'
    """

    type: str
    run_id: str
    workflow: str
    step_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON or a dashboard table.

        Examples
        --------
        >>> sorted(Event("workflow.started", "r1", "w", ts=0.0).to_dict())
        ['data', 'run_id', 'step_id', 'ts', 'type', 'workflow']
        """
        return {"type": self.type, "run_id": self.run_id, "workflow": self.workflow,
                "step_id": self.step_id, "data": dict(self.data), "ts": self.ts}


Callback = Callable[[Event], None]


class EventBus:
    """Publish run events to any number of subscribers, from any thread.

    Examples
    --------
    >>> bus = EventBus()
    >>> seen = []
    >>> unsubscribe = bus.subscribe(seen.append, types=["step.completed"])
    >>> bus.emit(Event("step.started", "r", "w", "a")); bus.emit(Event("step.completed", "r", "w", "a"))
    >>> [e.type for e in seen]
    ['step.completed']
    >>> unsubscribe(); bus.has_subscribers
    False
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Copy-on-write tuple: emit reads it without taking the lock.
        self._subscribers: tuple[tuple[Callback, frozenset[str] | None], ...] = ()

    @property
    def has_subscribers(self) -> bool:
        """True when anyone listens (the runner skips building events otherwise)."""
        return bool(self._subscribers)

    def subscribe(self, callback: Callback, types: Iterable[str] | None = None) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (or only ``types``); returns an unsubscribe function."""
        entry = (callback, frozenset(types) if types is not None else None)
        with self._lock:
            self._subscribers = self._subscribers + (entry,)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not entry)

        return unsubscribe

    def subscribe_queue(self, types: Iterable[str] | None = None,
                        maxsize: int = 10_000) -> tuple["queue.Queue[Event]", Callable[[], None]]:
        """Subscribe a thread-safe queue (for a UI thread); returns ``(queue, unsubscribe)``.

        When the queue is full, new events are dropped (and logged) rather than
        slowing the run down.

        Examples
        --------
        >>> bus = EventBus(); q, stop = bus.subscribe_queue()
        >>> bus.emit(Event("workflow.started", "r", "w")); q.get_nowait().type
        'workflow.started'
        """
        q: queue.Queue[Event] = queue.Queue(maxsize=maxsize)

        def put(event: Event) -> None:
            try:
                q.put_nowait(event)
            except queue.Full:
                log.warning("event queue full; dropped %s", event.type)

        return q, self.subscribe(put, types)

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to every matching subscriber; subscriber errors are logged."""
        for callback, types in self._subscribers:
            if types is not None and event.type not in types:
                continue
            try:
                callback(event)
            except Exception:  # a broken listener must not break the run
                log.exception("event subscriber failed on %s", event.type)
