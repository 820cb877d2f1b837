"""Finding workflows: ranked text search with filters, and matching a tool sequence.

Text search ranks by TF-IDF cosine similarity over a workflow's name,
description, category, tags and tool names. Names are split on ``_``, ``.``,
``-`` and camelCase and common tool-name abbreviations are expanded (``pr`` →
``pull request``), so ``create pull request`` finds ``github_create_pr``.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from chainmine.library.errors import ValidationError
from chainmine.library.model import STATUSES, WorkflowTemplate

log = logging.getLogger(__name__)

ABBREVIATIONS: dict[str, str] = {
    "pr": "pull request", "prs": "pull request", "mr": "merge request", "repo": "repository",
    "msg": "message", "msgs": "message", "db": "database", "id": "identifier", "ids": "identifier",
    "info": "information", "config": "configuration", "cfg": "configuration", "conf": "configuration",
    "auth": "authentication", "doc": "document", "docs": "document", "img": "image", "usr": "user",
    "dir": "directory", "env": "environment", "num": "number", "qty": "quantity", "addr": "address",
    "desc": "description", "req": "request", "resp": "response", "res": "result", "del": "delete",
    "rm": "remove", "ls": "list", "mk": "make", "calc": "calculate", "txn": "transaction",
    "tx": "transaction", "acct": "account", "org": "organization", "notif": "notification",
    "dm": "direct message", "ts": "timestamp", "param": "parameter", "params": "parameter",
    "arg": "argument", "args": "argument", "fn": "function", "func": "function", "pkg": "package",
    "tmp": "temporary", "temp": "temporary", "cal": "calendar", "evt": "event", "ticket": "issue",
    "kb": "knowledge base", "sql": "query", "pw": "password", "pwd": "password", "ws": "workspace",
}
"""Tool-name abbreviations and the words they stand for (both sides are indexed)."""

_STATUS_RANK = {"accepted": 0, "suggested": 1, "rejected": 2}
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class SearchHit:
    """A workflow with its relevance ``score`` (``None`` when no ranking applied).

    Unpacks as ``(workflow, score)``.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf, score = SearchHit(WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")]), 0.5)
    >>> wf.name, score
    ('w', 0.5)
    """

    workflow: WorkflowTemplate
    score: float | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.workflow, self.score))

    def to_dict(self) -> dict[str, Any]:
        """The workflow's dict with ``score`` added (the ``library search --json`` item).

        Examples
        --------
        >>> from chainmine.library.model import WorkflowStep
        >>> SearchHit(WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")]), 0.5).to_dict()["score"]
        0.5
        """
        return {**self.workflow.to_dict(), "score": self.score}


def _stem(word: str) -> str:
    # Just enough to make plurals meet their singular: "reservations", "entries".
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens of ``text`` with abbreviations expanded.

    Splits on anything but letters and digits and on camelCase.

    Examples
    --------
    >>> tokenize("github_createPR")
    ['github', 'create', 'pr', 'pull', 'request']
    >>> tokenize("get_reservation_details")
    ['get', 'reservation', 'detail']
    """
    out: list[str] = []
    for piece in _NON_ALNUM.split(text or ""):
        for part in _CAMEL.split(piece):
            word = part.lower()
            if not word:
                continue
            stem = _stem(word)
            out.append(stem)
            expansion = ABBREVIATIONS.get(word) or ABBREVIATIONS.get(stem)
            if expansion:
                out += [_stem(w) for w in expansion.split()]
    return out


def workflow_tokens(wf: WorkflowTemplate) -> list[str]:
    """The indexed words of a workflow; its name and tools count twice.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> workflow_tokens(WorkflowTemplate(name="w", category="dev", steps=[WorkflowStep(id="a", tool_name="list_repos")]))
    ['w', 'w', 'list', 'repo', 'repository', 'list', 'repo', 'repository', 'dev']
    """
    tools = " ".join(wf.tools)
    return (tokenize(wf.name) * 2 + tokenize(tools) * 2 + tokenize(wf.description)
            + tokenize(wf.category) + tokenize(" ".join(wf.tags)))


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def text_scores(workflows: Sequence[WorkflowTemplate], query: str) -> list[float]:
    """TF-IDF cosine similarity of ``query`` to each workflow, in input order.

    Parameters
    ----------
    workflows : the corpus; IDF weights come from these documents.
    query : free text; split and expanded like workflow names.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> a = WorkflowTemplate(name="open_pr", steps=[WorkflowStep(id="s", tool_name="github_create_pr")])
    >>> b = WorkflowTemplate(name="notify", steps=[WorkflowStep(id="s", tool_name="slack_send_message")])
    >>> [round(s, 2) > 0 for s in text_scores([a, b], "create pull request")]
    [True, False]

    Notes
    -----
    O(total tokens) to build the index; scoring is one sparse product.
    """
    query_tokens = tokenize(query)
    if not workflows or not query_tokens:
        return [0.0] * len(workflows)
    # Imported here: scikit-learn takes about a second to import and most commands never search.
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True)
    try:
        matrix = vectorizer.fit_transform([workflow_tokens(wf) for wf in workflows])
    except ValueError:  # no workflow has a single word (names like "_")
        return [0.0] * len(workflows)
    query_vec = vectorizer.transform([query_tokens])
    return [float(x) for x in (matrix @ query_vec.T).toarray().ravel()]


def _frequency(wf: WorkflowTemplate) -> int:
    return wf.stats.frequency if wf.stats else 0


def _default_order(wf: WorkflowTemplate) -> tuple:
    return (_STATUS_RANK[wf.status], -_frequency(wf), wf.name)


def matches_tool(wf: WorkflowTemplate, pattern: str) -> bool:
    """True when one of the workflow's tools is ``pattern`` (a glob when it has ``*?[``).

    Case is ignored.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="github_create_pr")])
    >>> matches_tool(wf, "github_*"), matches_tool(wf, "github"), matches_tool(wf, "GitHub_create_pr")
    (True, False, True)
    """
    pat = pattern.lower()
    if _GLOB_CHARS & set(pat):
        return any(fnmatch.fnmatchcase(t.lower(), pat) for t in wf.tools)
    return any(t.lower() == pat for t in wf.tools)


def _check_filters(status: str | None, limit: int | None) -> None:
    if status is not None and status not in STATUSES:
        raise ValidationError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    if limit is not None and limit < 1:
        raise ValidationError(f"limit must be at least 1, not {limit}")


def search(workflows: Iterable[WorkflowTemplate], query: str | None = None, tool: str | None = None,
           category: str | None = None, status: str | None = None, limit: int | None = None
           ) -> list[SearchHit]:
    """Workflows matching every given filter, best first.

    Parameters
    ----------
    workflows : the workflows to search.
    query : free text ranked by TF-IDF cosine; only workflows with a score above 0 match.
    tool : a tool name, or a glob such as ``github_*``, that some step must call.
    category : exact category (case ignored).
    status : ``suggested``, ``accepted`` or ``rejected``.
    limit : at most this many hits.

    Without ``query`` the order is status (accepted, suggested, rejected), then
    frequency in the logs, then name, and scores are ``None``.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> a = WorkflowTemplate(name="open_pr", steps=[WorkflowStep(id="s", tool_name="github_create_pr")])
    >>> b = WorkflowTemplate(name="notify", steps=[WorkflowStep(id="s", tool_name="slack_send_message")])
    >>> [h.workflow.name for h in search([a, b], query="send a message")]
    ['notify']
    >>> [h.workflow.name for h in search([a, b], tool="github_*")]
    ['open_pr']

    Notes
    -----
    O(total tokens) for a query (see :func:`text_scores`), O(W log W) to sort.
    """
    _check_filters(status, limit)
    pool = list(workflows)
    scores: list[float | None] = [None] * len(pool)
    if query is not None and query.strip():
        scores = list(text_scores(pool, query))
    hits = [SearchHit(wf, s) for wf, s in zip(pool, scores)
            if (s is None or s > 1e-12)
            and (tool is None or matches_tool(wf, tool))
            and (category is None or wf.category.lower() == category.lower())
            and (status is None or wf.status == status)]
    if query is not None and query.strip():
        hits.sort(key=lambda h: (-(h.score or 0.0), *_default_order(h.workflow)))
    else:
        hits.sort(key=lambda h: _default_order(h.workflow))
    return hits[:limit] if limit is not None else hits


def common_subsequence_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (in order, gaps allowed) of ``a`` and ``b``.

    Examples
    --------
    >>> common_subsequence_length(["x", "a", "b", "c"], ["a", "c"])
    2

    Notes
    -----
    O(len(a) * len(b)) time, O(len(b)) memory.
    """
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def suggest_for_tools(workflows: Iterable[WorkflowTemplate], tools: Sequence[str],
                      status: str | None = None, limit: int | None = None) -> list[SearchHit]:
    """Workflows ranked by how much of the tool sequence ``tools`` they cover, in order.

    The score is the longest common in-order subsequence of the workflow's
    tools and ``tools``, divided by ``len(tools)``; ties go to the workflow
    with fewer extra steps, then by status, frequency and name. Workflows
    sharing no tool are left out.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> def wf(name, *tools):
    ...     return WorkflowTemplate(name=name, steps=[WorkflowStep(id=f"s{i}", tool_name=t) for i, t in enumerate(tools)])
    >>> [(w.name, s) for w, s in suggest_for_tools([wf("ab", "a", "b"), wf("ba", "b", "a")], ["a", "b"])]
    [('ab', 1.0), ('ba', 0.5)]

    Notes
    -----
    O(W * L * T) for W workflows of L steps and T given tools.
    """
    _check_filters(status, limit)
    wanted = list(tools)
    if not wanted:
        return []
    ranked = []
    for wf in workflows:
        if status is not None and wf.status != status:
            continue
        common = common_subsequence_length(wf.tools, wanted)
        if common:
            ranked.append((common / len(wanted), common / len(wf.tools), wf))
    ranked.sort(key=lambda r: (-r[0], -r[1], *_default_order(r[2])))
    hits = [SearchHit(wf, score) for score, _, wf in ranked]
    return hits[:limit] if limit is not None else hits
