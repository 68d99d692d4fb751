"""Real ``sshwall serve`` processes for the end-to-end tests, and clients to drive them.

``start_gateway(...)`` spawns ``python -m sshwall.cli serve ...`` and yields a ``GatewayClient``:
a real MCP client (the SDK's ``ClientSession``) connected over stdio (``stdio_client``) or over
streamable HTTP (``--listen 127.0.0.1:PORT`` + ``streamable_http_client``), opened in the legacy
era (``initialize()``) or the 2026-07-28 era (``discover()``). The async client runs in an anyio
blocking portal so the tests stay synchronous.

``RawGateway`` speaks newline-framed JSON-RPC bytes to ``sshwall serve`` on stdio, for the
fault tests that send what no SDK client would (garbage, over-size frames).

``upstream_command()`` is the switch of ``SSHWALL_TEST_UPSTREAM``: unset, the gateway runs the
built-in backend (options through ``--backend-arg``); set to a command line (for example
``node /opt/mcp-ssh/dist/index.js``), that command is the upstream, given after ``--``.
Everything here therefore asserts on ``isError``, on sshwall's own ``sshwall: denied`` prefix
and on host-side effects, never on the backend's wording. Ids (connection, transfer, tunnel,
terminal session) are read from ``structuredContent`` when the upstream gives it, else from the
result text (Mcp Ssh prints ``ID: ...``).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.support.sshd import REPO_ROOT, SshdServer, free_port

UPSTREAM_ENV = "SSHWALL_TEST_UPSTREAM"
DENIED_PREFIX = "sshwall: denied"
POLICIES = REPO_ROOT / "fixtures" / "policies"
READONLY_OPS = REPO_ROOT / "rules" / "readonly-ops.yaml"
FAKE_UPSTREAM = Path(__file__).resolve().parent / "fake_upstream.py"

MCP_SSH_TOOLS = frozenset({  # the 23 tools of Mcp Ssh (../shared/mcp-ssh-tools.md)
    "connect", "disconnect", "listConnections", "getConnection", "deleteConnection",
    "executeCommand", "backgroundExecute", "stopBackground", "getCurrentDirectory",
    "uploadFile", "downloadFile", "batchUploadFiles", "batchDownloadFiles",
    "getFileTransferStatus", "listFileTransfers", "listActiveSessions", "listBackgroundTasks",
    "stopAllBackgroundTasks", "mcp_ssh_mcp_createTerminalSession", "mcp_ssh_mcp_writeToTerminal",
    "createTunnel", "closeTunnel", "listTunnels",
})

Transport = Literal["stdio", "http"]
Era = Literal["legacy", "modern"]


def gateway_env() -> dict[str, str]:
    """The gateway's environment: ours, with this checkout first on the import path."""
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ) | {"PYTHONPATH": str(REPO_ROOT) + (os.pathsep + path if path else "")}


def upstream_command() -> list[str] | None:
    """The upstream command of ``SSHWALL_TEST_UPSTREAM`` (shell words), or None: the backend."""
    text = os.environ.get(UPSTREAM_ENV, "").strip()
    return shlex.split(text) if text else None


def upstream_args(sshd: SshdServer, workdir: Path) -> list[str]:
    """``sshwall serve`` arguments that pick the upstream of this run.

    The built-in backend trusts the test sshd's known_hosts and downloads into ``workdir``;
    an upstream from ``SSHWALL_TEST_UPSTREAM`` is given as it is, after ``--``.
    """
    custom = upstream_command()
    if custom is not None:
        return ["--", *custom]
    return [
        f"--backend-arg=--known-hosts={sshd.known_hosts_path}",
        f"--backend-arg=--download-dir={workdir / 'downloads'}",
    ]


def serve_argv(rules: Path | None, audit: Path, extra: Sequence[str] = ()) -> list[str]:
    """The ``sshwall serve`` command line (``extra`` may end in ``-- UPSTREAM...``)."""
    argv = [sys.executable, "-m", "sshwall.cli", "serve", "--audit", str(audit)]
    if rules is not None:
        argv += ["--rules", str(rules)]
    return argv + list(extra)


