"""Widgets shared by the dashboard pages: errors, empty states, graphs, filters.

Only layout lives here; data comes from :mod:`chainmine.miner.views` and the public
functions of :mod:`miner` and :mod:`library`.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, Callable, TypeVar

import streamlit as st

from chainmine.dashboards.graphs import workflow_dot
from chainmine.library.errors import ValidationError
from chainmine.library.evidence import disagreement_text, replay_evidence
from chainmine.library.model import WorkflowTemplate
from chainmine.miner import views
from chainmine.miner.analytics import CallFilter
from chainmine.miner.errors import USER_ERRORS, StoreLockedError
from chainmine.miner.views import DashboardConfig, dashboard_config
from chainmine.miner.views.workflows import as_text, parameter_evidence, step_effects

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRY_KEYS = itertools.count()
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
        st.button("Try again", key=f"retry_{next(_RETRY_KEYS)}", icon=":material/refresh:")
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


def draw_dot(dot: str, stretch: bool = True) -> None:
    """Draw Graphviz DOT text in the browser (no graphviz binary needed), full width or at its own size.

    Example: ``draw_dot(graphs.transition_dot(graph))``.
    """
    st.graphviz_chart(dot, width="stretch" if stretch else "content")


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


def flash() -> None:
    """Show (once) the outcome of the last button action, stored by :func:`action`.

    Example: call ``flash()`` near the top of a page that uses :func:`action`.
    """
    note = st.session_state.pop("_flash", None)
    if note is None:
        return
    kind, text = note
    if kind == "success":
        st.success(text, icon=":material/check_circle:")
    else:
        show_problem(text)


class WidgetValue:
    """An :func:`action` argument read from a widget's key when the button is pressed.

    Callback arguments are bound when the button is drawn, so a value typed
    just before the click would be stale; this reads the current one.

    Example: ``action(rename, WidgetValue("new_name"))``.
    """

    def __init__(self, key: str):
        self.key = key

    def get(self) -> Any:
        """The widget's current value."""
        return st.session_state.get(self.key)


def _current(value: Any) -> Any:
    return value.get() if isinstance(value, WidgetValue) else value


def action(fn: Callable[..., Any], *args: Any, done: str | Callable[[Any], str] = "Done.",
           **kwargs: Any) -> Callable[[], None]:
    """A button callback: run ``fn`` before the page redraws and keep its outcome for :func:`flash`.

    Callbacks run before the script, so tables drawn afterwards already show the
    change. Arguments given as :class:`WidgetValue` are read at click time.

    Example: ``st.button("Accept", on_click=action(lib.accept, name, done="Accepted."))``.
    """
    def callback() -> None:
        try:
            result = fn(*[_current(a) for a in args], **{k: _current(v) for k, v in kwargs.items()})
        except USER_ERRORS as exc:
            log.debug("dashboard action failed", exc_info=True)
            st.session_state["_flash"] = ("error", exc)
            return
        st.session_state["_flash"] = ("success", done(result) if callable(done) else done)

    return callback


def _pct(value: Any) -> str:
    return "–" if value is None else f"{float(value):.0%}"


