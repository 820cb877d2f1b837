"""Fixtures shared by the runner test files, which import them (pytest finds fixtures in module globals)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainmine.library.runner import load_registry

TOOLS_FILE = Path(__file__).with_name("runner_tools.py")


@pytest.fixture(scope="module")
def registry():
    """The tools of runner_tools.py, loaded from the file as ``--tools path.py`` would."""
    reg = load_registry(str(TOOLS_FILE))
    yield reg
    reg.close()


@pytest.fixture
def calls(tmp_path, monkeypatch):
    """Lines the tools appended to their invocation log, read on call."""
    log = tmp_path / "calls.log"
    monkeypatch.setenv("RUNNER_TEST_LOG", str(log))
    return lambda: log.read_text().splitlines() if log.exists() else []
