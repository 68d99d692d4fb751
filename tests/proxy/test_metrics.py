"""Metrics and traces (docs/metrics.md): real gateways driven by real calls, scraped over HTTP
and read with the Prometheus text parser; traces through the OpenTelemetry SDK's in-memory
exporter.

The upstream is ``fake_upstream.py`` (its ``executeCommand`` echoes), so the counts are exact:
every scrape is compared with the one before, and each counter must have moved by exactly the
calls made in between.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sshwall.errors import UsageError
from sshwall.proxy.metrics import Metrics, _Bounded
from sshwall.proxy.tracing import traces_wanted, tracing_from_env
from tests.proxy.gateway import FAKE_UPSTREAM, RawGateway, gateway_env, http_server, serve_argv
from tests.support.sshd import REPO_ROOT, free_port

POLICY = """\
version: 1
name: metrics
profile: mcp-ssh
default: deny
tools:
  executeCommand:
    commands: fake
    limits: [{counter: exec, window: hour, max: 2, scope: global}]
commands:
  fake:
    programs:
      echo: {}
"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _run(command: str) -> dict[str, str]:
    return {"connectionId": "c1", "command": command}


def scrape(url: str, token: str | None = None) -> Samples:
    """Every sample at ``url``, parsed by the Prometheus text parser: (name, labels) -> value."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        text = reply.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much ``name`` (with ``labels``) moved between two scrapes."""
    return total(after, name, **labels) - total(before, name, **labels)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(ls)[label] for (n, ls) in samples if n == name and label in dict(ls)}


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "metrics.yaml"
    path.write_text(POLICY)
    return path


def _fake(tmp_path: Path) -> list[str]:
    return ["--", sys.executable, str(FAKE_UPSTREAM), "--record", str(tmp_path / "fake.jsonl")]


