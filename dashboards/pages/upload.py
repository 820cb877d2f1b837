"""Upload page: several log files at once, progress, counts and rejected rows."""

from __future__ import annotations

import streamlit as st

from chainmine.dashboards.components import NO_RESULT, attempt, config, metric_row, show_table
from chainmine.miner import views
from chainmine.miner.ingest import FORMATS

cfg = config()
limit_mb = int(st.get_option("server.maxUploadSize"))

st.title("Upload logs")
st.markdown(
    "Upload the tool-call logs of your AI agents. chainmine finds the tool chains they repeat and "
    "turns them into reviewed, runnable workflows. The format of each file is detected automatically:\n"
    "- **chainmine records** as JSON Lines, CSV or Parquet (one tool call per row: `session_id`, `ts`, "
    "`tool`, `args`, `result`, `success` ...)\n"
    "- **OpenAI** Chat Completions conversations or Responses items, **Anthropic** Messages conversations\n"
    "- **OpenTelemetry** OTLP/JSON spans (GenAI `execute_tool` spans)\n\n"
    "Any of them may be gzip-compressed (`.gz`). Rows that cannot be read are kept aside with a reason "
    "and listed below; uploading the same file again adds nothing.")

files = st.file_uploader("Log files (select several at once)", accept_multiple_files=True, key="upload_files",
                         help="JSONL, JSON, CSV, Parquet or .gz")
st.caption(f"Each file may be up to **{limit_mb} MB** (the dashboard's upload limit, set with "
           f"`chainmine dashboard --max-upload-mb N`). Bigger logs load faster from a terminal: "
           f"`chainmine ingest FILE ...`.")


def _ingest(uploads: list[views.UploadedLog]) -> None:
    bar = st.progress(0.0, text=f"Reading {len(uploads)} file(s)…")

    def progress(name: str, done: int, total: int) -> None:
        bar.progress(done / total, text=f"Stored {name} ({done} of {total})")

    result = attempt(views.ingest_uploads, cfg.db, uploads, max_upload_mb=limit_mb, format=fmt,
                     progress=progress)
    bar.empty()
    if result is not NO_RESULT:
        st.session_state["upload_result"] = result


fmt = st.selectbox("Format", ["auto", *FORMATS], key="upload_format",
                   format_func=lambda f: "detect automatically (recommended)" if f == "auto" else f,
                   help="Force one format for every file only when detection guesses wrong.")
left, right = st.columns([1, 3])
if left.button(f"Ingest {len(files)} file(s)" if files else "Ingest", type="primary", disabled=not files,
               icon=":material/upload:", key="ingest_button"):
    _ingest([views.UploadedLog(f.name, f.getvalue()) for f in files])
sample = views.sample_log_path()
if sample is not None and right.button("No logs at hand? Load the sample log", key="sample_button",
                                       icon=":material/science:"):
    _ingest([views.UploadedLog(sample.name, sample.read_bytes())])

status = attempt(views.store_status, cfg.db)
if status is not NO_RESULT:
    st.caption(f"The database holds {status.calls:,} tool calls." if status.exists
               else "The database is created by the first upload.")

result = st.session_state.get("upload_result")
if result is not None:
    st.subheader("Result")
    metric_row({"Calls stored": result.accepted, "Rows rejected": result.rejected,
                "Duplicates skipped": result.duplicates, "Sessions": result.sessions})
    show_table([{k: f.get(k) for k in ("path", "format", "accepted", "rejected", "duplicates", "sessions")}
                for f in result.files])
    if result.rejected:
        st.warning(f"{result.rejected} row(s) were rejected and kept aside: "
                   + "; ".join(f"{reason} ({n})" for reason, n in result.reject_reasons), icon=":material/warning:")
        st.markdown("**Rejected rows** (file, line, reason and the raw text):")
        show_table(list(result.rejects))
    if result.accepted or result.duplicates:
        st.success("Done. Next: see the tools and their transitions, or mine suggested workflows.",
                   icon=":material/check_circle:")
        c1, c2 = st.columns(2)
        c1.page_link("pages/overview.py", label="Overview: tools, graph, errors", icon=":material/monitoring:")
        c2.page_link("pages/suggestions.py", label="Suggestions: mine workflows", icon=":material/lightbulb:")
