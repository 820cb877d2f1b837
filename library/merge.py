"""Merging mined (or imported) workflows into a library without losing review work.

Identity is :meth:`WorkflowTemplate.signature` (tools, structure, bindings),
not the name: the miner may call the same chain something else next time.
The rules, applied to each incoming workflow in order:

* same signature as an existing entry (its current one, or the one it had
  when it entered the library, so a reviewer's edits do not hide it): the
  entry's ``stats`` are refreshed, whatever its status; nothing else changes.
  A rejected entry stays rejected (counted as ``skipped_rejected``).
* new signature: added as ``suggested`` (or with its own status when
  ``keep_status``). When an accepted workflow has the same tool sequence, the
  newcomer is a changed shape of it, so it records ``replaces`` and the
  accepted steps stay untouched.
* a name already taken gets the first free ``name_2``, ``name_3``, ...
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Container, Iterable, Literal

from chainmine.library.model import WorkflowTemplate, utc_now

log = logging.getLogger(__name__)

Action = Literal["added", "updated", "unchanged", "skipped_rejected"]


@dataclass(frozen=True)
class MergeOutcome:
    """What happened to one incoming workflow.

    ``name`` is its name in the library afterwards, ``incoming_name`` the name
    it arrived with, ``matched`` the existing entry it was identified with.

    Examples
    --------
    >>> MergeOutcome(name="w_2", action="added", incoming_name="w").renamed
    True
    """

    name: str
    action: Action
    incoming_name: str
    matched: str | None = None
    replaces: str | None = None

    @property
    def renamed(self) -> bool:
        """True when the workflow was added under another name to avoid a collision.

        Examples
        --------
        >>> MergeOutcome(name="w", action="unchanged", incoming_name="v", matched="w").renamed
        False
        """
        return self.action == "added" and self.name != self.incoming_name

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, including ``renamed``.

        Examples
        --------
        >>> MergeOutcome("w", "added", "w").to_dict()["action"]
        'added'
        """
        return {"name": self.name, "action": self.action, "incoming_name": self.incoming_name,
                "matched": self.matched, "replaces": self.replaces, "renamed": self.renamed}


def _count_of(action: str, doc: str) -> property:
    def count(self: "MergeReport") -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    count.__doc__ = doc
    return property(count)


