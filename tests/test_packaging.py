"""chainmine as a user installs it: one import namespace, a wheel that works outside the checkout.

The wheel test builds the sdist and, from it, the wheel (``python -m build``, which
fetches setuptools into its own build environment from the package index), installs
the wheel into a fresh virtual environment and runs ``chainmine demo`` from a
directory with no repository in it. The fresh environment borrows the already
installed third-party dependencies through a path file, so only chainmine itself
comes from the wheel.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
PACKAGE_DIRS = CONFIG["package-dir"]          # import name -> folder
FIRST_PARTY = {"miner", "library", "dashboards", "api", "chainmine"}


def _package_folders() -> dict[str, Path]:
    """Every package the folders hold, by import name (folders of .py files, as pyproject maps them)."""
    found = {}
    for name, folder in PACKAGE_DIRS.items():
        base = ROOT / folder
        for sub in [base, *sorted(p for p in base.rglob("*") if p.is_dir())]:
            if "__pycache__" in sub.parts or not any(sub.glob("*.py")):
                continue
            rel = sub.relative_to(base).parts
            found[".".join((name, *rel))] = sub
    return found


def _modules() -> dict[str, Path]:
    """Module name -> file, for every module of the package."""
    mods = {}
    for pkg, folder in _package_folders().items():
        for path in folder.glob("*.py"):
            mods[pkg if path.stem == "__init__" else f"{pkg}.{path.stem}"] = path
    return mods


def _imports(path: Path, module: str) -> list[str]:
    """Absolute names of everything ``path`` imports (anywhere in the file), relative imports resolved.

    ``from a import b`` gives ``a.b``, which :func:`import_graph` reads as module
    ``a.b`` when there is one and as ``b`` taken from module ``a`` otherwise.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names += [f"{base}.{a.name}" for a in node.names]
    return names


def import_graph() -> nx.DiGraph:
    """Module → module it imports, among chainmine's own modules."""
    mods = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(mods)
    for mod, path in mods.items():
        for name in _imports(path, mod):
            # the most specific module the name denotes (``from a import b`` may name module a.b)
            target = name if name in mods else name.rpartition(".")[0]
            if target in mods and target != mod:
                graph.add_edge(mod, target)
    return graph


def test_every_package_folder_is_listed_in_pyproject():
    assert sorted(_package_folders()) == sorted(CONFIG["packages"])


def test_the_package_imports_itself_only_as_chainmine():
    offenders = []
    for path in [*_modules().values(), *ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/**/*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            roots = ([a.name.split(".")[0] for a in node.names] if isinstance(node, ast.Import) else
                     [node.module.split(".")[0]] if isinstance(node, ast.ImportFrom) and node.module
                     and not node.level else [])
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {r}"
                          for r in roots if r in FIRST_PARTY - {"chainmine"}]
    assert offenders == []


def test_no_module_imports_itself_round_a_circle():
    cycles = [sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert cycles == []


def test_the_cycle_check_sees_a_circle(tmp_path):
    graph = nx.DiGraph([("a", "b"), ("b", "a")])
    assert [len(c) for c in nx.strongly_connected_components(graph) if len(c) > 1] == [2]
    fake = tmp_path / "x.py"
    fake.write_text("from .y import z\nimport chainmine.miner.store\n")
    assert _imports(fake, "chainmine.miner.x") == ["chainmine.miner.y.z", "chainmine.miner.store"]


def test_python_dash_m_chainmine_is_the_cli():
    out = subprocess.run([sys.executable, "-m", "chainmine", "--version"], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == f"chainmine, version {_version()}"


def _version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with the built wheel installed (dependencies borrowed from this environment)."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    build = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # plain directories on the path: the .pth files inside them (this checkout's editable install) stay unread
    borrowed = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    Path(purelib, "borrowed-dependencies.pth").write_text("\n".join(borrowed) + "\n")
    (wheel,) = dist.glob("chainmine-*.whl")
    pip = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr[-2000:]
    outside = base / "elsewhere"
    outside.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CHAINMINE_DB", "CHAINMINE_LIBRARY")}
    return {"py": py, "bin": env_dir / "bin", "cwd": outside, "env": clean, "dist": dist, "purelib": purelib}


def test_the_build_makes_a_wheel_and_an_sdist_with_the_licence(installed):
    names = sorted(p.name for p in installed["dist"].iterdir())
    assert names == [f"chainmine-{_version()}-py3-none-any.whl", f"chainmine-{_version()}.tar.gz"]
    lic = Path(installed["purelib"], f"chainmine-{_version()}.dist-info", "licenses", "LICENSE")
    assert lic.read_text().startswith("MIT License")
    assert Path(installed["purelib"], "chainmine", "py.typed").exists()
    # the Spark session's logging settings travel with the package
    assert Path(installed["purelib"], "chainmine", "miner", "lake", "log4j2.properties").is_file()


def test_the_wheel_runs_the_demo_outside_the_checkout(installed):
    out = subprocess.run([str(installed["bin"] / "chainmine"), "demo", "--sessions", "300", "--json"],
                         capture_output=True, text=True, cwd=installed["cwd"], env=installed["env"])
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert report["run"]["status"] == "completed"
    assert (installed["cwd"] / "chainmine-demo" / "workflows.json").exists()


def test_the_wheel_exposes_the_public_api(installed):
    code = ("import chainmine, json; "
            "print(json.dumps([chainmine.__file__, chainmine.__version__, sorted(chainmine.__all__), "
            "chainmine.ChainMiner.__name__, chainmine.Library.__name__, chainmine.serve.__name__, "
            "chainmine.run_workflow(chainmine.Workflow.model_validate({'name': 'w', 'status': 'accepted', 'inputs': {'n': {'type': 'integer'}}, "
            "'steps': [{'id': 'd', "
            "'tool_name': 'double', 'parameters': {'n': '{{n}}'}}]}), {'n': 2}, "
            "tools={'double': lambda n: n * 2}).outputs]))")
    out = subprocess.run([str(installed["py"]), "-c", code], capture_output=True, text=True,
                         cwd=installed["cwd"], env=installed["env"])
    assert out.returncode == 0, out.stderr[-2000:]
    where, version, names, miner, lib, serve, outputs = json.loads(out.stdout)
    assert where.startswith(installed["purelib"]) and version == _version()
    assert {"ChainMiner", "Workflow", "Library", "run_workflow", "serve", "tool", "RetryableError",
            "NonRetryableError", "Failure"} <= set(names)
    assert (miner, lib, serve, outputs) == ("ChainMiner", "WorkflowLibrary", "serve_workflows", {"d": 4})