def _split_upstream(extra: Sequence[str]) -> tuple[list[str], list[str]]:
    """(options, ``-- UPSTREAM...``): ``--listen`` must go before the ``--``."""
    items = list(extra)
    if "--" in items:
        i = items.index("--")
        return items[:i], items[i:]
    return items, []


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One tool result, flattened."""

    text: str
    data: dict[str, Any] | None
    is_error: bool

    @property
    def first_line(self) -> str:
        """The first line of the text (where sshwall puts its verdict)."""
        return self.text.splitlines()[0] if self.text else ""

    @property
    def denied(self) -> bool:
        """True for sshwall's own refusal: ``isError`` and the ``sshwall: denied`` prefix."""
        return self.is_error and self.first_line.startswith(DENIED_PREFIX)

    def find_id(self, key: str) -> str:
        """An id the upstream handed out: ``structuredContent[key]``, else ``<key>: X`` or
        ``ID: X`` in the text. Fails the test when there is none."""
        data = self.data or {}
        if isinstance(data.get(key), str) and data[key]:
            return str(data[key])
        for pattern in (rf"\b{re.escape(key)}\s*[:：=]\s*\"?([\w.:-]+)", r"\bID\s*[:：]\s*([\w.:-]+)"):
            match = re.search(pattern, self.text, re.IGNORECASE)
            if match:
                return match.group(1)
        raise AssertionError(f"no {key} in the result: {self.text[:500]!r} {data!r}")


# -- an SDK client through the gateway ----------------------------------------------------------


@dataclass
class GatewayClient:
    """A connected MCP client session to one ``sshwall serve`` process."""

    portal: BlockingPortal
    session: ClientSession
    transport: Transport
    era: Era
    audit_path: Path
    log_path: Path
    calls: list[str] = field(default_factory=list)  # every tools/call made, in order

    @property
    def label(self) -> str:
        """``stdio-legacy`` and so on."""
        return f"{self.transport}-{self.era}"

    def call(self, name: str, arguments: Mapping[str, object] | None = None, timeout: float = 60.0) -> Reply:
        """Call a tool through the gateway and wait for its result."""
        self.calls.append(name)
        result = self.portal.call(
            lambda: self.session.call_tool(name, dict(arguments or {}), read_timeout_seconds=timeout)
        )
        text = "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")
        return Reply(text, result.structured_content, bool(result.is_error))

    def ok(self, name: str, arguments: Mapping[str, object] | None = None, timeout: float = 60.0) -> Reply:
        """Call a tool and fail the test unless it succeeded."""
        reply = self.call(name, arguments, timeout)
        assert not reply.is_error, f"{name} failed through {self.label}: {reply.text}"
        return reply

    def denied(self, name: str, arguments: Mapping[str, object] | None = None) -> Reply:
        """Call a tool and fail the test unless sshwall refused it."""
        reply = self.call(name, arguments)
        assert reply.denied, f"{name} was not denied by sshwall through {self.label}: {reply.is_error} {reply.text!r}"
        return reply

    def list_tools(self) -> list[Any]:
        """The tools the gateway lists."""
        return list(self.portal.call(self.session.list_tools).tools)

    def connect(self, server: SshdServer, **extra: object) -> str:
        """``connect`` to a test sshd with its client key; returns the connection id."""
        args: dict[str, object] = {
            "host": server.host, "port": server.port, "username": server.user,
            "privateKey": server.client_key_text,
        }
        args.update(extra)
        return self.ok("connect", args).find_id("connectionId")

    def log_text(self) -> str:
        """What the gateway (and its upstream) wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")


async def _open(session: ClientSession, era: Era) -> None:
    if era == "legacy":
        await session.initialize()
    else:
        await session.discover()


@asynccontextmanager
async def _stdio_session(argv: list[str], era: Era, log_path: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=gateway_env(), cwd=REPO_ROOT)
    with log_path.open("a") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await _open(session, era)
                yield session


@asynccontextmanager
async def _http_session(url: str, era: Era) -> AsyncIterator[ClientSession]:
    async with streamable_http_client(url) as (read, write, *_):
        async with ClientSession(read, write) as session:
            await _open(session, era)
            yield session


@contextmanager
def http_server(argv: list[str], log_path: Path) -> Iterator[str]:
    """Run ``sshwall serve ... --listen 127.0.0.1:PORT`` and yield its /mcp URL."""
    options, upstream = _split_upstream(argv)
    port = free_port()
    with log_path.open("a") as errlog:
        proc = subprocess.Popen(
            [*options, "--listen", f"127.0.0.1:{port}", *upstream],
            stdin=subprocess.DEVNULL, stdout=errlog, stderr=errlog, env=gateway_env(), cwd=REPO_ROOT,
        )
    try:
        wait_http(port, proc, log_path)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop_process(proc)


@contextmanager
def start_gateway(
    transport: Transport, era: Era, argv: list[str], audit_path: Path, log_path: Path
) -> Iterator[GatewayClient]:
    """``sshwall serve`` (``argv`` from ``serve_argv``) with a client connected in ``era``."""
    with start_blocking_portal() as portal:
        if transport == "stdio":
            with portal.wrap_async_context_manager(_stdio_session(argv, era, log_path)) as session:
                yield GatewayClient(portal, session, transport, era, audit_path, log_path)
        else:
            with http_server(argv, log_path) as url:
                with portal.wrap_async_context_manager(_http_session(url, era)) as session:
                    yield GatewayClient(portal, session, transport, era, audit_path, log_path)


def wait_http(port: int, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 30.0) -> None:
    """Wait until the gateway's HTTP server answers on ``port`` (its upstream is up by then)."""
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshwall serve exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/mcp")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshwall serve did not listen on {port}:\n{log_path.read_text()}")


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL: our own child, by its handle."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the audit log ------------------------------------------------------------------------------