@dataclass(frozen=True)
class MergeReport:
    """Counts and per-workflow outcomes of a merge.

    Examples
    --------
    >>> r = MergeReport((MergeOutcome("a", "added", "a"), MergeOutcome("b", "unchanged", "b", matched="b")))
    >>> r.added, r.unchanged, r.renamed
    (1, 1, 0)
    """

    outcomes: tuple[MergeOutcome, ...] = field(default_factory=tuple)

    added = _count_of("added", "Workflows added as new entries.")
    updated = _count_of("updated", "Existing entries whose stats (or, on import, status) changed.")
    unchanged = _count_of("unchanged", "Existing entries that already held exactly this.")
    skipped_rejected = _count_of("skipped_rejected",
                                 "Incoming workflows that match a rejected entry (which stays rejected).")

    @property
    def renamed(self) -> int:
        """Added workflows whose name was taken and got a ``_N`` suffix.

        Examples
        --------
        >>> MergeReport((MergeOutcome("w_2", "added", "w"),)).renamed
        1
        """
        return sum(1 for o in self.outcomes if o.renamed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: the five counts and every outcome.

        Examples
        --------
        >>> MergeReport().to_dict()
        {'added': 0, 'updated': 0, 'unchanged': 0, 'skipped_rejected': 0, 'renamed': 0, 'outcomes': []}
        """
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "skipped_rejected": self.skipped_rejected, "renamed": self.renamed,
                "outcomes": [o.to_dict() for o in self.outcomes]}


def free_name(name: str, taken: Container[str]) -> str:
    """``name`` if it is free, else the first free ``name_2``, ``name_3``, ...

    Examples
    --------
    >>> free_name("w", {"w", "w_2"})
    'w_3'
    """
    if name not in taken:
        return name
    k = 2
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


def merge_workflows(existing: Iterable[WorkflowTemplate], incoming: Iterable[WorkflowTemplate], *,
                    keep_status: bool = False, source: str | None = None, now: str | None = None
                    ) -> tuple[list[WorkflowTemplate], MergeReport]:
    """Merge ``incoming`` into ``existing`` by signature; return the new list and a report.

    Parameters
    ----------
    existing : the library's workflows (not modified).
    incoming : mined or imported workflows, already validated.
    keep_status : keep an incoming workflow's status instead of ``suggested``;
        it also settles a matching entry that is still ``suggested``.
    source : overrides the incoming ``source`` (``"imported"`` for imports).
    now : timestamp for ``created_at``/``updated_at`` (default: the current time).

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> a = WorkflowTemplate(name="a", steps=[WorkflowStep(id="s", tool_name="t")])
    >>> merged, report = merge_workflows([a], [a.model_copy(update={"name": "other"})])
    >>> [w.name for w in merged], report.unchanged
    (['a'], 1)

    Notes
    -----
    O(W + I) signature look-ups for W existing and I incoming workflows.
    """
    now = now or utc_now()
    by_name = {wf.name: wf for wf in existing}
    by_signature: dict[str, str] = {}
    for wf in by_name.values():
        if wf.origin_signature:
            by_signature.setdefault(wf.origin_signature, wf.name)
    for wf in by_name.values():
        by_signature[wf.signature()] = wf.name
    accepted_tools = {}
    for wf in sorted(by_name.values(), key=lambda w: w.name):
        if wf.status == "accepted":
            accepted_tools.setdefault(tuple(wf.tools), wf.name)

    outcomes = []
    for wf in incoming:
        sig = wf.signature()
        match = by_signature.get(sig) or by_signature.get(wf.origin_signature or "")
        if match is not None:
            current = by_name[match]
            updated = _refresh(current, wf, keep_status, now)
            if updated is not current:
                by_name[match] = updated
            action = ("skipped_rejected" if current.status == "rejected"
                      else "updated" if updated is not current else "unchanged")
            outcomes.append(MergeOutcome(match, action, wf.name, matched=match, replaces=current.replaces))
            continue
        name = free_name(wf.name, by_name)
        replaces = wf.replaces if wf.replaces in by_name else None
        if replaces is None:
            replaces = accepted_tools.get(tuple(wf.tools))
        status = wf.status if keep_status else "suggested"
        added = wf.model_copy(update={
            "name": name, "status": status, "source": source or wf.source, "replaces": replaces,
            "review_note": wf.review_note if keep_status else None,
            "origin_signature": wf.origin_signature or sig,
            "created_at": wf.created_at or now, "updated_at": now})
        by_name[name] = added
        by_signature[sig] = name
        if status == "accepted":
            accepted_tools.setdefault(tuple(added.tools), name)
        if replaces:
            log.info("%s is a changed shape of accepted workflow %s", name, replaces)
        outcomes.append(MergeOutcome(name, "added", wf.name, replaces=replaces))
    return list(by_name.values()), MergeReport(tuple(outcomes))


def _refresh(current: WorkflowTemplate, incoming: WorkflowTemplate, keep_status: bool,
             now: str) -> WorkflowTemplate:
    # Only evidence (and, for an unreviewed entry on import, a review decision) flows in.
    changes: dict[str, Any] = {}
    if incoming.stats is not None and incoming.stats != current.stats:
        changes["stats"] = incoming.stats
    if keep_status and current.status == "suggested" and incoming.status != "suggested":
        changes["status"] = incoming.status
        changes["review_note"] = incoming.review_note
    if not changes:
        return current
    changes["updated_at"] = now
    return current.model_copy(update=changes)
