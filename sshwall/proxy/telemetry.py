"""The gateway's metrics and traces, set up from its settings and environment (docs/metrics.md).

``Telemetry.start`` gives the firewall its observer (the stage ``observe`` counts and traces
every call), tells the metrics what no call carries (the policy's revision, this gateway's
background tasks), starts ``--metrics-listen`` if asked, and turns traces on when the OTEL_*
environment asks for them; ``close`` stops the port and flushes the traces.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from sshwall.proxy.firewall import Firewall
from sshwall.proxy.metrics import Metrics, MetricsServer
from sshwall.proxy.settings import GatewaySettings
from sshwall.proxy.stages.observe import Observer
from sshwall.proxy.tracing import Tracing, tracing_from_env

log = logging.getLogger("sshwall.telemetry")


@dataclass
class Telemetry:
    """One gateway's metrics (always), traces (when asked) and metrics port (when asked)."""

    metrics: Metrics
    tracing: Tracing | None = None
    server: MetricsServer | None = None

    @classmethod
    async def start(cls, settings: GatewaySettings, firewall: Firewall,
                    environ: Mapping[str, str] | None = None, metrics: Metrics | None = None) -> Telemetry:
        """Observe ``firewall`` (before its first call); raises UsageError on a setting that
        cannot be honoured (a port in use, traces asked for without the extra)."""
        telemetry = cls(metrics if metrics is not None else Metrics(), tracing_from_env(os.environ if environ is None else environ))
        telemetry.metrics.policy_revision(firewall.policy.revision)
        telemetry.metrics.track_tasks(lambda: _tasks(firewall))
        firewall.observer = Observer(telemetry.metrics, telemetry.tracing)
        if settings.metrics_listen:
            server = MetricsServer(telemetry.metrics, settings.metrics_listen)
            await server.start()
            telemetry.server = server
        return telemetry

    @contextmanager
    def session(self, transport: str) -> Iterator[None]:
        """One client session of ``transport`` open while inside (the stdio client)."""
        self.metrics.session_opened(transport)
        try:
            yield
        finally:
            self.metrics.session_closed(transport)

    async def close(self) -> None:
        """Stop the metrics port and flush the traces."""
        if self.server is not None:
            await self.server.close()
        if self.tracing is not None:
            try:
                self.tracing.close()
            except Exception:  # an exporter that fails at exit must not hide the gateway's own exit
                log.exception("flushing the traces failed")


def _tasks(firewall: Firewall) -> int:
    """Background tasks this gateway's upstream runs or is starting (the limit guard's own)."""
    guard = firewall.limits
    if guard is None:
        return 0
    return len(guard.mine) + sum(1 for c in guard.starting if c not in guard.mine)


__all__ = ["Telemetry"]