def wait_metrics(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> Samples:
    """The first scrape of ``url`` that answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return scrape(url)
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline or (proc is not None and proc.poll() is not None):
                raise
            time.sleep(0.05)


@pytest.fixture
def stdio_gateway(tmp_path: Path, rules: Path) -> Iterator[tuple[RawGateway, str]]:
    """``sshwall serve`` on stdio with ``--metrics-listen 127.0.0.1:PORT``; yields it and its URL."""
    port = free_port()
    argv = serve_argv(rules, tmp_path / "audit.jsonl", ["--metrics-listen", f"127.0.0.1:{port}", *_fake(tmp_path)])
    gw = RawGateway(argv, tmp_path / "gateway.log")
    try:
        gw.initialize()
        yield gw, f"http://127.0.0.1:{port}/metrics"
    finally:
        gw.close()


def _denied(frame: dict[str, object]) -> bool:
    result = frame.get("result")
    assert isinstance(result, dict), frame
    text = result["content"][0]["text"]
    return bool(result.get("isError")) and text.startswith("sshwall: denied")


def test_stdio_gateway_counts_every_call(stdio_gateway: tuple[RawGateway, str], tmp_path: Path) -> None:
    gw, url = stdio_gateway
    before = wait_metrics(url)
    assert total(before, "sshwall_active_sessions", transport="stdio") == 1
    assert total(before, "sshwall_calls_in_flight") == 0
    revisions = label_values(before, "sshwall_policy_info", "revision")
    assert len(revisions) == 1 and next(iter(revisions)).startswith("sha256:")

    assert not _denied(gw.call_tool("executeCommand", _run("echo one")))
    assert not _denied(gw.call_tool("executeCommand", _run("echo two")))
    assert _denied(gw.call_tool("executeCommand", _run("rm -rf /")))      # the policy denies
    assert _denied(gw.call_tool("executeCommand", _run("echo three")))    # the rate cap denies
    assert _denied(gw.call_tool("noSuchTool", {"id": "secret-id-123"}))   # unknown tool
    after = scrape(url)

    assert moved(before, after, "sshwall_decisions_total") == 5
    assert moved(before, after, "sshwall_decisions_total", tool="executeCommand", decision="allow") == 2
    assert moved(before, after, "sshwall_decisions_total", tool="executeCommand", decision="deny") == 2
    assert moved(before, after, "sshwall_decisions_total", tool="executeCommand", decision="deny", rule="limits.exec") == 1
    assert moved(before, after, "sshwall_decisions_total", tool="other", decision="deny") == 1
    assert moved(before, after, "sshwall_rate_limit_denials_total", counter="exec") == 1
    assert moved(before, after, "sshwall_rate_limit_denials_total") == 1
    assert moved(before, after, "sshwall_upstream_calls_total", outcome="ok") == 2
    assert moved(before, after, "sshwall_upstream_calls_total") == 2
    assert moved(before, after, "sshwall_upstream_seconds_count", tool="executeCommand") == 2
    assert moved(before, after, "sshwall_decision_seconds_count") == 5
    assert moved(before, after, "sshwall_decision_seconds_count", decision="allow") == 2
    assert moved(before, after, "sshwall_state_errors_total") == 0
    assert moved(before, after, "sshwall_approvals_total") == 0
    assert total(after, "sshwall_calls_in_flight") == 0
    # Bounded labels: no tool name the profile does not know, no argument, no command.
    labels = {v for (_, ls) in after for _, v in ls}
    assert not any("noSuchTool" in v or "secret-id" in v or "echo" in v or "rm -rf" in v for v in labels), labels

    # One more call: only what it did moves (the cap of 2 is used up).
    assert _denied(gw.call_tool("executeCommand", _run("echo four")))
    last = scrape(url)
    assert moved(after, last, "sshwall_rate_limit_denials_total", counter="exec") == 1
    assert moved(after, last, "sshwall_decisions_total") == 1
    assert moved(after, last, "sshwall_decisions_total", decision="allow") == 0
    assert moved(after, last, "sshwall_upstream_calls_total") == 0


def test_hot_reloads_move_the_revision_and_the_reload_counter(stdio_gateway: tuple[RawGateway, str],
                                                              rules: Path) -> None:
    _, url = stdio_gateway
    before = wait_metrics(url)
    (old,) = label_values(before, "sshwall_policy_info", "revision")

    def until(check: str, timeout: float = 20.0) -> Samples:
        deadline = time.monotonic() + timeout
        while True:
            now = scrape(url)
            if moved(before, now, "sshwall_policy_reloads_total", result=check) >= 1 or time.monotonic() > deadline:
                return now
            time.sleep(0.2)

    rules.write_text(POLICY.replace("max: 2", "max: 5"))
    good = until("ok")
    assert moved(before, good, "sshwall_policy_reloads_total", result="ok") == 1
    (new,) = label_values(good, "sshwall_policy_info", "revision")
    assert new != old and new.startswith("sha256:")
    before = good
    rules.write_text("version: 1\nname: broken\ndefault: maybe\n")
    bad = until("failed")
    assert moved(good, bad, "sshwall_policy_reloads_total", result="failed") == 1
    assert label_values(bad, "sshwall_policy_info", "revision") == {new}  # the good one stays


def test_metrics_port_answers_only_get_metrics(stdio_gateway: tuple[RawGateway, str]) -> None:
    _, url = stdio_gateway
    wait_metrics(url)
    base = url.rsplit("/", 1)[0]
    for path, method, status in [("/other", "GET", 404), ("/metrics", "POST", 405)]:
        request = urllib.request.Request(base + path, method=method, data=b"" if method == "POST" else None)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == status


def test_metrics_listen_in_use_stops_the_gateway(tmp_path: Path, rules: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = serve_argv(rules, tmp_path / "audit.jsonl", ["--metrics-listen", f"127.0.0.1:{port}", *_fake(tmp_path)])
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                              env=gateway_env(), cwd=REPO_ROOT)
    assert done.returncode != 0
    assert "--metrics-listen" in done.stderr


def test_metrics_listen_must_be_host_port() -> None:
    from sshwall.proxy.settings import GatewaySettings

    with pytest.raises(UsageError, match="metrics-listen"):
        GatewaySettings(metrics_listen="9464")


# -- HTTP: /metrics on the gateway's own listener ------------------------------------------------


def test_http_metrics_follow_real_calls(tmp_path: Path, rules: Path) -> None:
    from anyio.from_thread import start_blocking_portal
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    argv = serve_argv(rules, tmp_path / "audit.jsonl", _fake(tmp_path))
    with http_server(argv, tmp_path / "gateway.log") as mcp_url:
        url = mcp_url.rsplit("/", 1)[0] + "/metrics"
        before = scrape(url)
        assert total(before, "sshwall_active_sessions", transport="http") == 0

        async def calls() -> tuple[list[bool], Samples]:
            async with streamable_http_client(mcp_url) as (read, write, *_):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    errors = [bool((await session.call_tool("executeCommand", _run(c))).is_error)
                              for c in ("echo a", "rm -rf /", "echo b", "echo c")]
                    return errors, scrape(url)

        with start_blocking_portal() as portal:
            errors, during = portal.call(calls)
        assert errors == [False, True, False, True]
        assert total(during, "sshwall_active_sessions", transport="http") == 1
        after = scrape(url)
    assert moved(before, after, "sshwall_decisions_total", decision="allow") == 2
    assert moved(before, after, "sshwall_decisions_total", decision="deny") == 2
    assert moved(before, after, "sshwall_rate_limit_denials_total", counter="exec") == 1
    assert moved(before, after, "sshwall_upstream_calls_total", outcome="ok") == 2
    assert moved(before, after, "sshwall_upstream_seconds_count") == 2


def test_http_metrics_need_a_token_when_tokens_are_set(tmp_path: Path, rules: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("alice: alice-token-0123456789\n")
    argv = serve_argv(rules, tmp_path / "audit.jsonl", ["--tokens", str(tokens), *_fake(tmp_path)])
    with http_server(argv, tmp_path / "gateway.log") as mcp_url:
        url = mcp_url.rsplit("/", 1)[0] + "/metrics"
        for token in (None, "wrong-token-0123456789"):
            with pytest.raises(urllib.error.HTTPError) as err:
                scrape(url, token)
            assert err.value.code == 401
        samples = scrape(url, "alice-token-0123456789")
        assert total(samples, "sshwall_policy_info") == 1
        post = urllib.request.Request(url, method="POST", data=b"",
                                      headers={"Authorization": "Bearer alice-token-0123456789"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(post, timeout=10)
        assert err.value.code == 405


# -- units: bounded labels, reloads, the OTEL_* switch ------------------------------------------------


def test_a_label_takes_a_bounded_number_of_values() -> None:
    bound = _Bounded(limit=3)
    assert [bound(v) for v in ("a", "b", "c", "d", "a", "e")] == ["a", "b", "c", "other", "a", "other"]


def test_policy_loaded_counts_reloads_and_moves_the_revision() -> None:
    m = Metrics()
    m.policy_revision("sha256:one")
    m.policy_loaded("sha256:two", ok=True)
    m.policy_loaded("sha256:three", ok=False)
    samples: Samples = {}
    for family in text_string_to_metric_families(m.render().decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert label_values(samples, "sshwall_policy_info", "revision") == {"sha256:two"}
    assert total(samples, "sshwall_policy_reloads_total", result="ok") == 1
    assert total(samples, "sshwall_policy_reloads_total", result="failed") == 1


def test_traces_are_off_unless_the_environment_asks() -> None:
    assert not traces_wanted({})
    assert not traces_wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"})
    assert not traces_wanted({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})
    assert not traces_wanted({"OTEL_SERVICE_NAME": "sshwall"})
    assert traces_wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert traces_wanted({"OTEL_TRACES_EXPORTER": "console"})
    assert tracing_from_env({}) is None


def test_traces_off_import_no_opentelemetry_sdk(tmp_path: Path) -> None:
    probe = ("import sys; from sshwall.proxy.tracing import tracing_from_env; import sshwall.proxy.telemetry;"
             "assert tracing_from_env({}) is None;"
             "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env=gateway_env(), cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_traces_settings_that_cannot_be_honoured_are_refused() -> None:
    pytest.importorskip("opentelemetry.sdk")
    with pytest.raises(UsageError, match="zipkin"):
        tracing_from_env({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(UsageError, match="grpc"):
        tracing_from_env({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


# -- traces: one span per call, the upstream call its child ---------------------------------------


@pytest.mark.anyio
async def test_each_call_is_one_span_with_the_upstream_as_child(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from sshwall.proxy.stages.observe import Observer
    from sshwall.proxy.tracing import Tracing
    from tests.proxy.frontends import CALLER, running_core

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    metrics = Metrics()
    async with running_core(tmp_path) as core:
        core.firewall.observer = Observer(metrics, Tracing(provider))
        await core.upstream.initialize({"protocolVersion": "2025-06-18", "capabilities": {},
                                        "clientInfo": {"name": "t", "version": "0"}})
        allowed = await core.firewall.call_tool({"name": "executeCommand", "arguments": _run("echo hi")}, CALLER)
        denied = await core.firewall.call_tool({"name": "executeCommand", "arguments": _run("rm -rf /")}, CALLER)
    assert not allowed.get("isError") and denied.get("isError")
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.parent is None]
    children = [s for s in spans if s.parent is not None]
    assert [s.name for s in roots] == ["tools/call executeCommand", "tools/call executeCommand"]
    assert [s.attributes["sshwall.decision"] for s in roots] == ["allow", "deny"]
    shown = denied["content"][0]["text"].split("(rule ", 1)[1].split(")", 1)[0]
    assert roots[1].attributes["sshwall.rules"][0] == shown  # the rule the denial names
    assert len(children) == 1  # only the allowed call went upstream
    child = children[0]
    assert child.name == "upstream tools/call"
    assert child.parent is not None and child.parent.span_id == roots[0].context.span_id
    assert child.context.trace_id == roots[0].context.trace_id
    assert child.attributes["sshwall.upstream.outcome"] == "ok"
    assert roots[0].start_time <= child.start_time <= child.end_time <= roots[0].end_time
    # The same calls were counted.
    text = metrics.render().decode()
    assert 'sshwall_upstream_calls_total{outcome="ok"} 1.0' in text
    assert roots[0].attributes["gen_ai.tool.name"] == "executeCommand"
