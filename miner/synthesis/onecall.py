"""Could the agent have made this call? One-call share, honest savings and session outcomes.

A workflow is worth suggesting when an agent can call it with what it knows
when the chain starts, and when doing so would have done what the agent did.
For each sampled occurrence this module asks:

* **one call** — was every input value already known when the chain started?
  Values the chain's first calls take are (the agent passed them); a value a
  later step needs is known when an earlier call of the session took or
  returned it, or when it appears in the conversation text logged up to the
  chain's first call (the calls' ``context``: the messages the agent had read).
  Where a value is found in neither and the session logged no conversation,
  the occurrence is undecided: it counts neither way, and ``one_call_checked``
  says how many occurrences were decided.
* **round trips saved** — the calls the workflow makes in place of logged ones
  (every call of a map step, one call for any other step) minus the one call
  to the workflow. Extra calls of a step that is not a map are not replaced.
* **outcome** — was the session a success (its ``session_outcome`` or reward
  is at least :data:`OUTCOME_SUCCESS`)? A chain can succeed call by call in
  sessions that fail their task.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Hashable, Mapping, Sequence

from chainmine.library.errors import TemplateError
from chainmine.library.model import WorkflowTemplate
from chainmine.library.templates import parse_reference
from chainmine.miner.chains.events import SCRATCH
from chainmine.miner.synthesis.dataflow import logical_calls, representative
from chainmine.miner.synthesis.roles import Layout
from chainmine.miner.synthesis.sampling import Occurrence, call_refs, fetch_calls
from chainmine.miner.synthesis.values import comparable_nodes, get_path, value_key

LOOKBACK = 32
"""Calls before an occurrence searched for the values its later steps need."""
OUTCOME_SUCCESS = 0.5
"""A session outcome (or reward) at least this high is a successful session."""

Start = tuple[int, int]


@dataclass(frozen=True)
class Usage:
    """What one occurrence says about its workflow.

    ``pending`` holds the value keys of inputs that were not known from the
    chain's own first calls (they must be found earlier in the session);
    ``replaced`` counts the logged calls one workflow call stands for.

    Examples
    --------
    >>> Usage("s1", None, (), 3).one_call({})
    True
    >>> u = Usage("s1", (1, 4), ((("s", "May 20"), "May 20"),), 2)
    >>> u.one_call({(1, 4): Context(set(), "I want to fly on may 20")}), u.one_call({(1, 4): Context(set(), None)})
    (True, None)
    """

    session_id: str
    start: Start | None
    pending: tuple[tuple[Hashable, str], ...]
    replaced: int

    def one_call(self, contexts: Mapping[Start, "Context"]) -> bool | None:
        """Whether every pending value was known before the chain; ``None`` when that cannot be told."""
        if not self.pending:
            return True
        ctx = contexts.get(self.start) if self.start is not None else None
        if ctx is None:
            return None
        missing = [text for key, text in self.pending if key not in ctx.keys]
        if not missing:
            return True
        if ctx.text is None:
            return None
        low = ctx.text.casefold()
        return all(mentioned(text, low) for text in missing)


_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_ISO_DATE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)")


def mentioned(value: str, text: str) -> bool:
    """Whether ``value`` is written in ``text`` (lower-cased), also as people write dates and numbers.

    Users say "August 15" or "15 Aug" where the tool takes ``2024-08-15``, and "1,200"
    for ``1200``.

    Examples
    --------
    >>> mentioned("Mia_Li_3668", "my user id is mia_li_3668"), mentioned("2024-08-15", "fly on august 15th")
    (True, True)
    >>> mentioned("2024-08-15", "on 15 aug, please"), mentioned("1200", "about 1,200 dollars")
    (True, True)
    >>> mentioned("2024-08-16", "fly on august 15th"), mentioned("12", "order 123")
    (False, False)
    """
    value = value.strip().casefold()
    if not value:
        return True
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        plain = re.sub(r"(?<=\d),(?=\d{3})", "", text)
        return re.search(r"(?<![\d.])" + re.escape(value) + r"(?![\d])", plain) is not None
    if value in text:
        return True
    date = _ISO_DATE.match(value)
    if date:
        month, day = int(date.group(2)), int(date.group(3))
        if 1 <= month <= 12:
            name = _MONTHS[month - 1]
            names = f"(?:{name}|{name[:3]}\\.?)"
            day_re = rf"0?{day}(?:st|nd|rd|th)?"
            return re.search(rf"\b{names}\s+{day_re}\b|\b{day_re}\s+(?:of\s+)?{names}\b"
                             rf"|\b0?{month}/0?{day}\b", text) is not None
    return False


@dataclass(frozen=True)
class Context:
    """What a session held before an occurrence: value keys of earlier calls, and conversation text if logged.

    Examples
    --------
    >>> Context({("s", "u1")}, None).text is None
    True
    """

    keys: set
    text: str | None


def input_uses(wf: WorkflowTemplate) -> dict[str, tuple[int, tuple[str, ...]]]:
    """The first ``(step index, argument path)`` where each input of ``wf`` is passed whole.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", inputs={"q": {}, "n": {}}, steps=[
    ...     WorkflowStep(id="a", tool_name="t", parameters={"q": {"text": "{{q}}"}}),
    ...     WorkflowStep(id="b", tool_name="u", parameters={"n": "{{n}}", "q": "{{q}}"}, depends_on=["a"])])
    >>> input_uses(wf)
    {'q': (0, ('q', 'text')), 'n': (1, ('n',))}
    """
    out: dict[str, tuple[int, tuple[str, ...]]] = {}

    def visit(node: Any, j: int, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                visit(v, j, path + (str(k),))
        elif isinstance(node, str) and node.startswith("{{") and node.endswith("}}"):
            try:
                root = parse_reference(node).root
            except TemplateError:  # an escaped literal or text: not an input
                return
            if root in wf.inputs and root not in out:
                out[root] = (j, path)

    for j, step in enumerate(wf.steps):
        visit(step.parameters, j, ())
    return out


def self_chosen(value: Any) -> bool:
    """Whether a value is one an agent picks on its own: a small count or a single short word.

    ``number_of_rooms=1``, ``limit=10``, ``tax_rate=0.08`` or ``sort="desc"`` need
    nothing the chain returns or the user says; ids, dates, names, amounts and free
    text do.

    Examples
    --------
    >>> self_chosen(1), self_chosen("2"), self_chosen("economy"), self_chosen(0.08), self_chosen("most_relevant")
    (True, True, True, True, True)
    >>> self_chosen("2024-05-20"), self_chosen("HAT123"), self_chosen(50), self_chosen("New York")
    (False, False, False, False)
    """
    if isinstance(value, bool):
        return True
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value.strip()):
        value = float(value)
    if isinstance(value, (int, float)):
        # a count (rooms, seats, a page size) or a rate; an amount of money is information
        return (float(value).is_integer() and abs(value) <= 20) or 0 < abs(value) < 1
    return isinstance(value, str) and re.fullmatch(r"[A-Za-z][A-Za-z_-]{0,19}", value.strip()) is not None


def occurrence_usage(wf: WorkflowTemplate, layout: Layout) -> list[Usage]:
    """Per occurrence of ``layout``: the input values it still needs and the calls it replaces.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> from chainmine.miner.synthesis.sampling import CallRecord
    >>> wf = WorkflowTemplate(name="w", inputs={"user_id": {}, "amount": {}}, steps=[
    ...     WorkflowStep(id="get_user", tool_name="get_user", parameters={"user_id": "{{user_id}}"}),
    ...     WorkflowStep(id="pay", tool_name="pay", parameters={"amount": "{{amount}}"}, depends_on=["get_user"])])
    >>> call = lambda args: CallRecord("s", args, None, True, None, None, None)
    >>> occ = Occurrence("s", ((call({"user_id": "u1"}),), (call({"amount": 3000}),)))
    >>> [(u.pending, u.replaced) for u in occurrence_usage(wf, Layout(("get_user", "pay"), (0, 1), (occ,)))]
    [(((('n', 3000.0), '3000'),), 2)]
    """
    uses = input_uses(wf)
    first = {j for j, s in enumerate(layout.slot_of) if s == layout.slot_of[0]}
    maps = {j for j, s in enumerate(wf.steps) if s.map_over}
    out = []
    for occ in layout.occurrences:
        logical = [logical_calls(calls) for calls in occ.steps]
        known: set = set()
        for j in first:
            for c in logical[j]:
                known.update(k for _, k in comparable_nodes(c.args))
        pending = []
        for name, (j, path) in uses.items():
            if j in first or wf.inputs[name].secret:
                continue
            present, value = get_path(representative(logical[j], j in maps).args, path)
            key = value_key(value) if present else None
            if key is not None and key not in known and not self_chosen(value):
                pending.append((key, value if isinstance(value, str) else json.dumps(value, default=str)))
        replaced = sum(len(calls) if j in maps else 1 for j, calls in enumerate(logical))
        out.append(Usage(occ.session_id, occ.start, tuple(pending), replaced))
    return out


def context_keys(search: Any, starts: Sequence[Start], lookback: int = LOOKBACK) -> dict[Start, Context]:
    """What each occurrence's session held before it started: earlier calls' values and conversation text.

    Parameters
    ----------
    search : the :class:`~chainmine.miner.chains.chain_search.ChainSearch` whose events the starts refer to.
    starts : ``(session hash, first call position)`` of occurrences.
    lookback : calls before the start that are looked at.

    Examples
    --------
    >>> context_keys(None, [])
    {}

    Notes
    -----
    One query over the events and one read of at most ``len(starts) * lookback`` calls.
    """
    starts = sorted(set(starts))
    if not starts:
        return {}
    rows = search.con.execute(f"""
        WITH o AS (SELECT unnest($sid::UBIGINT[]) AS sid, unnest($pos::BIGINT[]) AS pos)
        SELECT o.sid, o.pos, e.rid, e.rids, e.spos = o.pos FROM o JOIN {SCRATCH} e
          ON e.sid = o.sid AND e.spos <= o.pos AND e.epos >= o.pos - $back""",
                              {"sid": [s for s, _ in starts], "pos": [p for _, p in starts],
                               "back": int(lookback)}).fetchall()
    refs = [(int(sid), int(pos), call_refs(rid, rids), bool(first)) for sid, pos, rid, rids, first in rows]
    calls = fetch_calls(search, [r for _, _, run, first in refs if not first for r in run])
    said = _said_before(search, starts)
    keys: dict[Start, set] = {s: set() for s in starts}
    for sid, pos, run, first in refs:
        if first:
            continue
        seen = keys[(sid, pos)]
        for r in run:
            c = calls.get(r)
            if c is not None:
                seen.update(k for _, k in comparable_nodes(c.args))
                seen.update(k for _, k in comparable_nodes(c.result))
    return {s: Context(keys[s], said.get(s)) for s in starts}


def _said_before(search: Any, starts: Sequence[Start]) -> dict[Start, str]:
    """The conversation text logged with the calls of each session up to each start (``calls.context``)."""
    has = search.con.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = 'calls' "
                             "AND column_name = 'context'").fetchone()[0]
    if not has or not starts:
        return {}
    rows = search.con.execute(f"""
        WITH o AS (SELECT unnest($sid::UBIGINT[]) AS sid, unnest($pos::BIGINT[]) AS pos)
        SELECT o.sid, o.pos, e.rid FROM o JOIN {SCRATCH} e ON e.sid = o.sid AND e.spos <= o.pos""",
                              {"sid": [s for s, _ in starts], "pos": [p for _, p in starts]}).fetchall()
    if not rows:
        return {}
    ref = search.summary.ref
    texts = dict(search.con.execute(f"SELECT {ref}, context FROM calls WHERE context IS NOT NULL "
                                    f"AND {ref} IN (SELECT unnest($r::BIGINT[]))",
                                    {"r": sorted({int(r) for _, _, r in rows})}).fetchall())
    out: dict[Start, list[tuple[int, str]]] = {}
    for sid, pos, rid in rows:
        if int(rid) in texts:
            out.setdefault((int(sid), int(pos)), []).append((int(rid), texts[int(rid)]))
    return {s: "\n".join(t for _, t in sorted(parts)) for s, parts in out.items()}


def session_outcomes(search: Any, sessions: Sequence[str]) -> dict[str, float]:
    """The best ``session_outcome`` logged for each of ``sessions`` that has one.

    Examples
    --------
    >>> session_outcomes(None, [])
    {}
    """
    sessions = sorted(set(sessions))
    if not sessions:
        return {}
    rows = search.con.execute("""SELECT session_id, max(session_outcome) FROM calls
        WHERE session_outcome IS NOT NULL AND session_id IN (SELECT unnest($s::VARCHAR[])) GROUP BY 1""",
                              {"s": sessions}).fetchall()
    return {s: float(v) for s, v in rows}


def usage_figures(usages: Sequence[Usage], frequency: int, contexts: Mapping[Start, Context],
                  outcomes: Mapping[str, float]) -> dict[str, float | int | None]:
    """One-call share (of decided occurrences), round trips saved (scaled to ``frequency``), outcome rate.

    Examples
    --------
    >>> x = ((("s", "x"), "x"),)
    >>> us = [Usage("s1", (1, 1), (), 3), Usage("s2", (2, 1), x, 2), Usage("s3", (3, 1), x, 2)]
    >>> usage_figures(us, 10, {(2, 1): Context(set(), "no"), (3, 1): Context(set(), None)}, {"s1": 1.0, "s2": 0.0})
    {'one_call_share': 0.5, 'one_call_checked': 2, 'round_trips_saved': 13.3, 'outcome_rate': 0.5}
    """
    if not usages:
        return {"one_call_share": None, "one_call_checked": 0, "round_trips_saved": 0.0, "outcome_rate": None}
    verdicts = [v for v in (u.one_call(contexts) for u in usages) if v is not None]
    saved = sum(max(u.replaced - 1, 0) for u in usages) / len(usages) * frequency
    rated = [outcomes[u.session_id] >= OUTCOME_SUCCESS for u in usages if u.session_id in outcomes]
    return {"one_call_share": round(sum(verdicts) / len(verdicts), 3) if verdicts else None,
            "one_call_checked": len(verdicts), "round_trips_saved": round(saved, 1),
            "outcome_rate": round(sum(rated) / len(rated), 3) if rated else None}
