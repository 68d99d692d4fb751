"""OpenTelemetry traces of ``tools/call`` (the optional extra ``sshwall[otel]``, docs/metrics.md).

Off unless the standard environment asks for traces: ``OTEL_TRACES_EXPORTER`` (``otlp`` or
``console``; ``none`` is off), or an OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), and ``OTEL_SDK_DISABLED`` not ``true``. Then each
``tools/call`` is one span ``tools/call TOOL`` with the decision, the deciding rule ids and the
outcome, and the upstream call, when it was forwarded, is its child span ``upstream tools/call``.
The spans are written once the call's outcome is known (the stage ``observe``), with the times
the call really started, was decided and ended. The exporter reads the rest of the OTEL_*
variables itself (endpoint, headers, service name, resource attributes); the OTLP protocol is
``http/protobuf`` (another one is refused).

Asking for traces without the extra installed, or naming an exporter sshwall does not know,
stops the gateway at start (a setting that cannot be honoured is refused, not ignored). When
traces are off nothing of OpenTelemetry is imported. The only module that imports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from sshwall.errors import UsageError

EXTRA_HINT = "install the extra (pip install 'sshwall[otel]') or unset the OTEL_* variables"


def traces_wanted(environ: Mapping[str, str]) -> bool:
    """Whether the OTEL_* environment asks for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


class Tracing:
    """Writes the spans of calls through ``provider`` (an OpenTelemetry SDK ``TracerProvider``)."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry import trace

        self._trace = trace
        self.provider = provider
        self.tracer = provider.get_tracer("sshwall")

    def call(self, tool: str, decision: str, rules: Sequence[str], outcome: str, upstream: str | None,
             start_ns: int, decided_ns: int | None, end_ns: int) -> None:
        """One ``tools/call`` span from ``start_ns`` to ``end_ns`` (epoch ns); ``upstream``:
        the upstream's outcome when the call was forwarded (its child span runs from
        ``decided_ns``)."""
        from opentelemetry.trace import Status, StatusCode

        span = self.tracer.start_span(f"tools/call {tool}", start_time=start_ns, attributes={
            "mcp.method.name": "tools/call", "gen_ai.tool.name": tool, "sshwall.decision": decision,
            "sshwall.rules": list(rules), "sshwall.outcome": outcome,
        })
        if upstream is not None:
            child = self.tracer.start_span("upstream tools/call", context=self._trace.set_span_in_context(span),
                                           kind=self._trace.SpanKind.CLIENT,
                                           start_time=decided_ns if decided_ns is not None else start_ns,
                                           attributes={"gen_ai.tool.name": tool, "sshwall.upstream.outcome": upstream})
            if upstream not in ("ok", "tool-error"):
                child.set_status(Status(StatusCode.ERROR, upstream))
            child.end(end_time=end_ns)
        if outcome in ("crashed", "upstream-error"):
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.end(end_time=end_ns)

    def close(self) -> None:
        """Send what is buffered and stop the exporter."""
        self.provider.shutdown()


def tracing_from_env(environ: Mapping[str, str] | None = None) -> Tracing | None:
    """The traces the OTEL_* environment asks for, or None when it asks for none."""
    env = os.environ if environ is None else environ
    if not traces_wanted(env):
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise UsageError(f"the OTEL_* environment asks for traces, but the OpenTelemetry SDK is missing: {EXTRA_HINT}") from None
    exporter: Any
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    exporters = []
    for name in names:
        if name == "console":
            exporter = ConsoleSpanExporter()
        elif name == "otlp":
            protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
            if protocol.strip().lower() not in ("", "http/protobuf"):
                raise UsageError(f"OTLP protocol {protocol!r}: sshwall exports traces over http/protobuf only")
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            except ImportError:
                raise UsageError(f"OTEL_TRACES_EXPORTER=otlp needs the OTLP exporter: {EXTRA_HINT}") from None
            exporter = OTLPSpanExporter()
        else:
            raise UsageError(f"OTEL_TRACES_EXPORTER={name!r}: sshwall knows otlp, console and none")
        exporters.append(exporter)
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or "sshwall"})
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return Tracing(provider)


__all__ = ["Tracing", "traces_wanted", "tracing_from_env"]
