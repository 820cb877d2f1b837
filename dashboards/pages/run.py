"""Run page: pick an accepted workflow, fill its inputs, see the estimate, run it live, browse past runs."""

from __future__ import annotations

import streamlit as st

from chainmine.dashboards.components import NO_RESULT, attempt, config, empty_state, metric_row, show_table
from chainmine.library.runner.events import Event
from chainmine.library.store import WorkflowLibrary
from chainmine.miner import views

cfg = config()
st.title("Run a workflow")
st.markdown("Runs call real tools. They come from the registries this dashboard was started with "
            "(`--tools`), never from the browser, and every run is recorded in the database.")


def _field(f: views.InputField, key: str):
    if f.widget == "checkbox":
        return st.checkbox(f.label, value=f.default, key=key, help=f.help)
    if f.widget == "integer":
        return st.number_input(f.label, value=f.default, step=1, key=key, help=f.help)
    if f.widget == "number":
        return st.number_input(f.label, value=f.default, key=key, help=f.help, format="%g")
    if f.widget == "json":
        return st.text_area(f.label, value=f.default, key=key, height=80,
                            help=(f.help or "") + " (JSON, e.g. [\"a\", \"b\"] or {\"k\": 1})")
    return st.text_input(f.label, value=f.default, key=key, help=f.help)


def _run_section() -> None:
    if not cfg.has_tools:
        st.info("This dashboard was started without tools, so it can show workflows but not run them. Stop "
                "it and start it again with the module, file or MCP server that provides your tools, e.g.\n\n"
                "`chainmine dashboard --tools chainmine.miner.generate.tools` (the demo tools behind the sample log)\n\n"
                "`chainmine dashboard --tools ./my_tools.py --tools 'mcp:python -m my_server'`",
                icon=":material/build:")
        return
    library = WorkflowLibrary(cfg.library)
    accepted = attempt(library.list_all, status="accepted")
    if accepted is NO_RESULT:
        return
    if not accepted:
        empty_state("No accepted workflow yet. Only reviewed workflows run: accept one on the Suggestions "
                    "or Library page first.", "pages/suggestions.py", "Go to Suggestions")
        return
    st.caption("Tools: " + ", ".join(f"`{t}`" for t in cfg.tools))
    names = [wf.name for wf in accepted]
    name = st.selectbox("Accepted workflow", names, key="run_workflow")
    wf = next(w for w in accepted if w.name == name)
    if wf.description:
        st.markdown(wf.description)

    plan = attempt(views.plan_run, cfg, wf.name)
    if plan is NO_RESULT:
        return
    st.markdown("**Dry-run estimate** (from the logs; nothing is called yet)")
    metric_row({"Steps": len(plan["steps"]), "Estimated cost": f"${plan['estimated_cost']:.4g}",
                "Estimated duration": f"{plan['estimated_duration_ms']:.0f} ms"})
    st.caption("Critical path (the steps that set the duration): " + (" → ".join(plan["critical_path"]) or "–"))
    show_table([{k: s.get(k) for k in ("id", "tool", "effect", "source", "depends_on", "map_over", "cost_estimate",
                                       "duration_estimate_ms", "on_critical_path")} for s in plan["steps"]])
    for note in plan.get("notes") or []:
        st.caption(note)

    fields = views.input_fields(wf)
    with st.form(f"run_form_{wf.name}"):
        st.markdown("**Inputs**" if fields else "This workflow needs no inputs.")
        values = {f.name: _field(f, f"run_input_{wf.name}_{f.name}") for f in fields}
        destructive = [f"{s['id']} ({s['tool']})" for s in plan["steps"] if s.get("effect") == "destructive"]
        confirm = bool(destructive) and st.checkbox(
            "I confirm: this run changes things that cannot be undone: " + ", ".join(destructive),
            key=f"run_confirm_{wf.name}")
        submitted = st.form_submit_button("Run workflow", type="primary", icon=":material/play_arrow:")
    if submitted:
        _run(wf, fields, values, confirm)


def _run(wf, fields, values, confirm=False) -> None:
    inputs = attempt(views.form_inputs, fields, values)
    if inputs is NO_RESULT:
        return
    with st.status(f"Running {wf.name}…", expanded=True) as status:
        def on_event(event: Event) -> None:
            if event.run_id.count("."):  # sub-workflow events show through their parent step
                return
            line = views.describe_event(event)
            if line:
                status.write(line)
                status.update(label=f"Running {wf.name}: {line}")

        result = attempt(views.run_live, cfg, wf, inputs, on_event, confirm=confirm)
        if result is NO_RESULT:
            status.update(label=f"{wf.name} could not start", state="error")
            return
        ok = result.status == "completed"
        status.update(label=f"{wf.name}: {result.status} in {result.duration_ms:.0f} ms (run {result.run_id})",
                      state="complete" if ok else "error", expanded=not ok)
    doc = result.to_dict()
    (st.success if ok else st.error)(f"Run {result.run_id} {result.status}"
                                     + (f": {result.error}" if result.error else ""))
    metric_row({"Status": result.status, "Duration": f"{result.duration_ms:.0f} ms",
                "Cost": f"{result.total_cost:.4g}", "Steps": len(doc["steps"])})
    show_table([{k: s.get(k) for k in ("id", "tool", "status", "attempts", "duration_ms", "cost", "error")}
                for s in doc["steps"]])
    st.markdown("**Outputs**")
    st.json(doc.get("outputs"), expanded=False)


_run_section()

st.divider()
st.subheader("Past runs")
st.caption("The calls of these runs are kept apart from your agents' logs: the other pages leave them out "
           "unless *Include workflow runs* is ticked in the sidebar.")
runs = attempt(views.recent_runs, cfg.db)
if runs is not NO_RESULT:
    if not runs:
        st.info("No runs recorded yet. Runs started here, with `chainmine run` or through `chainmine mcp serve` "
                "are listed here.")
    else:
        show_table([{k: r.get(k) for k in ("run_id", "workflow", "status", "started_at", "duration_ms",
                                           "total_cost", "steps", "completed", "failed", "error")} for r in runs])
        run_id = st.selectbox("Show run", [r["run_id"] for r in runs], key="run_detail",
                              format_func=lambda rid: next(f"{r['run_id']} · {r['workflow']} · {r['status']}"
                                                           for r in runs if r["run_id"] == rid))
        record = attempt(views.run_record, cfg.db, run_id)
        if record is not NO_RESULT:
            st.caption(f"inputs: `{record.get('inputs')}` · tool calls recorded: {record.get('calls')}")
            show_table([{"step": s["id"], "tool": s.get("tool"), "status": s.get("status"),
                         "attempts": s.get("attempts"), "duration_ms": s.get("duration_ms"),
                         "parameters": views.as_text(s.get("parameters")), "result": views.as_text(s.get("result")),
                         "error": s.get("error")} for s in record["steps"]])
