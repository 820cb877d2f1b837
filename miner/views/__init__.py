"""Plain functions behind the dashboard (no Streamlit here).

The Streamlit pages in ``dashboards/`` only lay out widgets; every query and
action they show is a function of :mod:`miner` or :mod:`library`, and what
the pages need beyond those public APIs lives in this package so it can be
tested without Streamlit:

- :mod:`chainmine.miner.views.launch`       configuration, ``streamlit run`` command line, health check
- :mod:`chainmine.miner.views.connections`  short read-only connections with lock retry, store status
- :mod:`chainmine.miner.views.explore`      every analytics view for one filter (Overview page)
- :mod:`chainmine.miner.views.health`       drift per time window and next-workflow recommendations
- :mod:`chainmine.miner.views.uploads`      uploaded files into the normal ingest
- :mod:`chainmine.miner.views.workflows`    mining suggestions, workflow tables, parameter evidence, review
- :mod:`chainmine.miner.views.run_page`         run forms, dry-run plans, live runs and past runs
"""

from chainmine.miner.views.connections import (LOCK_RETRY_S, StoreStatus, exclusive_store_access, read_connection,
                                    store_status, write_connection)
from chainmine.miner.views.explore import Exploration, choices, explore, pick_bucket, time_filter
from chainmine.miner.views.health import drift_frame, drift_report, next_workflows
from chainmine.miner.views.launch import (TOOLS_ENV, DashboardConfig, app_path, dashboard_argv, dashboard_config,
                                dashboard_env, wait_until_healthy)
from chainmine.miner.views.run_page import (InputField, NoToolsError, describe_event, form_inputs, input_fields, plan_run,
                              recent_runs, run_live, run_record)
from chainmine.miner.views.uploads import UploadedLog, UploadResult, check_upload_sizes, ingest_uploads, sample_log_path
from chainmine.miner.views.workflows import (MINING_DEFAULTS, as_text, edit_suggestion, facets, hit_rows, library_entries,
                                   mine_suggestions, parameter_evidence, review_suggestion, save_suggestion,
                                   workflow_row)

__all__ = [
    "LOCK_RETRY_S", "StoreStatus", "exclusive_store_access", "read_connection", "store_status", "write_connection",
    "Exploration", "choices", "explore", "pick_bucket", "time_filter",
    "drift_frame", "drift_report", "next_workflows",
    "TOOLS_ENV", "DashboardConfig", "app_path", "dashboard_argv", "dashboard_config", "dashboard_env",
    "wait_until_healthy",
    "UploadedLog", "UploadResult", "check_upload_sizes", "ingest_uploads", "sample_log_path",
    "MINING_DEFAULTS", "mine_suggestions",
    "InputField", "NoToolsError", "describe_event", "form_inputs", "input_fields", "plan_run", "recent_runs",
    "run_live", "run_record",
    "as_text", "edit_suggestion", "facets", "hit_rows", "library_entries", "parameter_evidence", "review_suggestion",
    "save_suggestion", "workflow_row",
]