def workflow_detail(wf: WorkflowTemplate, library_path: Any = None) -> None:
    """A workflow's description, evidence, step graph, parameters and example sessions.

    Example: ``workflow_detail(library.get("lookup_user_reservations"))``.
    """
    st.markdown(f"### {wf.name}")
    st.caption(f"status **{wf.status}** · category **{wf.category}** · source {wf.source} · version {wf.version}"
               + (f" · tags {', '.join(wf.tags)}" if wf.tags else ""))
    if wf.description:
        st.markdown(wf.description)
    stats = wf.stats
    if stats is not None:
        extra = stats.model_extra or {}
        metric_row({"Seen": f"{stats.frequency}×", "Sessions": stats.sessions,
                    "Success": _pct(stats.success_rate), "Success, worst case": _pct(stats.success_rate_low),
                    "Avg duration": "–" if stats.avg_duration_ms is None else f"{stats.avg_duration_ms:.0f} ms",
                    "Score": "–" if extra.get("score") is None else f"{float(extra['score']):.3g}"})
    replay = replay_evidence(wf)
    if replay is not None:
        st.markdown("**Replay** on logged occurrences (`chainmine validate`): the workflow re-run with the inputs "
                    "those sessions had, every call and result compared with the log")
        metric_row({"Replay pass rate": _pct(replay.get("pass_rate")),
                    "Arguments agree": _pct(replay.get("args_pass_rate")),
                    "Replayed": f"{replay.get('passed', '–')}/{replay.get('replayed', '–')}",
                    "Calls compared": replay.get("compared", 0),
                    "Writes from log": replay.get("skipped_writes", 0)})
        first = disagreement_text(replay.get("first_disagreement"))
        st.caption((f"First disagreement: {first}. " if first else "") + f"Validated {replay.get('at', '')}")
    st.markdown("**Steps** (arrows show which step feeds which; dashed arrows come from inputs)")
    draw_dot(workflow_dot(wf), stretch=False)
    if wf.inputs:
        st.markdown("**Inputs** (asked for when the workflow runs)")
        show_table([{"input": n, "type": s.type, "required": s.required, "example": as_text(s.example),
                     "description": s.description} for n, s in wf.inputs.items()])
    st.markdown("**Parameters**: *bound* = taken from an earlier step's result, *constant* = always the same "
                "value in the logs, *input* = differs per run and is asked for; *support* = share of the "
                "observed calls that agree")
    st.markdown("**Side effects** of each step: *read* changes nothing, *write* changes something, "
                "*destructive* deletes, cancels or pays (a run asks for confirmation); *source* says how it "
                "is known: an override file, the tool server's annotations, or the verbs in the tool's name")
    show_table(step_effects(wf, library_path))
    show_table(parameter_evidence(wf), column_config={
        "support": st.column_config.ProgressColumn("support", min_value=0.0, max_value=1.0, format="percent")})
    if stats is not None and stats.example_sessions:
        st.markdown("**Example sessions** where the logs show this chain: "
                    + ", ".join(f"`{s}`" for s in stats.example_sessions[:10]))
    with st.expander("Workflow JSON"):
        st.json(wf.to_dict(), expanded=False)



def include_runs_toggle() -> bool:
    """The sidebar's *Include workflow runs* checkbox (kept across pages); off by default.

    Example: ``rows = views.drift_report(cfg.db, cfg.library, include_runs=include_runs_toggle())``.
    """
    # Widgets are per page: the choice lives in a plain session key, copied in before each draw and
    # updated by the click's callback (which runs before the page does).
    st.session_state["include_runs"] = st.session_state.get("_include_runs_kept", False)
    with st.sidebar:
        return st.checkbox("Include workflow runs", key="include_runs", on_change=_keep_include_runs,
                           help="Also count the calls of workflows run with chainmine (left out by default, "
                                "so testing a workflow does not change its evidence; the Run page lists them)")


def _keep_include_runs() -> None:
    st.session_state["_include_runs_kept"] = st.session_state["include_runs"]


def sidebar_filter(db: Any) -> CallFilter | object:
    """The sidebar's time range, agent and tool filter (kept across pages); returns a ``CallFilter``.

    Returns :data:`NO_RESULT` when the store cannot be read (the message is shown).

    Example: ``flt = sidebar_filter(cfg.db)``.
    """
    include_runs = include_runs_toggle()
    opts = attempt(views.choices, db, include_runs)
    if opts is NO_RESULT:
        return NO_RESULT
    with st.sidebar:
        st.markdown("**Filter** (applies to every chart and table)")
        days = None
        if opts["first_ts"] is not None:
            first, last = opts["first_ts"].date(), opts["last_ts"].date()
            days = st.date_input("Time range", value=(first, last), min_value=first, max_value=last,
                                 # the runs widen the stored range: each choice keeps its own
                                 key="flt_days_runs" if include_runs else "flt_days", persist_state="session")
        agents = st.multiselect("Agents", opts["agents"], key="flt_agents", placeholder="all agents",
                                persist_state="session")
        tools = st.multiselect("Tools", opts["tools"], key="flt_tools", placeholder="all tools",
                               persist_state="session", help="Keep the calls of these tools (and, in the graph, "
                                                              "their neighbours)")
    return attempt(views.time_filter, opts, days, agents, tools, include_runs)


def require_calls(db: Any, why: str) -> None:
    """Stop the page with a pointer to the Upload page while the store holds no calls.

    ``why`` says what the page will show once there are logs.

    Example: ``require_calls(cfg.db, "the tools and their transitions")``.
    """
    status = attempt(views.store_status, db)
    if status is NO_RESULT:
        st.stop()
    if status.empty:
        empty_state(f"No tool calls yet. Upload your agents' logs (or load the sample log) to see {why}.",
                    "pages/upload.py", "Upload logs")
        st.stop()
