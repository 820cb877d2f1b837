"""The dashboard pages driven through Streamlit's AppTest, against real stores in tmp_path."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from miner import views
from miner.generate import generate_logs

APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"


@pytest.fixture(scope="module")
def log_bytes(tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("logs") / "agents.jsonl"
    generate_logs(out, sessions=200, seed=3)
    return out.read_bytes()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Point the app at a fresh database and library (what `chainmine dashboard` does)."""
    for key, value in views.dashboard_env(tmp_path / "store.duckdb", tmp_path / "workflows.json", [],
                                          base={}).items():
        monkeypatch.setenv(key, value)
    return views.dashboard_config()


def open_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Every message, caption and markdown text on the page, for wording checks."""
    parts = []
    for kind in ("info", "warning", "error", "success", "markdown", "caption"):
        parts += [str(el.value) for el in getattr(at, kind)]
    return "\n".join(parts)


def table(at: AppTest, *columns: str):
    """The first table on the page holding all ``columns`` (tables carry no keys in AppTest)."""
    for frame in at.dataframe:
        value = frame.value
        if set(columns) <= set(value.columns):
            return value
    raise AssertionError(f"no table with columns {columns}")


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    for name, data in files:
        at.file_uploader(key="upload_files").upload(name, data, "application/octet-stream")
    at.run()
    at.button(key="ingest_button").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


# --- upload -----------------------------------------------------------------------

def test_upload_several_files_shows_counts_files_and_rejects(env, log_bytes):
    bad_rows = b'{"session_id": "x", "tool": "t", "seq": 1}\nnot json at all\n{"session_id": "x", "seq": 2}\n'
    at = upload(open_page(), ("agents.jsonl.gz", gzip.compress(log_bytes)), ("bad_rows.jsonl", bad_rows))
    metrics = {m.label: m.value for m in at.metric}
    expected_calls = log_bytes.count(b"\n") + 1
    assert metrics["Calls stored"] == str(expected_calls)
    assert metrics["Rows rejected"] == "2"
    files = table(at, "path", "format", "accepted")
    assert list(files["path"]) == ["agents.jsonl.gz", "bad_rows.jsonl"]
    assert list(files["rejected"]) == [0, 2]
    rejects = table(at, "source", "line", "reason", "raw")
    assert set(rejects["source"]) == {"bad_rows.jsonl"}
    assert sorted(rejects["line"]) == [2, 3]
    assert rejects["reason"].str.len().min() > 0
    assert views.store_status(env.db).calls == expected_calls


def test_uploading_the_same_file_again_adds_nothing(env, log_bytes):
    at = upload(open_page(), ("agents.jsonl", log_bytes))
    at.file_uploader(key="upload_files").clear()
    at = upload(at, ("again.jsonl", log_bytes))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Calls stored"] == "0"
    assert int(metrics["Duplicates skipped"]) == log_bytes.count(b"\n")


@pytest.mark.parametrize("name, data, message", [
    ("empty.jsonl", b"", "empty.jsonl is empty"),
    ("notes.txt", b"just some words\nnothing structured here\n", "notes.txt"),
])
def test_a_file_that_cannot_be_read_is_named_and_changes_nothing(env, log_bytes, name, data, message):
    at = upload(open_page(), ("good.jsonl", log_bytes), (name, data))
    assert len(at.error) == 1 and message in at.error[0].value
    assert "chainmine-upload" not in at.error[0].value
    assert not at.metric
    assert views.store_status(env.db).calls == 0


def test_a_file_over_the_upload_limit_is_explained(env):
    st_config.set_option("server.maxUploadSize", 1)
    try:
        at = open_page()
        assert "up to **1 MB**" in texts(at)
        at = upload(at, ("huge.jsonl", b'{"tool": "t", "seq": 1}\n' * 60_000))
    finally:
        st_config.set_option("server.maxUploadSize", 1024)
    assert "over the 1 MB upload limit" in at.error[0].value
    assert "--max-upload-mb" in at.error[0].value
    assert not views.store_status(env.db).exists


def test_the_ingest_button_waits_for_files(env):
    at = open_page()
    assert at.button(key="ingest_button").disabled
