"""A real MCP client for the built-in backend, usable from ordinary (synchronous) tests.

``stdio_backend(...)`` spawns ``python -m sshwall.backend ARGS`` and talks to it over stdio with
the SDK's ``stdio_client`` + ``ClientSession``; ``http_backend(...)`` starts it with
``--listen 127.0.0.1:PORT`` and uses ``streamable_http_client``. Both run the async client in an
anyio blocking portal, so a test just calls ``backend.call("executeCommand", {...})``. The
backend's stderr (its log) is captured in a file the test can read.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.support.sshd import REPO_ROOT, SshdServer, free_port

BACKEND_MODULE = "sshwall.backend"


@dataclass(frozen=True)
class Reply:
    """One tool result, flattened."""

    text: str
    data: dict[str, Any] | None
    is_error: bool


@dataclass(frozen=True)
class BackendClient:
    """A connected MCP client session to one backend process."""

    portal: BlockingPortal
    session: ClientSession
    log_path: Path

    def call(self, name: str, arguments: Mapping[str, object] | None = None, timeout: float = 60.0) -> Reply:
        """Call a tool and wait for its result."""
        result = self.portal.call(
            lambda: self.session.call_tool(name, dict(arguments or {}), read_timeout_seconds=timeout)
        )
        text = "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")
        return Reply(text, result.structured_content, bool(result.is_error))

    def ok(self, name: str, arguments: Mapping[str, object] | None = None, timeout: float = 60.0) -> Reply:
        """Call a tool and fail the test unless it succeeded."""
        reply = self.call(name, arguments, timeout)
        assert not reply.is_error, f"{name} failed: {reply.text}"
        return reply

    def list_tools(self) -> list[Any]:
        """The tools the backend declares."""
        return list(self.portal.call(self.session.list_tools).tools)

    def connect(self, server: SshdServer, **extra: object) -> str:
        """``connect`` to a test sshd with its client key; returns the connection id."""
        args: dict[str, object] = {
            "host": server.host, "port": server.port, "username": server.user,
            "privateKey": server.client_key_text,
        }
        args.update(extra)
        return str(self.ok("connect", args).data["connectionId"])  # type: ignore[index]

    def log_text(self) -> str:
        """What the backend wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")


def backend_env() -> dict[str, str]:
    """Environment for the backend process: this checkout first on the import path."""
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(REPO_ROOT) + (os.pathsep + path if path else "")}


@asynccontextmanager
async def _stdio_session(args: list[str], log_path: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", BACKEND_MODULE, *args], env=backend_env(), cwd=REPO_ROOT
    )
    with log_path.open("a") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


@asynccontextmanager
async def _http_session(url: str) -> AsyncIterator[ClientSession]:
    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


@contextmanager
def stdio_backend(args: list[str], log_path: Path) -> Iterator[BackendClient]:
    """Spawn the backend with ``args`` and yield a client connected over stdio."""
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(_stdio_session(args, log_path)) as session:
            yield BackendClient(portal, session, log_path)


@contextmanager
def http_backend_url(args: list[str], log_path: Path, timeout: float = 20.0) -> Iterator[str]:
    """Start the backend with ``--listen 127.0.0.1:PORT`` (and ``args``); yield its MCP URL once
    it listens; stop it afterwards."""
    port = free_port()
    with log_path.open("a") as errlog:
        proc = subprocess.Popen(
            [sys.executable, "-m", BACKEND_MODULE, "--listen", f"127.0.0.1:{port}", *args],
            stdin=subprocess.DEVNULL, stdout=errlog, stderr=errlog,
            env=os.environ | backend_env(), cwd=REPO_ROOT,
        )
    try:
        _wait_port(port, proc, log_path, timeout)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def http_backend(args: list[str], log_path: Path) -> Iterator[BackendClient]:
    """Start the backend with ``--listen 127.0.0.1:PORT`` and yield a streamable-HTTP client."""
    with http_backend_url(args, log_path) as url, start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(_http_session(url)) as session:
            yield BackendClient(portal, session, log_path)


def _wait_port(port: int, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"backend exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"backend did not listen on {port}:\n{log_path.read_text()}")
