"""Library page: search and filter workflows as ``chainmine library search`` does, review, export."""

from __future__ import annotations

import streamlit as st

from chainmine.dashboards.components import (NO_RESULT, action, attempt, config, empty_state, flash, show_table,
                                   workflow_detail)
from chainmine.library.model import STATUSES
from chainmine.library.store import WorkflowLibrary
from chainmine.miner import views

ANY = "(any)"

cfg = config()
st.title("Workflow library")
st.markdown("Every workflow you have saved: **suggested** ones wait for review, **accepted** ones can run, "
            "**rejected** ones stay out of the way (and are not suggested again). "
            f"The library is the JSON file `{cfg.library}`.")
flash()

library = WorkflowLibrary(cfg.library)
workflows = attempt(library.list_all)
if workflows is NO_RESULT:
    st.info("Fix the library file (or restore the `.bak` copy beside it), then reload this page.")
    st.stop()
if not workflows:
    empty_state("The library is empty. Mine suggested workflows from your logs on the Suggestions page and "
                "accept the good ones; they appear here.", "pages/suggestions.py", "Go to Suggestions")
    st.stop()

options = views.facets(workflows)
c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
query = c1.text_input("Search", key="lib_query", placeholder="words from names, descriptions, tools…")
tool = c2.selectbox("Uses tool", [ANY, *options["tools"], *options["patterns"]], key="lib_tool",
                    accept_new_options=True, help="Pick a tool or a pattern such as github_*, or type your own")
category = c3.selectbox("Category", [ANY, *options["categories"]], key="lib_category")
status = c4.selectbox("Status", [ANY, *STATUSES], key="lib_status")

hits = attempt(library.search, query=query or None, tool_name=None if tool in (ANY, None) else tool,
               category=None if category == ANY else category, status=None if status == ANY else status)
if hits is NO_RESULT:
    st.stop()
st.caption(f"{len(hits)} of {len(workflows)} workflows match")
if not hits:
    st.info("No workflow matches these filters; clear the search box or set the filters back to (any).")
else:
    show_table(views.hit_rows(hits), column_config={
        "success_rate": st.column_config.ProgressColumn("success", min_value=0.0, max_value=1.0, format="percent"),
        "replay_pass_rate": st.column_config.ProgressColumn("replay", min_value=0.0, max_value=1.0, format="percent",
                                                            help="Pass rate of `chainmine validate`")})
    names = [h.workflow.name for h in hits]
    chosen = st.selectbox("Show workflow", names, key="lib_detail")
    wf = next(h.workflow for h in hits if h.workflow.name == chosen)
    b1, b2, _ = st.columns([1, 1, 2])
    if wf.status == "suggested":
        b1.button("Accept", key="lib_accept", type="primary", icon=":material/check:",
                  on_click=action(library.accept, wf.name, done=f"Accepted {wf.name}; run it on the Run page."))
        b2.button("Reject", key="lib_reject", icon=":material/close:",
                  on_click=action(library.reject, wf.name, done=f"Rejected {wf.name}."))
    else:
        b1.button("Reopen for review", key="lib_reopen", icon=":material/undo:",
                  on_click=action(library.reopen, wf.name, done=f"{wf.name} is suggested again."))
    if wf.status == "accepted":
        b2.page_link("pages/run.py", label="Run it", icon=":material/play_arrow:")
    workflow_detail(wf, cfg.library)

st.divider()
st.markdown("**Export**: the library file, to share or to import elsewhere with `chainmine library import`.")
export_status = st.radio("Export which workflows", ["all", "accepted"], horizontal=True, key="lib_export_status")
text = attempt(library.export_text, status=None if export_status == "all" else export_status)
if text is not NO_RESULT:
    st.download_button("Download library JSON", text, file_name="workflows.json", mime="application/json",
                       icon=":material/download:", key="lib_export")
