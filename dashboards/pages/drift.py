"""Drift page: each library workflow's success per time window with drop flags, and what may come next."""

from __future__ import annotations

import streamlit as st

from chainmine.dashboards.components import NO_RESULT, attempt, config, include_runs_toggle, require_calls, show_table
from chainmine.miner import views

cfg = config()
st.title("Drift and recommendations")
st.markdown("Are your workflows still working? For every library workflow, chainmine finds where the logs "
            "show it and compares its success rate in the **latest** time window with the windows before; a "
            "workflow is **flagged** when the latest rate falls below what the earlier ones make plausible.")

require_calls(cfg.db, "how your workflows hold up over time")
include_runs = include_runs_toggle()

c1, c2, c3 = st.columns(3)
window = c1.selectbox("Window", ["day", "week", "6 hours", "1 hour"], key="drift_window")
min_occ = c2.number_input("Occurrences needed to judge", 1, 1000, 3, key="drift_min_occurrences")
suggested = c3.checkbox("Include suggested workflows", value=True, key="drift_suggested")

rows = attempt(views.drift_report, cfg.db, cfg.library, window, suggested, int(min_occ), include_runs=include_runs)
if rows is NO_RESULT:
    st.page_link("pages/suggestions.py", label="Go to Suggestions", icon=":material/lightbulb:")
    st.stop()
flagged = [r for r in rows if r.flagged]
if flagged:
    st.error(f"{len(flagged)} workflow(s) dropped in the latest window: " + ", ".join(r.workflow for r in flagged),
             icon=":material/trending_down:")
else:
    st.success("No workflow dropped in the latest window.", icon=":material/trending_flat:")
show_table([{"workflow": r.workflow, "status": r.status, "flagged": r.flagged, "latest": r.latest_rate,
             "before": r.earlier_rate, "before (lower bound)": r.earlier_low, "windows": len(r.windows),
             "verdict": r.reason} for r in rows],
           column_config={k: st.column_config.NumberColumn(k, format="percent")
                          for k in ("latest", "before", "before (lower bound)")})
frame = views.drift_frame(rows)
if not frame.empty:
    st.markdown("**Success rate per window**")
    st.line_chart(frame)

st.divider()
st.subheader("What comes next?")
st.markdown("Type the tools an agent has called so far; chainmine ranks the library workflows most likely to "
            "start next, learned from the logs.")
prefix = st.text_input("Tools called so far (comma-separated, oldest first)", key="rec_prefix",
                       placeholder="e.g. find_user_id_by_email")
if prefix.strip():
    recs = attempt(views.next_workflows, cfg.db, cfg.library, [t for t in prefix.split(",") if t.strip()],
                   include_suggested=suggested, include_runs=include_runs)
    if recs is not NO_RESULT:
        if recs.note:
            st.caption(recs.note)
        if recs:
            show_table([{"workflow": r.workflow, "score": r.score, "status": r.status,
                         "tools": " → ".join(r.tools), "why": r.reason} for r in recs])
        elif not recs.note:
            st.info("No workflow is likely to start after these tools.")
