"""Suggestions page: mine recurring tool chains, review the ranked suggestions, accept, reject or edit them."""

from __future__ import annotations

import streamlit as st

from chainmine.dashboards.components import (NO_RESULT, WidgetValue, action, attempt, config, flash, include_runs_toggle,
                                   require_calls, show_table, workflow_detail)
from chainmine.library.store import WorkflowLibrary
from chainmine.miner import views

cfg = config()
st.title("Suggested workflows")
st.markdown("chainmine looks for **chains of tool calls your agents repeat** (e.g. look a user up, then fetch each "
            "of their reservations), checks how often they succeed, and writes each one down as a workflow whose "
            "parameters are wired from step to step. Review them here: **accept** the useful ones to run them "
            "without the model in the loop, **reject** the rest.")
flash()

require_calls(cfg.db, "the tool chains they repeat, as workflows to review")
include_runs = include_runs_toggle()

defaults = views.MINING_DEFAULTS
with st.form("mine_form", border=True):
    st.markdown("**Mining settings** (the defaults suit most logs)")
    c1, c2, c3, c4 = st.columns(4)
    min_frequency = c1.number_input("Seen at least (times)", 1, value=defaults["min_frequency"], step=1,
                                    key="mine_min_frequency", help="How often the chain must occur in the logs")
    min_sessions = c2.number_input("In at least (sessions)", 1, value=defaults["min_sessions"], step=1,
                                   key="mine_min_sessions", help="How many different sessions must show it")
    min_success = c3.slider("Success rate at least", 0.0, 1.0, float(defaults["min_success_rate"]), 0.05,
                            key="mine_min_success_rate", help="Share of occurrences where every call succeeded")
    min_confidence = c4.slider("Confidence at least", 0.0, 1.0, float(defaults["min_confidence"]), 0.05,
                               key="mine_min_confidence",
                               help="How reliably each tool is followed by the next one in the chain")
    c5, c6, c7 = st.columns(3)
    length = c5.slider("Steps per workflow", 2, 12, (defaults["min_length"], defaults["max_length"]),
                       key="mine_length")
    max_gap = c6.number_input("Unrelated calls allowed between steps", 0, 20, value=defaults["max_gap"], step=1,
                              key="mine_max_gap", help="0 means the steps must follow each other directly")
    top = c7.number_input("Show at most", 1, 200, value=20, step=1, key="mine_top")
    mined = st.form_submit_button("Find suggestions", type="primary", icon=":material/search:")

if mined:
    with st.spinner("Mining the logs for recurring tool chains…"):
        found = attempt(views.mine_suggestions, cfg.db, cfg.library, min_frequency=int(min_frequency),
                        min_sessions=int(min_sessions), min_success_rate=float(min_success),
                        min_confidence=float(min_confidence), min_length=int(length[0]),
                        max_length=int(length[1]), max_gap=int(max_gap), top=int(top),
                        include_runs=include_runs)
    if found is not NO_RESULT:
        st.session_state["suggestions"] = found

suggestions = st.session_state.get("suggestions")
if suggestions is None:
    st.info("Press **Find suggestions** to mine the logs.", icon=":material/arrow_upward:")
    st.stop()
if not suggestions:
    st.warning("No chain passes these settings. Lower *Seen at least*, *Success rate* or *Confidence*, or allow "
               "more unrelated calls between steps, and mine again.", icon=":material/search_off:")
    st.stop()

library = WorkflowLibrary(cfg.library)
entries = attempt(views.library_entries, library, suggestions)
if entries is NO_RESULT:
    entries = [None] * len(suggestions)
rows = []
for rank, (wf, entry) in enumerate(zip(suggestions, entries), start=1):
    in_library = "–" if entry is None else f"{entry.status} as {entry.name}"
    rows.append({"rank": rank, **views.workflow_row(wf), "in library": in_library})
st.subheader(f"{len(suggestions)} suggestions, best first")
st.caption("*frequency* = times the chain occurs, *sessions* = sessions showing it, *success* = share of those "
           "occurrences where every call succeeded, *score* = model round-trips it would save, weighted by success.")
show_table(rows, column_order=["rank", "frequency", "sessions", "success_rate", "score", "tools", "inputs", "name",
                               "in library"],
           column_config={"success_rate": st.column_config.ProgressColumn("success", min_value=0.0, max_value=1.0,
                                                                          format="percent", width="small"),
                          "score": st.column_config.NumberColumn("score", format="%.1f")})

labels = {wf.name: f"#{i} {wf.name} ({' → '.join(wf.tools)})" for i, wf in enumerate(suggestions, start=1)}
chosen = st.selectbox("Review suggestion", list(labels), format_func=labels.get, key="sugg_detail")
index = list(labels).index(chosen)
wf, entry = suggestions[index], entries[index]

st.markdown("#### Review")
if entry is not None:
    st.caption(f"Already in the library as **{entry.name}** ({entry.status}).")
with st.container(border=True):
    current = entry or wf
    e1, e2 = st.columns(2)
    e1.text_input("Name", value=current.name, key=f"sugg_name_{index}",
                         help="Letters, digits and underscores; the name tools and people call it by")
    e2.text_input("Category", value=current.category, key=f"sugg_category_{index}")
    st.text_area("Description", value=current.description, key=f"sugg_description_{index}", height=80)
    st.text_input("Reason (kept with a rejection)", key=f"sugg_reason_{index}")
    edits = {field: WidgetValue(f"sugg_{field}_{index}") for field in ("name", "category", "description")}
    b1, b2, b3, _ = st.columns([1, 1, 1, 2])
    b1.button("Accept", type="primary", icon=":material/check:", key="sugg_accept",
              on_click=action(views.review_suggestion, library, wf, "accepted", **edits,
                              done=lambda saved: f"Accepted {saved.name}: it is in the library and ready on the "
                                                 f"Run page."))
    b2.button("Reject", icon=":material/close:", key="sugg_reject",
              on_click=action(views.review_suggestion, library, wf, "rejected",
                              reason=WidgetValue(f"sugg_reason_{index}"), **edits,
                              done=lambda saved: f"Rejected {saved.name}; it will not be suggested again."))
    b3.button("Save edits", icon=":material/save:", key="sugg_save",
              on_click=action(views.edit_suggestion, library, wf, **edits,
                              done=lambda saved: f"Saved {saved.name} in the library as {saved.status}."))
if entry is not None and entry.status == "accepted":
    st.page_link("pages/library.py", label="Find it in the library", icon=":material/menu_book:")
    st.page_link("pages/run.py", label="Run it", icon=":material/play_arrow:")

workflow_detail(wf, cfg.library)
