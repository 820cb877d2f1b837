"""Every public docstring example of the package runs, imported under its real ``chainmine.*`` name.

pytest's ``--doctest-modules`` would import ``miner/store.py`` as module ``store``
of a top-level package named after the folder (the folders are not the import names), so the
examples run here through the standard library's doctest instead, one test per
module.
"""

from __future__ import annotations

import doctest
import importlib
import io
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIRS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
# Streamlit pages and the app are scripts: importing them would draw a page.
SCRIPTS = {"chainmine.dashboards"}
KEEP_FROM_SCRIPTS = {"chainmine.dashboards.graphs"}


def module_names() -> list[str]:
    """Every module of the package by import name.

    Examples
    --------
    >>> "chainmine.miner.store" in module_names()
    True
    """
    names = []
    for name, folder in PACKAGE_DIRS.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("").parts
            if "__pycache__" in rel:
                continue
            parts = rel[:-1] if rel[-1] == "__init__" else rel
            if not all((base.joinpath(*parts[:i]) / "__init__.py").exists() for i in range(len(parts))):
                continue   # a folder of scripts (Streamlit pages), not a package
            module = ".".join((name, *parts))
            if name in SCRIPTS and module not in KEEP_FROM_SCRIPTS:
                continue
            names.append(module)
    return sorted(set(names))


@pytest.mark.parametrize("name", module_names())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = io.StringIO()
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()


def test_a_broken_example_is_reported():
    test = doctest.DocTestParser().get_doctest(">>> 1 + 1\n3\n", {}, "broken", "x.py", 0)
    runner = doctest.DocTestRunner()
    report = io.StringIO()
    runner.run(test, out=report.write)
    assert runner.failures == 1 and "Expected:\n    3\nGot:\n    2" in report.getvalue()
