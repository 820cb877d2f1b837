"""Categories for mined workflows: tool namespaces, and a classifier trained on a library.

A tool namespace is an explicit prefix (``slack.send``, ``fs/read``,
``jira:create``, ``github__list``) or a leading word followed by a verb
(``github_list_issues``). When the workflow library already holds
categorised workflows, :class:`CategoryClassifier` (TF-IDF over tool-name
tokens, cosine nearest neighbours) predicts the category of a new chain from
the most similar reviewed ones.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any, Iterable, Sequence

from chainmine.miner.synthesis.describe import VERB_WORDS
from chainmine.miner.synthesis.naming import slugify, tokens

log = logging.getLogger(__name__)

GENERAL = "general"
_EXPLICIT = re.compile(r"^([^./:]+?)(?:\.|/|::?|__)(?=.)")


def namespace(tool: str) -> str | None:
    """The namespace of a tool name, if it has one.

    Examples
    --------
    >>> namespace("slack.send_message"), namespace("github_list_issues"), namespace("get_user_details")
    ('slack', 'github', None)
    """
    m = _EXPLICIT.match(tool)
    if m and tokens(m.group(1)):
        return slugify(m.group(1))
    words = tokens(tool)
    if len(words) >= 2 and words[0] not in VERB_WORDS and words[1] in VERB_WORDS:
        return words[0]
    return None


def namespace_category(tools: Sequence[str]) -> str | None:
    """The most common namespace among ``tools`` (first seen wins ties), or ``None``.

    Examples
    --------
    >>> namespace_category(["github_list_issues", "github_create_pr", "slack.send_message"])
    'github'
    """
    found = [ns for ns in (namespace(t) for t in tools) if ns]
    if not found:
        return None
    counts = Counter(found)
    best = max(counts.values())
    return next(ns for ns in found if counts[ns] == best)


def _document(tools: Sequence[str]) -> str:
    return " ".join(w for t in tools for w in tokens(t))


class CategoryClassifier:
    """Nearest-neighbour category classifier over tool-name tokens.

    Parameters
    ----------
    n_neighbors : neighbours that vote (weighted by cosine similarity).
    min_similarity : below this similarity to every neighbour, no prediction.

    Examples
    --------
    >>> clf = CategoryClassifier().fit([(["get_user_details", "get_reservation_details"], "airline"),
    ...                                 (["list_orders", "refund_order"], "retail")])
    >>> clf.predict(["get_reservation_details", "cancel_reservation"])
    'airline'
    >>> clf.predict(["weather_forecast"]) is None
    True
    """

    def __init__(self, n_neighbors: int = 3, min_similarity: float = 0.2):
        self.n_neighbors = n_neighbors
        self.min_similarity = min_similarity
        self.vectorizer_: Any = None
        self.matrix_: Any = None
        self.labels_: list[str] = []

    def fit(self, examples: Iterable[tuple[Sequence[str], str]]) -> "CategoryClassifier":
        """Train on ``(tools, category)`` pairs; ``general`` and empty categories are ignored."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        pairs = [(list(t), c) for t, c in examples if c and c != GENERAL and t]
        self.labels_ = [c for _, c in pairs]
        if not pairs:
            return self
        self.vectorizer_ = TfidfVectorizer(token_pattern=r"[a-z0-9]+")
        self.matrix_ = self.vectorizer_.fit_transform([_document(t) for t, _ in pairs])
        return self

    @property
    def trained(self) -> bool:
        """True when at least one categorised example was seen."""
        return bool(self.labels_)

    def predict(self, tools: Sequence[str]) -> str | None:
        """The predicted category of a chain, or ``None`` when nothing similar is known.

        Notes
        -----
        O(n * v) for n training workflows and v vocabulary terms (sparse).
        """
        if not self.trained:
            return None
        vec = self.vectorizer_.transform([_document(tools)])
        sims = (self.matrix_ @ vec.T).toarray().ravel()
        order = sims.argsort()[::-1][: self.n_neighbors]
        votes: Counter = Counter()
        for i in order:
            if sims[i] >= self.min_similarity:
                votes[self.labels_[i]] += float(sims[i])
        if not votes:
            return None
        return max(votes.items(), key=lambda kv: (kv[1], kv[0]))[0]


def classifier_from_library(workflows: Iterable[Any]) -> CategoryClassifier:
    """Train a :class:`CategoryClassifier` on library workflows (models or dicts).

    Examples
    --------
    >>> classifier_from_library([{"steps": [{"tool_name": "list_orders"}], "category": "retail"}]).trained
    True
    """
    examples = []
    for wf in workflows:
        if isinstance(wf, dict):
            tools = [s.get("tool_name", "") for s in wf.get("steps", [])]
            category = wf.get("category")
        else:
            tools, category = list(wf.tools), wf.category
        examples.append((tools, category))
    return CategoryClassifier().fit(examples)


def categorize(tools: Sequence[str], classifier: CategoryClassifier | None = None) -> str:
    """Category of a mined chain: the classifier's when it is confident, else the namespace, else ``general``.

    Examples
    --------
    >>> categorize(["slack.send_message"]), categorize(["get_weather"])
    ('slack', 'general')
    """
    if classifier is not None:
        predicted = classifier.predict(tools)
        if predicted:
            return predicted
    return namespace_category(tools) or GENERAL
