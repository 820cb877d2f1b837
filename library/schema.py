"""The library file format: JSON Schema, version migration, parsing and writing.

A library file is ``{"schema_version": 1, "workflows": [...]}`` with each
workflow as :meth:`WorkflowTemplate.to_dict` gives it, sorted by name, with
2-space indentation, so that a change shows as a small diff. Version 0 was a
bare list of workflows; it is migrated on load. A file written by a newer
chainmine is refused rather than read with fields silently dropped.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Iterable

from chainmine.library.errors import LibraryFileError, ValidationError
from chainmine.library.model import SLUG_RE, WorkflowTemplate
from chainmine.library.validate import library_problems, workflow_from_data

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""The ``schema_version`` this chainmine writes and the newest it reads."""

ENVELOPE_KEYS = ("schema_version", "workflows")


def library_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a library file.

    The workflow part comes from the pydantic model that also checks every
    load, so the schema and the loader cannot drift apart.

    Examples
    --------
    >>> schema = library_json_schema()
    >>> schema["properties"]["schema_version"]["const"], schema["required"]
    (1, ['schema_version', 'workflows'])
    """
    workflow = WorkflowTemplate.model_json_schema(ref_template="#/$defs/{model}")
    defs = workflow.pop("$defs", {})
    workflow["properties"]["name"]["pattern"] = SLUG_RE.pattern
    defs["WorkflowStep"]["properties"]["id"]["pattern"] = SLUG_RE.pattern
    defs["WorkflowTemplate"] = workflow
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "chainmine workflow library",
        "description": "Workflows mined from agent tool-call logs, with their review status.",
        "type": "object",
        "properties": {
            "schema_version": {"const": SCHEMA_VERSION, "description": "Version of this file format."},
            "workflows": {"type": "array", "items": {"$ref": "#/$defs/WorkflowTemplate"},
                          "description": "Workflows sorted by name; names are unique."},
        },
        "required": list(ENVELOPE_KEYS),
        "additionalProperties": False,
        "$defs": defs,
    }


def _from_v0(data: Any) -> dict[str, Any]:
    # Version 0 files were a bare list of workflows (or an envelope without a version).
    if isinstance(data, list):
        return {"schema_version": 1, "workflows": data}
    return {**data, "schema_version": 1}


MIGRATIONS: dict[int, Callable[[Any], dict[str, Any]]] = {0: _from_v0}
"""``MIGRATIONS[v]`` turns a version ``v`` document into version ``v + 1``."""


def document_version(data: Any, source: str) -> int:
    """The schema version of a parsed library document (0 for a bare list).

    Examples
    --------
    >>> document_version([], "w.json"), document_version({"schema_version": 1, "workflows": []}, "w.json")
    (0, 1)
    """
    if isinstance(data, list):
        return 0
    if not isinstance(data, dict):
        raise LibraryFileError(
            f"{source}: a library file must be a JSON object with schema_version and workflows, "
            f"not {type(data).__name__}")
    version = data.get("schema_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise LibraryFileError(f"{source}: schema_version must be a whole number, not {version!r}")
    if version > SCHEMA_VERSION:
        raise LibraryFileError(
            f"{source} uses library schema_version {version}, newer than this chainmine reads "
            f"({SCHEMA_VERSION}); upgrade chainmine to use it (the file was left unchanged)")
    return version


def migrate(data: Any, source: str) -> dict[str, Any]:
    """Bring a parsed library document up to :data:`SCHEMA_VERSION`.

    Examples
    --------
    >>> migrate([{"name": "w"}], "old.json")
    {'schema_version': 1, 'workflows': [{'name': 'w'}]}
    """
    version = document_version(data, source)
    if version < SCHEMA_VERSION:
        log.info("migrating %s from schema_version %d to %d", source, version, SCHEMA_VERSION)
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
    return data


def _where(i: int, item: Any) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return f"workflows[{i}] ({name})" if isinstance(name, str) and name else f"workflows[{i}]"


def parse_workflows(items: Iterable[Any], cache: dict[str, WorkflowTemplate] | None = None,
                    unique_names: bool = True) -> tuple[list[WorkflowTemplate], list[str]]:
    """Check every workflow in ``items``; return the good ones and every problem found.

    Problems are ``"workflows[i] (name).field.path: reason"``. ``cache`` maps
    the canonical JSON of an item to its parsed workflow, so re-reading a
    large library after a small change only re-checks what changed. With
    ``unique_names`` a name used twice is a problem too.

    Examples
    --------
    >>> good, problems = parse_workflows([{"name": "w", "steps": [{"id": "a", "tool_name": "t"}]},
    ...                                   {"name": "v", "steps": []}])
    >>> [w.name for w in good], problems
    (['w'], ['workflows[1] (v).steps: List should have at least 1 item after validation, not 0'])

    Notes
    -----
    O(total size of the workflows not already in ``cache``).
    """
    good: list[WorkflowTemplate] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        key = json.dumps(item, sort_keys=True) if cache is not None else ""
        if cache is not None and key in cache:
            good.append(cache[key])
            continue
        wf, found = workflow_from_data(item, _where(i, item))
        problems += found
        if wf is not None and not found:
            good.append(wf)
            if cache is not None:
                cache[key] = wf
    if not problems and unique_names:
        problems = library_problems(good)
    return good, problems


def parse_library(data: Any, source: str, cache: dict[str, WorkflowTemplate] | None = None,
                  unique_names: bool = True) -> list[WorkflowTemplate]:
    """Validate a parsed library document (any supported version) into workflows.

    Raises :class:`LibraryFileError` for a newer or malformed envelope and
    :class:`ValidationError` listing every invalid workflow with its path.

    Examples
    --------
    >>> [w.name for w in parse_library([{"name": "w", "steps": [{"id": "a", "tool_name": "t"}]}], "w.json")]
    ['w']
    """
    doc = migrate(data, source)
    extra = sorted(set(doc) - set(ENVELOPE_KEYS))
    if extra:
        raise LibraryFileError(f"{source}: unknown top-level key(s) {', '.join(map(repr, extra))}; "
                               "a library file holds only schema_version and workflows")
    items = doc.get("workflows")
    if not isinstance(items, list):
        raise LibraryFileError(f"{source}: 'workflows' must be a list of workflow objects "
                               "(a library file is {\"schema_version\": 1, \"workflows\": [...]})")
    workflows, problems = parse_workflows(items, cache, unique_names)
    if problems:
        raise ValidationError(f"{source}: {len(problems)} problem(s): " + "; ".join(problems), problems)
    return workflows


def parse_exchange(data: Any, source: str) -> list[WorkflowTemplate]:
    """Workflows from an import file: a library file, a list of workflows, or one workflow.

    Every workflow is checked before any is returned; :class:`ValidationError`
    lists every problem with its path. Names may repeat: merging renames them.

    Examples
    --------
    >>> [w.name for w in parse_exchange({"name": "w", "steps": [{"id": "a", "tool_name": "t"}]}, "w.json")]
    ['w']
    """
    if isinstance(data, dict) and "steps" in data and "workflows" not in data:
        data = [data]
    return parse_library(data, source, unique_names=False)


def dump_library(workflows: Iterable[WorkflowTemplate]) -> str:
    """The text of a library file holding ``workflows``: sorted by name, stable keys, 2-space indent.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> print(dump_library([WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")])]).splitlines()[2])
      "workflows": [
    """
    doc = {"schema_version": SCHEMA_VERSION,
           "workflows": [wf.to_dict() for wf in sorted(workflows, key=lambda w: w.name)]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
