"""Widgets shared by the dashboard pages: errors, empty states, graphs, filters.

Only layout lives here; data comes from :mod:`miner.views` and the public
functions of :mod:`miner` and :mod:`library`.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

import streamlit as st

from library.errors import ValidationError
from miner.errors import USER_ERRORS, StoreLockedError
from miner.views import DashboardConfig, dashboard_config

log = logging.getLogger(__name__)
T = TypeVar("T")

NO_RESULT = object()
"""What :func:`attempt` returns when the call failed (the message is already shown)."""


def config() -> DashboardConfig:
    """The database, library and tools this server was started with.

    Example: ``cfg = config(); st.write(cfg.db)``.
    """
    return dashboard_config()


def show_problem(exc: BaseException) -> None:
    """Show a bad-input error as one clear message (a locked store as a warning with a retry).

    Example: ``except USER_ERRORS as exc: show_problem(exc)``.
    """
    if isinstance(exc, StoreLockedError):
        st.warning(f"The database is busy: {exc}. The dashboard waited a few seconds; "
                   "try again when the other process has finished.", icon=":material/lock:")
        st.button("Try again", key=f"retry_{id(exc)}", icon=":material/refresh:")
        return
    st.error(str(exc).split("\n")[0], icon=":material/error:")
    problems = getattr(exc, "problems", None)
    if isinstance(exc, ValidationError) and problems:
        with st.expander(f"All {len(problems)} problems"):
            st.markdown("\n".join(f"- `{p}`" for p in problems))


def attempt(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | object:
    """Call ``fn``; on a bad-input error show it and return :data:`NO_RESULT`.

    Example: ``rows = attempt(views.list_runs, cfg.db)``.
    """
    try:
        return fn(*args, **kwargs)
    except USER_ERRORS as exc:
        log.debug("dashboard call failed", exc_info=True)
        show_problem(exc)
        return NO_RESULT


def empty_state(message: str, page: str | None = None, label: str | None = None) -> None:
    """An explanation of what to do next, with a link to the page that does it.

    Example: ``empty_state("No logs yet.", "pages/upload.py", "Upload logs")``.
    """
    st.info(message, icon=":material/info:")
    if page:
        st.page_link(page, label=label or page, icon=":material/arrow_forward:")


def draw_dot(dot: str) -> None:
    """Draw Graphviz DOT text in the browser (no graphviz binary needed).

    Example: ``draw_dot(graphs.transition_dot(graph))``.
    """
    st.graphviz_chart(dot, width="stretch")


def metric_row(values: dict[str, Any]) -> None:
    """One row of KPI tiles, label → value.

    Example: ``metric_row({"Calls": 120, "Sessions": 30})``.
    """
    for col, (label, value) in zip(st.columns(len(values)), values.items()):
        col.metric(label, value)


def show_table(rows: Any, **kwargs: Any) -> None:
    """A read-only table of records (or a DataFrame), full width without the index.

    Example: ``show_table([{"tool": "search", "calls": 12}])``.
    """
    st.dataframe(rows, hide_index=True, width="stretch", **kwargs)
