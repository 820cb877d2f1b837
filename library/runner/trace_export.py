"""Where run spans go: an OTLP/JSON file, any OTLP/HTTP collector, or nowhere.

:func:`tracer_provider_for` builds an OpenTelemetry SDK ``TracerProvider`` only when
something is configured — a trace file, an endpoint, or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` variables
(headers from ``OTEL_EXPORTER_OTLP_HEADERS`` / ``..._TRACES_HEADERS``, as the
exporter reads them). Otherwise it returns None and the SDK is not even imported.

The file is OTLP/JSON as the collector's file exporter writes it: JSON Lines, one
``{"resourceSpans": [...]}`` per export, lowerCamelCase keys, hex trace and span
ids, enums as integers, 64-bit integers as decimal strings. Each finished span is
appended as its own line at once (a simple processor, flushed per line), so a run
that crashes leaves every span that ended before the crash, each line whole; a
file can hold many runs. The protobuf request comes from the OTLP exporter's own
encoder; only the ids need fixing, since protobuf's JSON form writes bytes as base64.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

from chainmine.library.errors import RunError

log = logging.getLogger(__name__)

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def chainmine_version() -> str:
    """The installed chainmine version (``0+unknown`` when running from a bare checkout).

    Examples
    --------
    >>> isinstance(chainmine_version(), str)
    True
    """
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("chainmine")
    except PackageNotFoundError:
        return "0+unknown"


def check_trace_file(path: str | os.PathLike[str]) -> Path:
    """Make sure ``path`` can be appended to (creating it empty); raise :class:`RunError` if not.

    Called before a run starts, so a bad path fails with one line and calls nothing.

    Examples
    --------
    >>> check_trace_file("/no/such/folder/trace.jsonl")
    Traceback (most recent call last):
    ...
    chainmine.library.errors.RunError: cannot write trace file /no/such/folder/trace.jsonl: folder /no/such/folder does not exist
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        why = "is not a folder" if folder.exists() else "does not exist"
        raise RunError(f"cannot write trace file {target}: folder {folder} {why}")
    if target.is_dir():
        raise RunError(f"cannot write trace file {target}: it is a folder; name a file")
    try:
        with open(target, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise RunError(f"cannot write trace file {target}: {exc.strerror or exc}") from None
    return target


def otlp_json(spans: Sequence[Any]) -> dict[str, Any]:
    """The OTLP/JSON ``ExportTraceServiceRequest`` of finished SDK spans.

    Examples
    --------
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> span = TracerProvider().get_tracer("chainmine").start_span("execute_tool t"); span.end()
    >>> doc = otlp_json([span])
    >>> s = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    >>> s["name"], len(s["traceId"]), len(s["spanId"]), s["kind"]
    ('execute_tool t', 32, 16, 1)
    """
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    return _hex_ids(MessageToDict(encode_spans(spans), use_integers_for_enums=True))


def _hex_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (base64.b64decode(v).hex() if k in _ID_KEYS and isinstance(v, str) else _hex_ids(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_hex_ids(v) for v in value]
    return value


def _file_exporter(path: Path) -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class OtlpJsonFileExporter(SpanExporter):
        """Append each export as one OTLP/JSON line to ``path``."""

        def __init__(self) -> None:
            self._lock = threading.Lock()

        def export(self, spans: Sequence[Any]) -> Any:
            line = json.dumps(otlp_json(spans), ensure_ascii=False, separators=(",", ":")) + "\n"
            try:
                with self._lock, open(path, "a", encoding="utf-8") as fh:
                    fh.write(line)
                    fh.flush()
            except OSError as exc:
                log.error("cannot append spans to %s: %s", path, exc)
                return SpanExportResult.FAILURE
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            """Nothing is held open between exports."""

    return OtlpJsonFileExporter()


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a base endpoint, as ``OTEL_EXPORTER_OTLP_ENDPOINT`` reads it.

    Examples
    --------
    >>> traces_url("http://127.0.0.1:4318"), traces_url("http://127.0.0.1:4318/v1/traces")
    ('http://127.0.0.1:4318/v1/traces', 'http://127.0.0.1:4318/v1/traces')
    """
    if endpoint.rstrip("/").endswith("/v1/traces"):
        return endpoint
    return endpoint.rstrip("/") + "/v1/traces"


def otlp_configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment names an OTLP endpoint for traces (and the SDK is not disabled).

    Examples
    --------
    >>> otlp_configured({}), otlp_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    (False, True)
    >>> otlp_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"})
    False
    """
    env = os.environ if env is None else env
    if str(env.get("OTEL_SDK_DISABLED", "")).strip().lower() == "true":
        return False
    return any(str(env.get(name, "")).strip() for name in ENDPOINT_VARS)


def tracer_provider_for(trace_file: str | os.PathLike[str] | None = None, otlp_endpoint: str | None = None,
                        env: Mapping[str, str] | None = None) -> Any:
    """An SDK ``TracerProvider`` exporting to ``trace_file`` and/or OTLP, or None when nothing is configured.

    ``otlp_endpoint`` is a base URL like ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces``
    is added); without it the endpoint variables are used when set. The resource
    is ``service.name=chainmine`` with ``service.version``. Shut the provider down
    after the run (:func:`shutdown`) so batched spans are sent.

    Examples
    --------
    >>> tracer_provider_for(env={}) is None
    True
    >>> import tempfile, os
    >>> provider = tracer_provider_for(os.path.join(tempfile.mkdtemp(), "t.jsonl"), env={})
    >>> provider.resource.attributes["service.name"]
    'chainmine'
    >>> shutdown(provider)
    """
    use_env = otlp_endpoint is None and otlp_configured(env)
    if trace_file is None and otlp_endpoint is None and not use_env:
        return None
    path = check_trace_file(trace_file) if trace_file is not None else None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    # Set last, so OTEL_SERVICE_NAME cannot rename what ingest recognises.
    resource = Resource.create().merge(Resource({"service.name": "chainmine",
                                                 "service.version": chainmine_version()}))
    provider = TracerProvider(resource=resource)
    if path is not None:
        provider.add_span_processor(SimpleSpanProcessor(_file_exporter(path)))
    if otlp_endpoint is not None or use_env:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        exporter = OTLPSpanExporter(endpoint=traces_url(otlp_endpoint)) if otlp_endpoint else OTLPSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def shutdown(provider: Any) -> None:
    """Flush and close ``provider`` (safe on None); export failures are logged, never raised.

    Examples
    --------
    >>> shutdown(None)
    """
    if provider is None:
        return
    try:
        provider.shutdown()
    except Exception:  # a collector that is down must not turn a finished run into an error
        log.exception("could not flush run spans")
