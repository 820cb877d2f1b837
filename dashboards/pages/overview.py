"""Overview page: KPIs, the transition graph, the tool table, calls and errors over time."""

from __future__ import annotations

import streamlit as st

from chainmine.dashboards.components import (NO_RESULT, attempt, config, draw_dot, metric_row, require_calls, show_table,
                                   sidebar_filter)
from chainmine.dashboards.graphs import FAIL_COLOUR, transition_dot
from chainmine.miner import views

cfg = config()
st.title("Overview")

require_calls(cfg.db, "which tools your agents call, how the tools follow each other and where they fail")

flt = sidebar_filter(cfg.db)
if flt is NO_RESULT:
    st.stop()
data = attempt(views.explore, cfg.db, flt)
if data is NO_RESULT:
    st.stop()
ov = data.overview
if ov.calls == 0:
    st.info("No calls match the filter; widen the time range or clear the agents and tools in the sidebar.",
            icon=":material/filter_alt_off:")
    st.stop()

metric_row({"Calls": f"{ov.calls:,}", "Sessions": f"{ov.sessions:,}", "Tools": ov.tools,
            "Success rate": f"{ov.success_rate:.1%}", "Total cost": f"${ov.total_cost:,.2f}",
            "Agents": ov.agents})
if ov.first_ts is not None:
    st.caption(f"Calls from {ov.first_ts:%Y-%m-%d %H:%M} to {ov.last_ts:%Y-%m-%d %H:%M} (UTC)"
               + ("" if flt.is_empty else " · filtered in the sidebar"))

st.subheader("How the tools follow each other")
st.markdown("Each box is a tool, sized by its calls and coloured by its success rate "
            "(:green[■] 95 % or more, :orange[■] 80–95 %, :red[■] below 80 %); each arrow is one tool called "
            "right after another in a session, as thick as it is frequent, labelled with the count and the "
            "share of the first tool's next calls.")
edges = data.graph.number_of_edges()
max_edges = st.slider("Arrows shown (most frequent first)", 1, max(edges, 1), min(edges, 40), key="graph_edges",
                      disabled=edges <= 1) if edges else 0
if max_edges < edges:
    st.caption(f"Showing the {max_edges} most frequent of {edges} transitions and the tools they join; "
               "move the slider (or filter by tool in the sidebar) to see more.")
draw_dot(transition_dot(data.graph, max_edges=max_edges))

st.subheader("Tools")
show_table([t.to_dict() | {"top_errors": "; ".join(f"{e} ({n})" for e, n in t.top_errors)} for t in data.tools],
           column_config={"success_rate": st.column_config.ProgressColumn("success_rate", min_value=0.0,
                                                                          max_value=1.0, format="percent")})

st.subheader("Calls and errors over time")
if data.timeline.empty:
    st.info("These calls carry no timestamps, so there is no time series (their order comes from `seq`).")
else:
    st.caption(f"per {data.bucket} (UTC)")
    st.line_chart(data.timeline.set_index("bucket")[["calls", "errors"]], color=["#4c78a8", FAIL_COLOUR])

left, right = st.columns(2)
with left:
    st.subheader("Most frequent errors")
    if data.errors:
        show_table([e.to_dict() for e in data.errors])
    else:
        st.success("No failed calls.")
with right:
    st.subheader("Most common whole sessions")
    st.caption("Whole sessions rarely repeat exactly; the Suggestions page finds the sub-chains that do.")
    show_table([v.to_dict() | {"tools": " → ".join(v.tools)} for v in data.variants])

st.page_link("pages/suggestions.py", label="Next: mine suggested workflows from these chains",
             icon=":material/lightbulb:")
