"""A pipelining stdio MCP client of real ``sshwall serve`` processes, for the governance tests.

``Gateways(workdir).start(policy, ...)`` spawns ``python -m sshwall.cli serve`` over stdio in
front of an upstream (the trivial one of ``bench/``, the echo stub of this folder, or the built-in
backend when ``upstream=BACKEND``), runs the legacy handshake and hands back a ``Gateway``.
``Gateway.call_many`` writes many requests at once and only then reads the answers, so the
gateway's relay really handles them concurrently. A gateway that dies or hangs raises
``GatewayError`` (not an ``AssertionError``), so it can never pass for an expected failure.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICIES = REPO_ROOT / "fixtures" / "policies"
TRIVIAL_UPSTREAM = (sys.executable, str(REPO_ROOT / "bench" / "trivial_upstream.py"))
ECHO_UPSTREAM = (sys.executable, str(Path(__file__).with_name("echo_upstream.py")))
BACKEND = ()  # no upstream command: ``sshwall serve`` runs the built-in backend
DENIED = "sshwall: denied"


def policy(name: str) -> Path:
    """A test policy of ``fixtures/policies`` by file name (``gov-....yaml|json``)."""
    path = POLICIES / name
    if not path.is_file():
        raise FileNotFoundError(f"missing test policy {path}")
    return path


@dataclass(frozen=True)
class Result:
    """One ``tools/call`` answer, flattened."""

    raw: Mapping[str, Any]

    @property
    def is_error(self) -> bool:
        """A tool error or a JSON-RPC error."""
        return "error" in self.raw or bool(self.raw.get("result", {}).get("isError"))

    @property
    def text(self) -> str:
        """The text blocks of the result (or the JSON-RPC error message)."""
        if "error" in self.raw:
            return f"JSON-RPC error: {self.raw['error'].get('message')}"
        blocks = self.raw.get("result", {}).get("content") or []
        return "\n".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")

    @property
    def first_line(self) -> str:
        """The first text line: ``sshwall: denied (rule ID): reason`` on a denial."""
        return self.text.splitlines()[0] if self.text else ""

    @property
    def denied(self) -> bool:
        """Refused by the firewall (not forwarded)."""
        return self.is_error and self.first_line.startswith(DENIED)

    @property
    def allowed(self) -> bool:
        """Forwarded and answered without an error."""
        return not self.is_error

    @property
    def structured(self) -> Mapping[str, Any]:
        """``structuredContent`` of the result ({} when none)."""
        return self.raw.get("result", {}).get("structuredContent") or {}


class GatewayError(RuntimeError):
    """The gateway process died, or did not answer in time (not a governance assertion)."""


class Gateway:
    """An ``sshwall serve`` process on stdio and a minimal, pipelining MCP client of it."""

    def __init__(self, argv: Sequence[str], log_path: Path) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                cwd=REPO_ROOT, env=_env(), start_new_session=True,
            )
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._answers: dict[int, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, name="gateway-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and isinstance(msg.get("id"), int) and ("result" in msg or "error" in msg):
                with self._cond:
                    self._answers[msg["id"]] = msg
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _send(self, frames: Sequence[Mapping[str, Any]]) -> None:
        assert self.proc.stdin is not None
        data = b"".join((json.dumps(f) + "\n").encode() for f in frames)
        with self._write_lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def _frame(self, method: str, params: Mapping[str, Any] | None) -> tuple[int, dict[str, Any]]:
        msg_id = next(self._ids)
        frame: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            frame["params"] = dict(params)
        return msg_id, frame

    def wait(self, msg_id: int, timeout: float = 30.0) -> dict[str, Any]:
        """The answer to request ``msg_id``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self._answers:
                if self._eof:
                    raise GatewayError(f"gateway exited (code {self.proc.poll()}) before answering #{msg_id}:\n{self.log()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GatewayError(f"no answer to request #{msg_id} within {timeout} s:\n{self.log()}")
                self._cond.wait(left)
            return self._answers.pop(msg_id)

    def request(self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """Send one request and wait for its answer."""
        msg_id, frame = self._frame(method, params)
        self._send([frame])
        return self.wait(msg_id, timeout)

    def initialize(self) -> dict[str, Any]:
        """The legacy-era handshake."""
        answer = self.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                             "clientInfo": {"name": "sshwall-governance-tests", "version": "1"}})
        if "result" not in answer:
            raise GatewayError(f"initialize failed: {answer}")
        self._send([{"jsonrpc": "2.0", "method": "notifications/initialized"}])
        return answer

    def call(self, tool: str, arguments: Mapping[str, Any] | None = None, timeout: float = 30.0) -> Result:
        """One ``tools/call``."""
        return Result(self.request("tools/call", {"name": tool, "arguments": dict(arguments or {})}, timeout))

    def call_many(self, calls: Sequence[tuple[str, Mapping[str, Any]]], timeout: float = 60.0) -> list[Result]:
        """Write every call at once (no waiting in between), then collect the answers in order."""
        ids, frames = [], []
        for tool, arguments in calls:
            msg_id, frame = self._frame("tools/call", {"name": tool, "arguments": dict(arguments)})
            ids.append(msg_id)
            frames.append(frame)
        self._send(frames)
        deadline = time.monotonic() + timeout
        return [Result(self.wait(i, max(0.1, deadline - time.monotonic()))) for i in ids]

    def log(self) -> str:
        """The gateway's stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def hang_up(self) -> None:
        """Close stdin: the client goes away, and the gateway should exit."""
        try:
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                self.proc.stdin.close()
        except OSError:
            pass

    def close(self) -> None:
        """Hang up and wait for the gateway to exit (killed after 15 s)."""
        self.hang_up()
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + path if path else "")
    # Dozens of gateways start per run: let them cache bytecode, outside the source tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "sshwall-governance-pycache"))
    env.pop("SSHWALL_STATE", None)
    env.pop("SSHWALL_IDENTITY", None)
    return env


@dataclass
class Gateways:
    """Starts ``sshwall serve`` processes for one test and closes them all after it."""

    workdir: Path
    started: list[Gateway] = field(default_factory=list)

    def argv(
        self,
        rules: Path,
        *,
        upstream: Sequence[str] = TRIVIAL_UPSTREAM,
        state: str | None = None,
        identity: str | None = None,
        audit: Path | None = None,
        backend_args: Sequence[str] = (),
        extra: Sequence[str] = (),
    ) -> list[str]:
        """The command line of one gateway."""
        argv = [sys.executable, "-m", "sshwall.cli", "serve", "--rules", str(rules)]
        if state is not None:
            argv += ["--state", state]
        if identity is not None:
            argv += ["--identity", identity]
        if audit is not None:
            argv += ["--audit", str(audit)]
        argv += [f"--backend-arg={arg}" for arg in backend_args]
        argv += list(extra)
        if upstream:
            argv += ["--", *upstream]
        return argv

    def start(self, rules: Path, **options: Any) -> Gateway:
        """Start one gateway and run the handshake (see ``argv`` for the options)."""
        return self.start_many([(rules, options)])[0]

    def start_many(self, specs: Sequence[tuple[Path, Mapping[str, Any]]]) -> list[Gateway]:
        """Start several gateways side by side (spawn all, then the handshakes)."""
        spawned = []
        for rules, options in specs:
            n = len(self.started) + 1
            gateway = Gateway(self.argv(rules, **options), self.workdir / f"gateway-{n}.log")
            self.started.append(gateway)
            spawned.append(gateway)
        for gateway in spawned:
            gateway.initialize()
        return spawned

    def close(self) -> None:
        """Close every gateway started here (all hang up first, then each is waited for)."""
        for gateway in self.started:
            gateway.hang_up()
        for gateway in reversed(self.started):
            gateway.close()