def audit_records(path: Path) -> list[dict[str, Any]]:
    """Every record of an audit log."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def decisions(path: Path) -> list[dict[str, Any]]:
    """The decision records of an audit log, in order."""
    return [r for r in audit_records(path) if r.get("kind", "decision") == "decision"]


# -- raw JSON-RPC over stdio ----------------------------------------------------------------------


class RawGateway:
    """``sshwall serve`` on stdio, spoken to in raw newline-framed bytes."""

    def __init__(self, argv: list[str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("a") as errlog:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog,
                env=gateway_env(), cwd=REPO_ROOT,
            )
        self._frames: queue.Queue[bytes | None] = queue.Queue()
        self._pending: list[dict[str, Any]] = []
        self._ids = iter(range(1, 1 << 30))
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._frames.put(line)
        self._frames.put(None)

    def next_id(self) -> int:
        """A fresh request id."""
        return next(self._ids)

    def send_bytes(self, data: bytes) -> None:
        """Write raw bytes to the gateway's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, msg: Mapping[str, Any]) -> None:
        """Write one JSON frame."""
        self.send_bytes(json.dumps(msg).encode() + b"\n")

    def receive(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next frame the gateway writes (every stdout line must be JSON)."""
        if self._pending:
            return self._pending.pop(0)
        try:
            line = self._frames.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no frame from the gateway within {timeout} s") from None
        if line is None:
            raise AssertionError(f"the gateway closed stdout (exit {self.proc.poll()}):\n{self.log_text()[-3000:]}")
        return json.loads(line)  # a non-JSON line on stdout fails here: the client side must stay clean

    def response(self, msg_id: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The response to request ``msg_id`` (other frames are kept for later)."""
        deadline = time.monotonic() + timeout
        kept: list[dict[str, Any]] = []
        try:
            while True:
                for i, frame in enumerate(self._pending):
                    if frame.get("id") == msg_id and "method" not in frame:
                        return self._pending.pop(i)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no response to id {msg_id!r} within {timeout} s")
                try:
                    line = self._frames.get(timeout=left)
                except queue.Empty:
                    continue
                if line is None:
                    raise AssertionError(f"the gateway closed stdout (exit {self.proc.poll()}):\n{self.log_text()[-3000:]}")
                frame = json.loads(line)
                if frame.get("id") == msg_id and "method" not in frame:
                    return frame
                kept.append(frame)
        finally:
            self._pending.extend(kept)

    def request(self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Send a request and return its response frame."""
        msg_id = self.next_id()
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            msg["params"] = dict(params)
        self.send(msg)
        return self.response(msg_id, timeout)

    def initialize(self) -> dict[str, Any]:
        """The legacy handshake."""
        answer = self.request("initialize", {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "sshwall-e2e-raw", "version": "0"},
        }, timeout=30)
        assert "result" in answer, answer
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer["result"]

    def ping(self, timeout: float = 10.0) -> None:
        """A ping that must be answered with an empty result."""
        answer = self.request("ping", None, timeout)
        assert answer.get("result") == {}, answer

    def call_tool(self, name: str, arguments: Mapping[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """A ``tools/call``; returns the response frame (result or error)."""
        return self.request("tools/call", {"name": name, "arguments": dict(arguments)}, timeout)

    def log_text(self) -> str:
        """The gateway's stderr so far."""
        return self.log_path.read_text(errors="replace")

    def close(self) -> int:
        """Close stdin (the client goes away) and wait for the gateway to exit."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)
            raise AssertionError("sshwall serve did not exit after its client closed stdin") from None
