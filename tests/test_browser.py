"""End to end in a real browser: `chainmine dashboard` driven by Playwright in headless Chromium.

A newcomer's path: upload the sample log, look at the graph, mine and accept a
suggested workflow, find it in the library by tool, run it. The final
screenshot is the one the README shows: it is written to ``docs/dashboard.png`` only
when ``CHAINMINE_UPDATE_SCREENSHOT=1`` is set, so a plain test run leaves the tree clean.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chainmine.library.store import WorkflowLibrary
from chainmine.miner import views

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SAMPLE = ROOT / "data" / "sample_logs.jsonl"
SCREENSHOT = ROOT / "docs" / "dashboard.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]
WAIT_MS = 60_000
TOOLS = ["get_user_details", "get_reservation_details"]

if not Path(CHROMIUM).exists():
    pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard(tmp_path):
    """`chainmine dashboard` on a free localhost port with the demo tools; yields its URL and config."""
    port = free_port()
    db, library = tmp_path / "store.duckdb", tmp_path / "workflows.json"
    chainmine = Path(sys.executable).with_name("chainmine")
    command = [str(chainmine)] if chainmine.exists() else [sys.executable, "-m", "chainmine.miner.cli"]
    log = open(tmp_path / "dashboard.log", "w")
    server = subprocess.Popen(command + ["dashboard", "--db", str(db), "--library", str(library),
                                         "--tools", "chainmine.miner.generate.tools", "--port", str(port), "--no-browser"],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if not views.wait_until_healthy(url, timeout_s=90):
            pytest.fail(f"the dashboard did not answer on {url}: {(tmp_path / 'dashboard.log').read_text()}")
        yield url, views.DashboardConfig(db, library, ("chainmine.miner.generate.tools",))
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the command and the streamlit server it started
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()


@pytest.fixture
def page():
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def go_to(page, label: str, heading: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=label).click()
    page.get_by_role("heading", name=heading).wait_for(timeout=WAIT_MS)


def choose(page, label: str, text: str) -> None:
    """Pick the first option of selectbox ``label`` that matches ``text``."""
    box = page.get_by_role("combobox", name=label)
    box.click()
    box.fill(text)
    page.get_by_role("option").filter(has_text=text).first.click()


def accept(page, suggestion: str, library: Path) -> None:
    before = len(WorkflowLibrary(library).list_all(status="accepted"))
    choose(page, "Review suggestion", suggestion)
    page.get_by_role("button", name="Accept").click()
    sync_api.expect(page.get_by_text("it is in the library and ready on the Run page").first).to_be_visible(
        timeout=WAIT_MS)
    # the message of an earlier accept may still be on the page: wait for the file itself
    for _ in range(WAIT_MS // 100):
        if len(WorkflowLibrary(library).list_all(status="accepted")) > before:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"accepting {suggestion!r} did not reach {library}")


def test_upload_mine_accept_find_and_run_in_a_real_browser(dashboard, page, tmp_path):
    url, cfg = dashboard
    expect = sync_api.expect
    sample = tmp_path / SAMPLE.name
    shutil.copy(SAMPLE, sample)
    page.goto(url)
    page.get_by_role("heading", name="Upload logs").wait_for(timeout=WAIT_MS)

    # 1. upload the sample log
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(sample))
    page.get_by_role("button", name="Ingest 1 file(s)").click()
    stored = page.locator('[data-testid="stMetric"]').filter(has_text="Calls stored")
    expect(stored).to_contain_text(str(sum(1 for _ in sample.open())), timeout=WAIT_MS)

    # 2. the overview draws the transition graph
    go_to(page, "Overview", "Overview")
    graph = page.locator('[data-testid="stGraphVizChart"] svg')
    expect(graph.first).to_be_visible(timeout=WAIT_MS)
    expect(graph.first.locator("g.node").first).to_be_visible()
    expect(graph.first).to_contain_text(TOOLS[0])

    # 3. mine, accept two suggestions: the issues chain and the reservations chain
    go_to(page, "Suggestions", "Suggested workflows")
    page.get_by_role("button", name="Find suggestions").click()
    page.get_by_text("suggestions, best first").wait_for(timeout=WAIT_MS)
    accept(page, "github_list_issues → github_get_issue", cfg.library)
    accept(page, " → ".join(TOOLS), cfg.library)
    accepted = WorkflowLibrary(cfg.library).list_all(status="accepted")
    assert len(accepted) == 2 and TOOLS in [wf.tools for wf in accepted]
    name = next(wf.name for wf in accepted if wf.tools == TOOLS)

    # 4. the library finds it by tool
    go_to(page, "Library", "Workflow library")
    expect(page.get_by_text("2 of 2 workflows match")).to_be_visible(timeout=WAIT_MS)
    choose(page, "Uses tool", TOOLS[1])
    expect(page.get_by_text("1 of 2 workflows match")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("heading", name=name)).to_be_visible(timeout=WAIT_MS)

    # 5. run it with the example input and watch it complete
    go_to(page, "Run", "Run a workflow")
    choose(page, "Accepted workflow", name)
    expect(page.get_by_role("textbox", name="user_id (string)")).not_to_have_value("", timeout=WAIT_MS)
    page.get_by_role("button", name="Run workflow").click()
    expect(page.get_by_text(f"Run ").filter(has_text="completed").first).to_be_visible(timeout=WAIT_MS)
    runs = views.recent_runs(cfg.db)
    assert [(r["workflow"], r["status"]) for r in runs] == [(name, "completed")]

    # the README's screenshot: the overview with its graph
    page.set_viewport_size({"width": 1400, "height": 1250})
    go_to(page, "Overview", "Overview")
    expect(page.locator('[data-testid="stGraphVizChart"] svg').first).to_be_visible(timeout=WAIT_MS)
    target = SCREENSHOT if os.environ.get("CHAINMINE_UPDATE_SCREENSHOT") == "1" else tmp_path / "dashboard.png"
    target.parent.mkdir(exist_ok=True)
    shot = target.with_suffix(".tmp.png")
    page.screenshot(path=str(shot))
    shutil.move(shot, target)
    assert target.stat().st_size > 20_000
