"""The gateway's Prometheus metrics (docs/metrics.md): one ``Metrics`` per gateway process.

The stage ``observe`` (``sshwall.proxy.stages.observe``) counts every ``tools/call`` here once
its outcome is known; the gateway adds what no call carries (the policy's revision, the open
sessions, the background tasks this gateway started). Every label is bounded: tool names are the
profile's and the policy's (others are ``other``), rule ids come from the policy and sshwall's
own fixed ones (and a cap on distinct values guards against any that would not be), outcomes and
decisions are fixed words. No command, argument or id is ever a label.

Scraped at ``/metrics`` on the HTTP listener (``mount_metrics``, inside the bearer-token check)
and on ``--metrics-listen HOST:PORT`` (``MetricsServer``, a small HTTP server of its own on the
gateway's event loop). The only module that imports ``prometheus_client``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from sshwall.errors import UsageError

log = logging.getLogger("sshwall.metrics")

# No ``*_created`` series: a scrape shows the counters, not when each label set first appeared.
disable_created_metrics()

PATH = "/metrics"
MAX_LABEL_VALUES = 1000
"""Distinct values one label may take; later new ones are counted as ``other``."""
OTHER = "other"
UPSTREAM_OUTCOMES = ("ok", "tool-error", "timeout", "upstream-died", "error", "cancelled")
"""The upstream outcomes shown from the start (at 0), so that ``rate()`` sees each from its first scrape."""
DECISION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    60.0, 300.0)
UPSTREAM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
MAX_REQUEST_HEAD = 8192
REQUEST_TIMEOUT_S = 10.0


class _Bounded:
    """A label's values, at most ``limit`` distinct ones: past that a new value becomes ``other``."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self.seen:
            return value
        if len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(value)
        return value


