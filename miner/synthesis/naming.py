"""Readable, stable names: step ids, input names and workflow names from tool names.

Names depend only on the tools (and on which steps are map steps or parallel),
so the same chain gets the same name on every run.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Iterable, Sequence

from chainmine.library.effects import DESTRUCTIVE_VERBS, READ_VERBS, WRITE_VERBS
from chainmine.library.merge import free_name

FILLER = frozenset({"details", "detail", "info", "information", "data", "tool", "by", "the", "a", "an",
                    "for", "of", "api", "v1", "v2", "v3"})
"""Tokens that add nothing to a step id (``get_user_details`` -> ``get_user``)."""
VERBS = (READ_VERBS | WRITE_VERBS | DESTRUCTIVE_VERBS) - {"details", "info", "status", "stats", "overview", "order",
                                                         "return", "review", "issue"}
"""Words that start the action in a tool name; nouns that double as verbs are left out."""
MAX_STEP_TOKENS = 3
MAX_NAME = 60

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def tokens(text: str) -> list[str]:
    """Lower-case ASCII word tokens of a tool or argument name.

    Examples
    --------
    >>> tokens("slack.sendMessage"), tokens("get user détails")
    (['slack', 'send', 'message'], ['get', 'user', 'details'])
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    ascii_text = _CAMEL.sub("_", ascii_text)
    return [t for t in re.split(r"[^A-Za-z0-9]+", ascii_text.lower()) if t]


def slugify(text: str, default: str = "step") -> str:
    """A slug matching ``^[a-zA-Z_][a-zA-Z0-9_]*$``.

    Examples
    --------
    >>> slugify("github.list-issues"), slugify("3d print"), slugify("☃")
    ('github_list_issues', 't_3d_print', 'step')
    """
    slug = "_".join(tokens(text)) or default
    return f"t_{slug}" if slug[0].isdigit() else slug


def unique_name(base: str, taken: Iterable[str]) -> str:
    """``slugify(base)``, suffixed ``_2``, ``_3`` ... until it is not in ``taken``.

    Examples
    --------
    >>> unique_name("user id", {"user_id"})
    'user_id_2'
    """
    return free_name(slugify(str(base), default="value"), set(taken))


def step_id(tool: str) -> str:
    """Short readable id for a step calling ``tool``: its verb and object, as a person would name it.

    A namespace of several words before the verb (``Coronavirus_Smartable_``)
    and the lookup key after ``by`` are left out, and so are filler words and
    repeats; a one-word namespace (``github_``, ``slack.``) stays.

    Examples
    --------
    >>> step_id("get_user_details"), step_id("github_list_open_issues"), step_id("details")
    ('get_user', 'github_list_open', 'details')
    >>> step_id("Get_Country_Details_By_Country_Name"), step_id("Coronavirus_Smartable_GetStats")
    ('get_country', 'get_stats')
    >>> step_id("SkyScrapperSearchAirport"), step_id("LocalBusinessData"), step_id("SkyScrapperFlightSearch")
    ('search_airport', 'local_business', 'flight_search')
    """
    return _id_from_words(tokens(tool))


def _id_from_words(words: list[str]) -> str:
    if "by" in words[1:]:
        words = words[:words.index("by", 1)]
    verb = next((i for i, w in enumerate(words) if w in VERBS), 0)
    if verb == len(words) - 1 and verb > 0:
        verb -= 1  # "FlightSearch": the object comes first
    verb = 0 if verb == 1 else verb
    kept = list(dict.fromkeys(w for w in words[verb:] if w not in FILLER)) or words
    return slugify("_".join(kept[:MAX_STEP_TOKENS]))


def step_ids(tools: Sequence[str]) -> list[str]:
    """Unique step ids for a chain, in order (``item`` is reserved for map steps).

    Examples
    --------
    >>> step_ids(["get_user_details", "get_user_info", "item"])
    ['get_user', 'get_user_2', 'item_step']
    """
    taken: set[str] = set()
    out = []
    for tool in tools:
        base = step_id(tool)
        if base == "item":
            base = "item_step"
        name = unique_name(base, taken)
        taken.add(name)
        out.append(name)
    return out


def workflow_name(ids: Sequence[str], slots: Sequence[Sequence[int]], map_steps: Iterable[int] = ()) -> str:
    """Workflow name from its step ids: ``get_user_then_each_get_reservation``.

    Parallel steps are joined by ``_and_``; a map step reads ``each_<id>``.
    Names longer than 60 characters keep the first and last slot and the step count.

    Examples
    --------
    >>> workflow_name(["get_user", "get_reservation"], [[0], [1]], map_steps=[1])
    'get_user_then_each_get_reservation'
    >>> workflow_name(["a", "b", "c", "d"], [[0], [1, 2], [3]])
    'a_then_b_and_c_then_d'
    >>> workflow_name(["tripadvisor_search_restaurant", "tripadvisor_search_restaurants"], [[0], [1]])
    'tripadvisor_search_restaurant_then_search_restaurants'
    """
    mapped = set(map_steps)
    parts = ["_and_".join(("each_" if i in mapped else "") + ids[i] for i in slot) for slot in slots]
    name = "_then_".join(parts)
    head = ids[0].split("_")[0] + "_"
    if len(name) > MAX_NAME and len(ids) > 1 and all(i.startswith(head) and i != head for i in ids):
        # tripadvisor_search_restaurant_then_search_restaurants: the shared namespace once
        trimmed = [ids[0]] + [i[len(head):] for i in ids[1:]]
        short = "_then_".join("_and_".join(("each_" if i in mapped else "") + trimmed[i] for i in slot)
                              for slot in slots)
        name = short if len(short) <= MAX_NAME else name
    if len(name) > MAX_NAME:
        name = f"{parts[0]}_to_{parts[-1]}_{len(ids)}_steps"
    if len(name) > MAX_NAME:
        digest = hashlib.sha1("|".join(ids).encode()).hexdigest()[:6]
        name = f"{name[:MAX_NAME - 7].rstrip('_')}_{digest}"
    return name


def distinct_names(names: Sequence[str], identities: Sequence[str]) -> list[str]:
    """Make names unique: a name shared by different chains gets a stable hash of its chain.

    Examples
    --------
    >>> distinct_names(["w", "w", "v"], ["a|b", "c|d", "e"])
    ['w_9abe6d', 'w_961390', 'v']
    """
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    out, taken = [], set()
    for name, ident in zip(names, identities):
        if counts[name] > 1:
            name = f"{name}_{hashlib.sha1(ident.encode()).hexdigest()[:6]}"
        out.append(unique_name(name, taken))
        taken.add(out[-1])
    return out
