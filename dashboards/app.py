"""chainmine dashboard: the entry script ``streamlit run dashboards/app.py`` runs.

Start it with ``chainmine dashboard``; the database, library and tool
registries come from that command line (see :func:`chainmine.miner.views.dashboard_config`).
Each page only lays out widgets and calls public functions of ``miner`` and
``library``.
"""

from __future__ import annotations

import streamlit as st

from chainmine.dashboards.components import config

st.set_page_config(page_title="chainmine", page_icon=":material/account_tree:", layout="wide")

PAGES = [
    st.Page("pages/upload.py", title="Upload logs", icon=":material/upload_file:", default=True),
    st.Page("pages/overview.py", title="Overview", icon=":material/monitoring:"),
    st.Page("pages/suggestions.py", title="Suggestions", icon=":material/lightbulb:"),
    st.Page("pages/library.py", title="Library", icon=":material/menu_book:"),
    st.Page("pages/run.py", title="Run", icon=":material/play_circle:"),
    st.Page("pages/drift.py", title="Drift", icon=":material/trending_down:"),
]

page = st.navigation(PAGES)
cfg = config()
with st.sidebar:
    st.caption(f"Database `{cfg.db.name}` · library `{cfg.library.name}`  \n"
               f"Tools: {', '.join(f'`{t}`' for t in cfg.tools) or 'none (start with --tools to run workflows)'}",
               help=f"Database: {cfg.db}  \nLibrary: {cfg.library}  \nBoth are set by the command that started "
                    "the dashboard (`chainmine dashboard --db ... --library ... --tools ...`).")
page.run()