class Metrics:
    """Every metric of one gateway, in its own registry (``registry``: for tests, or to share)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._rule = _Bounded()
        self._children: dict[tuple[Any, ...], Any] = {}
        self.decisions = Counter("sshwall_decisions", "tools/call decisions, by tool, decision and deciding rule",
                                 ["tool", "decision", "rule"], registry=r)
        self.decision_seconds = Histogram("sshwall_decision_seconds",
                                          "Time from a call's arrival until its verdict was final (approval waits included)",
                                          ["decision"], buckets=DECISION_BUCKETS, registry=r)
        self.upstream_seconds = Histogram("sshwall_upstream_seconds", "Time the upstream took to answer a forwarded call",
                                          ["tool"], buckets=UPSTREAM_BUCKETS, registry=r)
        self.upstream_calls = Counter("sshwall_upstream_calls", "Calls forwarded upstream, by outcome",
                                      ["outcome"], registry=r)
        self.rate_limited = Counter("sshwall_rate_limit_denials", "Calls denied by a rate cap, by the cap's counter",
                                    ["counter"], registry=r)
        self.approvals = Counter("sshwall_approvals", "Calls that needed approval, by how the approval ended",
                                 ["result"], registry=r)
        self.state_errors = Counter("sshwall_state_errors", "Calls denied because a state backend failed",
                                    ["component"], registry=r)
        self.in_flight = Gauge("sshwall_calls_in_flight", "tools/call requests being handled now", registry=r)
        self.policy_info = Gauge("sshwall_policy_info", "The policy in force (value 1), by revision", ["revision"],
                                 registry=r)
        self.policy_loaded_at = Gauge("sshwall_policy_loaded_timestamp_seconds",
                                      "When the policy in force was loaded (Unix time)", registry=r)
        self.reloads = Counter("sshwall_policy_reloads", "Policy reloads, by result", ["result"], registry=r)
        self.sessions = Gauge("sshwall_active_sessions", "Client sessions open now, by transport", ["transport"],
                              registry=r)
        self.tasks = Gauge("sshwall_background_tasks", "Background tasks this gateway's upstream runs now", registry=r)
        self.revision: str | None = None
        for outcome in UPSTREAM_OUTCOMES:
            self.upstream_calls.labels(outcome)
        for result in ("ok", "failed"):
            self.reloads.labels(result)
        for component in ("limits", "approvals"):
            self.state_errors.labels(component)

    # -- per call (the stage ``observe``) -----------------------------------------------------

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, kept: the SDK's lookup takes a lock and checks each value."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def call(self, tool: str, decision: str, rule: str, decision_s: float | None) -> None:
        """One decided call."""
        self._child(self.decisions, tool, decision, self._rule(rule)).inc()
        if decision_s is not None:
            self._child(self.decision_seconds, decision).observe(decision_s)

    def upstream(self, tool: str, outcome: str, seconds: float | None) -> None:
        """One forwarded call: its outcome (``ok``, ``tool-error``, ``timeout``...) and latency."""
        self._child(self.upstream_calls, outcome).inc()
        if seconds is not None:
            self._child(self.upstream_seconds, tool).observe(seconds)

    def rate_limit(self, counter: str) -> None:
        """A call denied by the rate cap of ``counter``."""
        self.rate_limited.labels(self._rule(counter)).inc()

    def approval(self, result: str) -> None:
        """A call whose approval ended with ``result`` (``granted``, ``denied``, ``timeout``...)."""
        self.approvals.labels(result).inc()

    def state_error(self, component: str) -> None:
        """A call denied because the state of ``component`` (``limits``, ``approvals``) failed."""
        self.state_errors.labels(component).inc()

    # -- the gateway --------------------------------------------------------------------------

    def policy_revision(self, revision: str) -> None:
        """The policy in force is ``revision`` (at start, and after each good reload)."""
        if revision != self.revision:
            self.policy_info.clear()
            self.policy_info.labels(revision).set(1)
            self.revision = revision
        self.policy_loaded_at.set(time.time())

    def policy_loaded(self, revision: str | None, ok: bool) -> None:
        """A reload ended: ``ok`` with the new ``revision`` in force, or failed (the old one
        stays; ``revision`` is then ignored). For the hot reload (docs/reload.md)."""
        self.reloads.labels("ok" if ok else "failed").inc()
        if ok and revision is not None:
            self.policy_revision(revision)

    def track_sessions(self, transport: str, count: Callable[[], float]) -> None:
        """``count()`` is read at each scrape: the open sessions of ``transport``."""
        self.sessions.labels(transport).set_function(count)

    def session_opened(self, transport: str) -> None:
        """One more open session of ``transport`` (for a transport without a count to read)."""
        self.sessions.labels(transport).inc()

    def session_closed(self, transport: str) -> None:
        """One session of ``transport`` fewer."""
        self.sessions.labels(transport).dec()

    def track_tasks(self, count: Callable[[], float]) -> None:
        """``count()`` is read at each scrape: the background tasks this gateway started."""
        self.tasks.set_function(count)

    def render(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)


ASGIApp = Callable[[dict[str, Any], Callable[..., Any], Callable[..., Any]], Any]


def mount_metrics(app: ASGIApp, metrics: Metrics) -> ASGIApp:
    """Wrap ``app`` so that ``GET /metrics`` answers the exposition; every other path goes on."""

    async def wrapped(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope.get("type") != "http" or scope.get("path") != PATH:
            await app(scope, receive, send)
            return
        if scope.get("method") not in ("GET", "HEAD"):
            body, status, headers = b"sshwall: /metrics answers GET only\n", 405, [(b"allow", b"GET, HEAD")]
        else:
            body, status, headers = metrics.render(), 200, []
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", CONTENT_TYPE_LATEST.encode()),
                                (b"content-length", str(len(body)).encode()), *headers]})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})

    return wrapped


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6) as a host and a port; raises UsageError."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"--metrics-listen {listen!r}: write HOST:PORT")
    return host.strip("[]"), int(port)


class MetricsServer:
    """``--metrics-listen``: ``GET /metrics`` on a port of its own, no token (a scrape port:
    bind it to loopback or a monitoring network). One request per connection, bounded in size
    and in time."""

    def __init__(self, metrics: Metrics, listen: str) -> None:
        self.metrics = metrics
        self.host, self.port = parse_listen(listen)
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen (the port actually bound is ``self.port`` afterwards, for port 0)."""
        try:
            self.server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_REQUEST_HEAD)
        except OSError as err:
            raise UsageError(f"--metrics-listen {self.host}:{self.port}: {err.strerror or err}") from None
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("metrics at http://%s:%d%s", self.host, self.port, PATH)

    async def close(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            method, target = _request_line(head)
            path = target.split("?", 1)[0]
            if path != PATH:
                status, body = "404 Not Found", b"sshwall: only /metrics here\n"
            elif method not in ("GET", "HEAD"):
                status, body = "405 Method Not Allowed", b"sshwall: /metrics answers GET only\n"
            else:
                status, body = "200 OK", self.metrics.render()
            head_out = (f"HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE_LATEST}\r\n"
                        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            writer.write(head_out + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass  # a slow, oversized or broken request: the connection is closed unanswered
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass


def _request_line(head: bytes) -> tuple[str, str]:
    """The method and target of an HTTP request head; raises ValueError when it is none."""
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError("not an HTTP request line")
    return parts[0], parts[1]


__all__ = ["PATH", "Metrics", "MetricsServer", "mount_metrics", "parse_listen"]
