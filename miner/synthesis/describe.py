"""Plain-English descriptions of mined workflows, with the evidence behind them."""

from __future__ import annotations

from typing import Sequence

from chainmine.miner.synthesis.naming import FILLER, tokens

VERBS = {
    "looks up": ("get", "fetch", "read", "retrieve", "lookup", "load", "show", "describe", "view", "check"),
    "lists": ("list", "query", "browse"),
    "searches": ("search", "find"),
    "creates": ("create", "add", "post", "book", "make", "insert", "open", "new", "register", "submit"),
    "updates": ("update", "modify", "edit", "set", "change", "patch", "rename", "move"),
    "cancels": ("cancel", "delete", "remove", "close", "revoke", "drop"),
    "sends": ("send", "notify", "email", "message", "post_message", "reply"),
    "calculates": ("calculate", "compute", "estimate"),
    "runs": ("run", "execute", "exec"),
}
_VERB_OF = {word: phrase for phrase, words in VERBS.items() for word in words}
VERB_WORDS = frozenset(_VERB_OF)
"""Tokens that name an action; used to tell a namespace (``github_``) from a verb (``get_``)."""


def singular(word: str) -> str:
    """Naive English singular for list names.

    Examples
    --------
    >>> singular("reservations"), singular("entries"), singular("status")
    ('reservation', 'entry', 'status')
    """
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us")) and len(word) > 3:
        return word[:-1]
    return word


def phrase(tool: str) -> str:
    """What one call does, from the tool name.

    Examples
    --------
    >>> phrase("get_user_details"), phrase("github_list_issues"), phrase("frobnicate")
    ('looks up user', 'lists issues', 'calls frobnicate')
    """
    words = tokens(tool)
    for i, word in enumerate(words):
        if word in _VERB_OF:
            obj = " ".join(w for w in words[i + 1:] if w not in FILLER)
            return f"{_VERB_OF[word]} {obj}".strip()
    return f"calls {tool}"


def describe(tools: Sequence[str], slots: Sequence[Sequence[int]], map_lists: dict[int, str],
             frequency: int, sessions: int, success_rate: float) -> str:
    """One sentence saying what the workflow does, then the evidence.

    Parameters
    ----------
    tools : tool of each step.
    slots : step indices per slot (a slot of several steps runs them in parallel).
    map_lists : for map steps, the last name of the list they iterate.
    frequency, sessions, success_rate : evidence from the logs.

    Examples
    --------
    >>> describe(["get_user_details", "get_reservation_details"], [[0], [1]], {1: "reservations"},
    ...          467, 467, 0.97)
    'Looks up user, then looks up reservation for each reservation — seen 467× in 467 sessions, 97% success.'
    """
    parts = []
    for slot in slots:
        texts = []
        for i in slot:
            text = phrase(tools[i])
            if i in map_lists:
                text += f" for each {singular(map_lists[i])}"
            texts.append(text)
        parts.append(" and ".join(texts) + (" (in either order)" if len(slot) > 1 else ""))
    sentence = ", then ".join(parts)
    sentence = sentence[:1].upper() + sentence[1:]
    return (f"{sentence} — seen {frequency}× in {sessions} session{'s' if sessions != 1 else ''}, "
            f"{round(success_rate * 100)}% success.")
