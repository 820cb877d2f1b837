"""From ``--tools`` values to registries: Python modules and files, MCP servers, and their failure hooks.

``--tools`` takes a module path (``my_pkg.tools``), a ``.py`` file, or an MCP
server over stdio (``mcp:COMMAND ARGS``, or ``mcp[is_failure=HOOKS]:COMMAND ARGS``
to judge that server's results with your own hook); :func:`load_registries`
combines any mix into one registry.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Mapping

from chainmine.library.failures import FailureHook
from chainmine.library.runner.errors import RegistryError
from chainmine.library.runner.registry import FAILURE_HOOK, CombinedRegistry, PythonRegistry, ToolRegistry


def import_tools_module(spec: str, fresh: bool = False) -> ModuleType:
    """Import a module path (``my_pkg.tools``) or a ``.py`` file, as ``--tools`` names them.

    A file is imported once per process under a name derived from its path, so
    two files called ``tools.py`` do not shadow each other. ``fresh=True``
    executes the module again instead of reusing the imported one, so tools that
    keep state in module globals start from their initial data (replaying logged
    sessions one after another needs that).

    Examples
    --------
    >>> import_tools_module("json").__name__
    'json'
    """
    path = Path(spec)
    if spec.endswith(".py") or "/" in spec or path.is_file():
        if not path.is_file():
            raise RegistryError(f"tools file {spec} does not exist; pass a .py file or a module path like pkg.tools")
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
        mod_name = f"chainmine_tools_{path.stem}_{digest}"
        module = None if fresh else sys.modules.get(mod_name)
        if module is None:
            loader_spec = importlib.util.spec_from_file_location(mod_name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise RegistryError(f"cannot load tools file {spec}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[mod_name] = module
            try:
                loader_spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[mod_name]
                raise RegistryError(f"tools file {spec} failed to import: {type(exc).__name__}: {exc}") from None
        return module
    try:
        module = importlib.import_module(spec)
        return importlib.reload(module) if fresh else module
    except ModuleNotFoundError as exc:
        raise RegistryError(f"cannot import tools module {spec!r} ({exc}); pass a module path like "
                            "pkg.tools that is importable, or a path to a .py file") from None
    except Exception as exc:
        raise RegistryError(f"tools module {spec!r} failed to import: {type(exc).__name__}: {exc}") from None


def load_python_registry(spec: str, fresh: bool = False) -> PythonRegistry:
    """Import a module path (``my_pkg.tools``) or a ``.py`` file and make it a registry.

    ``fresh=True`` loads the module anew (see :func:`import_tools_module`).

    Examples
    --------
    >>> load_python_registry("json").names()[:2]
    ['detect_encoding', 'dump']
    """
    module = import_tools_module(spec, fresh=fresh)
    if module.__name__ == spec:
        return PythonRegistry.from_module(module)
    return PythonRegistry.from_module(module, source=f"python:{spec}")


def load_failure_hook(ref: str) -> FailureHook:
    """The results judge named by ``MODULE``, ``FILE.py`` or either with ``:FUNCTION``.

    Without ``:FUNCTION`` the module's ``is_failure`` is taken, the same name a
    tools module uses for its own hook.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> hooks = pathlib.Path(tempfile.mkdtemp()) / "hooks.py"
    >>> _ = hooks.write_text("def judge(tool, result): return result.get('status') == 'failed'")
    >>> load_failure_hook(f"{hooks}:judge")("book", {"status": "failed"})
    True
    """
    module_ref, _, attr = ref.rpartition(":") if ":" in ref else (ref, "", FAILURE_HOOK)
    hook = getattr(import_tools_module(module_ref.strip()), attr.strip() or FAILURE_HOOK, None)
    if not callable(hook):
        raise RegistryError(f"{ref}: no function {attr or FAILURE_HOOK}(tool_name, result) to judge results with")
    return hook


def load_registry(spec: str, fresh: bool = False) -> ToolRegistry:
    """One registry from a ``--tools`` value: ``mcp:COMMAND ARGS``, a module path or a file.

    ``fresh`` re-executes a Python module (see :func:`load_python_registry`); an
    MCP server is a new process on every load anyway.

    Examples
    --------
    >>> load_registry("json").source
    'python:json'
    """
    spec = spec.strip()
    if spec.startswith(("mcp:", "mcp[")):
        from chainmine.library.runner.mcp_registry import MCPRegistry, split_mcp_spec
        command, options = split_mcp_spec(spec)
        hook = load_failure_hook(options["is_failure"]) if "is_failure" in options else None
        return MCPRegistry.from_spec(f"mcp:{command}", is_failure=hook)
    if not spec:
        raise RegistryError("--tools needs a module path, a .py file, or mcp:COMMAND")
    return load_python_registry(spec, fresh=fresh)


def load_registries(specs: Iterable[str], fresh: bool = False) -> CombinedRegistry:
    """All ``--tools`` values as one registry; closes what was started if one fails.

    ``fresh`` loads Python modules anew (their module-level state starts over).

    Examples
    --------
    >>> with load_registries(["json", "base64"]) as reg:
    ...     "b64encode" in reg and "dumps" in reg
    True
    """
    loaded: list[ToolRegistry] = []
    try:
        for spec in specs:
            loaded.append(load_registry(spec, fresh=fresh))
    except BaseException:
        for reg in loaded:
            reg.close()
        raise
    if not loaded:
        raise RegistryError("no tools given; pass --tools MODULE, --tools path/to/tools.py or --tools 'mcp:COMMAND'")
    return CombinedRegistry(loaded)


def as_registry(tools: Any) -> ToolRegistry:
    """Accept a registry, a ``{name: callable}`` dict, a module, a spec string or a list of those.

    Examples
    --------
    >>> as_registry({"f": lambda: 1}).names()
    ['f']
    """
    if isinstance(tools, ToolRegistry):
        return tools
    if isinstance(tools, Mapping):
        return PythonRegistry.from_mapping(tools)
    if isinstance(tools, ModuleType):
        return PythonRegistry.from_module(tools)
    if isinstance(tools, str):
        return load_registry(tools)
    if isinstance(tools, (list, tuple)):
        return CombinedRegistry([as_registry(t) for t in tools])
    raise RegistryError(f"cannot use {type(tools).__name__} as a tool registry; pass a dict of "
                        "functions, a module, a registry or a --tools string")
