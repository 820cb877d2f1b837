"""Serve accepted workflows as Model Context Protocol tools.

:class:`WorkflowServer` is an :class:`mcp.server.mcpserver.MCPServer` whose
tool list is not a set of decorated Python functions but the accepted
workflows of a library file: ``tools/list`` and ``tools/call`` are answered
from a :class:`~chainmine.library.serve.watch.WorkflowCatalog`, with JSON Schemas from
:mod:`chainmine.library.serve.schema`. Running a workflow is delegated to one async
callable (``run_workflow(workflow, arguments) -> run result dict``), which
the command line builds from the runner and the tool registries.

Side effects. Served workflows have their steps' effects resolved (override
file, MCP annotations of the backing tools, tool names) and carry them as
tool annotations: ``readOnlyHint`` and ``idempotentHint`` iff every step
reads, ``destructiveHint`` iff a step is destructive. A destructive workflow
runs only when confirmed: if the client supports form elicitation the server
asks the user (``confirm`` is then optional), otherwise the call must pass
``confirm: true``; without it the result is an error saying what would change
and how to confirm, and nothing runs.

When the library changes the server tells its clients: a
``notifications/tools/list_changed`` to every handshake-era connection and a
tools-changed event on the ``subscriptions/listen`` bus for 2026-era ones.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import logging
from collections import deque
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

import anyio
from mcp.server.lowlevel import NotificationOptions
from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus, ToolsListChanged
from mcp_types import CallToolResult, ListToolsResult, TextContent, ToolAnnotations
from mcp_types import Tool as MCPTool
from pydantic import BaseModel, Field

from chainmine.library.errors import LibraryError
from chainmine.library.model import WorkflowTemplate
from chainmine.library.serve.errors import ArgumentError
from chainmine.library.runner.safety import change_summary, destructive_steps, resolve_effects, tool_hints
from chainmine.library.serve.schema import CONFIRM, check_arguments, input_schema, output_schema, tool_description
from chainmine.library.serve.watch import WorkflowCatalog, poll_library

log = logging.getLogger(__name__)

RunWorkflow = Callable[[WorkflowTemplate, dict[str, Any]], Awaitable[Mapping[str, Any]]]
"""Runs one workflow with checked arguments and returns the run result as a dict
(``run_id``, ``status``, ``outputs``, ``steps``, ``error``, ...)."""

SUCCESS = "completed"
META_RUN_ID = "chainmine/run_id"
META_STATUS = "chainmine/status"
INSTRUCTIONS = ("Each tool runs a reviewed chainmine workflow: a fixed chain of tool calls mined from "
                "agent logs. Prefer one of these tools over calling the same tools one by one.")
MAX_TRACKED_SESSIONS = 256


class Confirmation(BaseModel):
    """What the user is asked (by elicitation) before a destructive workflow runs."""

    confirm: bool = Field(description="Run it and make these changes")


def workflow_tool(wf: WorkflowTemplate, elicitation: bool = False) -> MCPTool:
    """The MCP tool definition that runs ``wf`` (steps' effects resolved, see :func:`resolve_effects`).

    ``elicitation``: the client can be asked to confirm, so ``confirm`` is optional.

    Examples
    --------
    >>> from chainmine.library.model import InputSpec, WorkflowStep
    >>> tool = workflow_tool(resolve_effects(WorkflowTemplate(name="w", steps=[
    ...     WorkflowStep(id="s", tool_name="get_user")], inputs={"q": InputSpec()})))
    >>> tool.name, tool.input_schema["required"], tool.output_schema["required"], tool.annotations.read_only_hint
    ('w', ['q'], ['s'], True)
    """
    hints = tool_hints(wf)
    annotations = ToolAnnotations(read_only_hint=hints["readOnlyHint"], destructive_hint=hints["destructiveHint"],
                                  idempotent_hint=hints["idempotentHint"])
    return MCPTool(name=wf.name, title=wf.name.replace("_", " "), description=tool_description(wf),
                   input_schema=input_schema(wf, confirm_required=not elicitation),
                   output_schema=output_schema(wf), annotations=annotations)


def can_elicit(context: Any) -> bool:
    """True when the client behind ``context`` (a request context) accepts form elicitation now.

    Examples
    --------
    >>> can_elicit(None)
    False
    """
    session = getattr(getattr(context, "request_context", context), "session", None)
    try:
        caps = getattr(session, "client_capabilities", None)
        return bool(caps is not None and caps.elicitation is not None and session.can_send_request)
    except Exception:  # no request in flight (e.g. called outside a request)
        return False


def unconfirmed_result(wf: WorkflowTemplate, declined: bool = False) -> CallToolResult:
    """The error result of a destructive workflow called without confirmation; nothing ran.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = resolve_effects(WorkflowTemplate(name="w", steps=[WorkflowStep(id="c", tool_name="cancel_order")]))
    >>> unconfirmed_result(wf).content[0].text
    "workflow 'w' was not run: it makes destructive changes (step c calls cancel_order); ask the user, then call it again with confirm: true"
    """
    why = "the user declined" if declined else "it makes destructive changes"
    message = (f"workflow {wf.name!r} was not run: {why} ({change_summary(wf)}); "
               + ("nothing was changed" if declined else f"ask the user, then call it again with {CONFIRM}: true"))
    steps = [{"id": sid, "tool": tool} for sid, tool in destructive_steps(wf)]
    return error_result(message, {"status": "needs_confirmation", "destructive_steps": steps})


def error_result(message: str, structured: dict[str, Any] | None = None,
                 meta: dict[str, Any] | None = None) -> CallToolResult:
    """A tool result with ``isError`` set and ``message`` as its text.

    Examples
    --------
    >>> r = error_result("unknown tool 'x'")
    >>> r.is_error, r.content[0].text
    (True, "unknown tool 'x'")
    """
    return CallToolResult(content=[TextContent(type="text", text=message)],
                          structured_content=structured, is_error=True, _meta=meta)


def failed_step(result: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The step that made a run fail: the first failed one, else the first with an error.

    Examples
    --------
    >>> failed_step({"steps": [{"id": "a", "status": "completed"}, {"id": "b", "status": "failed",
    ...                         "error": "boom"}]})["id"]
    'b'
    >>> failed_step({"steps": []}) is None
    True
    """
    steps = list(result.get("steps") or [])
    for step in steps:
        if step.get("status") == "failed":
            return step
    return next((s for s in steps if s.get("error")), None)


def _tool_of(wf: WorkflowTemplate, step_id: str) -> str | None:
    try:
        return wf.step(step_id).tool_name
    except KeyError:
        return None


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def run_result(wf: WorkflowTemplate, result: Mapping[str, Any]) -> CallToolResult:
    """Turn a run result into the tool result the client sees.

    A completed run returns its outputs as structured content (an object;
    anything else is wrapped as ``{"result": ...}``) plus the same JSON as
    text. Any other status is an ``isError`` result naming the run id, the
    failing step, its tool and its error. The run id is in ``_meta`` either way.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="s", tool_name="t")])
    >>> ok = run_result(wf, {"run_id": "r1", "status": "completed", "outputs": {"s": 1}})
    >>> ok.is_error, ok.structured_content
    (False, {'s': 1})
    >>> bad = run_result(wf, {"run_id": "r2", "status": "failed", "outputs": None,
    ...                       "steps": [{"id": "s", "status": "failed", "error": "timeout"}]})
    >>> bad.is_error, bad.content[0].text
    (True, "workflow 'w' failed (run r2): step 's' (tool t) failed: timeout")
    """
    run_id = result.get("run_id")
    status = result.get("status")
    meta = {META_RUN_ID: run_id, META_STATUS: status}
    if status == SUCCESS:
        outputs = result.get("outputs")
        structured = outputs if isinstance(outputs, dict) else {"result": outputs}
        return CallToolResult(content=[TextContent(type="text", text=_json_text(structured))],
                              structured_content=structured, is_error=False, _meta=meta)
    step = failed_step(result)
    verb = "failed" if status == "failed" else f"ended with status {status}"
    message = f"workflow {wf.name!r} {verb} (run {run_id})"
    detail: dict[str, Any] = {"run_id": run_id, "status": status, "error": result.get("error")}
    if step is not None:
        tool = _tool_of(wf, str(step.get("id")))
        error = str(step.get("error") or step.get("status"))
        if f"step {step.get('id')!r}" in error:  # the runner's message already names step and tool
            message += f": {error}"
        else:
            message += f": step {step.get('id')!r}" + (f" (tool {tool})" if tool else "") + f" failed: {error}"
        detail["failed_step"] = {"id": step.get("id"), "tool": tool, "error": step.get("error"),
                                 "attempts": step.get("attempts")}
    elif result.get("error"):
        message += f": {result.get('error')}"
    detail["steps"] = list(result.get("steps") or [])
    return error_result(message, detail, meta)


class WorkflowServer(MCPServer):
    """An MCP server whose tools are the accepted workflows of a library.

    Parameters
    ----------
    catalog
        The library being served; refreshed on every list and call.
    run_workflow
        Async callable running a workflow (see :data:`RunWorkflow`).
    poll_interval
        Seconds between library checks that push list-changed notifications
        (``None`` or 0: no polling; clients then see changes on their next list).

    Examples
    --------
    >>> import anyio, tempfile
    >>> from pathlib import Path
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", status="accepted", steps=[WorkflowStep(id="s", tool_name="t")])
    >>> path = Path(tempfile.mkdtemp()) / "w.json"
    >>> _ = path.write_text("{}")
    >>> catalog = WorkflowCatalog(path, loader=lambda p: [wf])
    >>> async def run(workflow, args):
    ...     return {"run_id": "r1", "status": "completed", "outputs": {"ok": True}}
    >>> server = WorkflowServer(catalog, run)
    >>> async def main():
    ...     tools = await server.list_tools()
    ...     result = await server.call_tool("w", {})
    ...     return [t.name for t in tools], result.structured_content
    >>> anyio.run(main)
    (['w'], {'ok': True})
    """

    def __init__(self, catalog: WorkflowCatalog, run_workflow: RunWorkflow, *, name: str = "chainmine",
                 poll_interval: float | None = 1.0,
                 resolve: Callable[[WorkflowTemplate], WorkflowTemplate] = resolve_effects):
        self.catalog = catalog
        self.resolve = resolve
        self.run_workflow = run_workflow
        self.poll_interval = poll_interval
        self._bus = InMemorySubscriptionBus()
        # Handshake-era connections, remembered from their `initialized` notification so a
        # list change can be pushed to them later; bounded because closed ones are never reported.
        self._sessions: deque[Any] = deque(maxlen=MAX_TRACKED_SESSIONS)
        super().__init__(name, instructions=INSTRUCTIONS, subscriptions=self._bus,
                         middleware=[self._remember_session], lifespan=_serve_lifespan)
        self._advertise_list_changes()

    def _advertise_list_changes(self) -> None:
        # MCPServer has no option for the handshake-era `tools.listChanged` capability;
        # every transport asks the low-level server for its initialization options, so
        # binding the notification options there advertises it on stdio, HTTP and in-memory.
        lowlevel = self._lowlevel_server
        lowlevel.create_initialization_options = functools.partial(
            lowlevel.create_initialization_options, NotificationOptions(tools_changed=True))

    async def _remember_session(self, ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if ctx.method == "notifications/initialized":
            self._sessions.append(ctx.session)
        return await call_next(ctx)

    async def notify_tools_changed(self) -> None:
        """Tell every connected client that the tool list changed (best effort, never raises)."""
        await self._bus.publish(ToolsListChanged())
        for session in list(self._sessions):
            try:
                await session.send_tool_list_changed()
            except Exception:  # a closed connection must not stop the others from hearing
                log.debug("could not notify a closed connection", exc_info=True)
        log.info("sent tools/list_changed (%d workflows now served)", len(self.catalog.workflows))

    async def refresh(self) -> None:
        """Re-read the library if it changed and notify clients when the tool list did."""
        if self.catalog.refresh():
            await self.notify_tools_changed()

    async def _handle_list_tools(self, ctx: Any, params: Any) -> ListToolsResult:
        return ListToolsResult(tools=await self.list_tools(elicitation=can_elicit(ctx)))

    async def list_tools(self, elicitation: bool = False) -> list[MCPTool]:
        """One tool per accepted, valid workflow, sorted by name (``elicitation``: see :func:`workflow_tool`)."""
        await self.refresh()
        return [workflow_tool(self.resolve(wf), elicitation) for _, wf in sorted(self.catalog.workflows.items())]

    async def _confirmed(self, wf: WorkflowTemplate, confirm: Any, context: Any) -> CallToolResult | None:
        """None when ``wf`` may run; else the error result to return instead."""
        if not destructive_steps(wf):
            return None
        if can_elicit(context):
            try:
                answer = await context.elicit(f"Run {wf.name}? It will change: {change_summary(wf)}.", Confirmation)
            except Exception as exc:  # the client failed to answer: treat as not confirmed
                log.warning("elicitation for %s failed: %s", wf.name, exc)
                return unconfirmed_result(wf)
            ok = answer.action == "accept" and answer.data.confirm
            return None if ok else unconfirmed_result(wf, declined=True)
        return None if confirm is True else unconfirmed_result(wf)

    async def call_tool(self, name: str, arguments: dict[str, Any] | None, context: Any = None
                        ) -> CallToolResult:
        """Run the workflow called ``name``; bad names and arguments are error results, never runs."""
        await self.refresh()
        wf = self.catalog.get(name)
        if wf is None:
            return error_result(self._unknown_tool_message(name))
        wf = self.resolve(wf)
        try:
            args = check_arguments(wf, arguments)
        except ArgumentError as exc:
            log.info("rejected call of %s: %s", name, exc)
            return error_result(str(exc), {"problems": exc.problems})
        confirm = args.pop(CONFIRM, None) if CONFIRM not in wf.inputs else None
        refusal = await self._confirmed(wf, confirm, context)
        if refusal is not None:
            log.info("did not run %s: not confirmed", name)
            return refusal
        log.info("running workflow %s", name)
        try:
            result = await self.run_workflow(wf, args)
        except LibraryError as exc:
            log.warning("workflow %s could not run: %s", name, exc)
            return error_result(f"workflow {name!r} could not run: {exc}")
        except Exception as exc:  # the server outlives any one run, whatever it raised
            log.exception("workflow %s crashed", name)
            return error_result(f"workflow {name!r} crashed: {type(exc).__name__}: {exc}")
        return run_result(wf, result)

    def _unknown_tool_message(self, name: str) -> str:
        names = sorted(self.catalog.workflows)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        served = ", ".join(names) if names else "none (accept a workflow in the library first)"
        return f"unknown tool {name!r}: this server serves the accepted workflows: {served}{hint}"


@contextlib.asynccontextmanager
async def _serve_lifespan(server: WorkflowServer) -> AsyncIterator[dict[str, Any]]:
    server.catalog.refresh()
    async with anyio.create_task_group() as tasks:
        if server.poll_interval:
            tasks.start_soon(poll_library, server.catalog, server.notify_tools_changed, server.poll_interval)
        try:
            yield {}
        finally:
            tasks.cancel_scope.cancel()
