"""Raw HTTP to a real ``sshwall serve --listen`` process: frames no SDK client would send.

``HttpGateway`` starts the gateway (fake upstream recording every frame it gets, an audit log)
and speaks to it with ``http.client`` and plain sockets on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.proxy.gateway import (
    FAKE_UPSTREAM,
    audit_records,
    gateway_env,
    stop_process,
    wait_http,
)
from tests.support.sshd import REPO_ROOT, free_port

POLICY = """\
version: 1
tools:
  listConnections: allow
"""
LEGACY_VERSION = "2025-06-18"


@dataclass(frozen=True)
class HttpReply:
    """One HTTP answer: status, lower-cased headers, the JSON-RPC messages in its body."""

    status: int
    headers: dict[str, str]
    messages: list[Any]

    @property
    def message(self) -> Any:
        """The one JSON-RPC message of the body."""
        assert len(self.messages) == 1, self
        return self.messages[0]


class HttpGateway:
    """A running ``sshwall serve --listen`` in front of the recording fake upstream."""

    def __init__(self, work: Path, extra: list[str] = ()) -> None:  # type: ignore[assignment]
        work.mkdir(parents=True, exist_ok=True)
        self.work = work
        self.audit = work / "audit.jsonl"
        self.record = work / "upstream.jsonl"
        self.log = work / "gateway.log"
        (work / "policy.yaml").write_text(POLICY)
        self.port = free_port()
        argv = [sys.executable, "-m", "sshwall.cli", "serve", "--rules", str(work / "policy.yaml"),
                "--audit", str(self.audit), "--listen", f"127.0.0.1:{self.port}", *extra,
                "--", sys.executable, str(FAKE_UPSTREAM), "--record", str(self.record)]
        with self.log.open("a") as errlog:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=errlog, stderr=errlog,
                                         env=gateway_env(), cwd=REPO_ROOT)
        wait_http(self.port, self.proc, self.log)

    def close(self) -> None:
        """Stop the gateway."""
        stop_process(self.proc)

    def post(self, body: Any, session: str | None = None, token: str | None = None, raw: bytes | None = None,
             method: str = "POST") -> HttpReply:
        """POST one body (JSON of ``body``, or ``raw`` bytes) to /mcp and read the whole answer."""
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if session is not None:
            headers |= {"mcp-session-id": session, "mcp-protocol-version": LEGACY_VERSION}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            conn.request(method, "/mcp", body=data, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode()
            found = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        return HttpReply(resp.status, found, _messages(text, found.get("content-type", "")))

    def open_session(self, token: str | None = None) -> tuple[HttpReply, str | None]:
        """``initialize`` and ``notifications/initialized``: the reply and the session id (None if refused)."""
        reply = self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": LEGACY_VERSION, "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
            token=token)
        session = reply.headers.get("mcp-session-id")
        if reply.status == 200 and session:
            done = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session, token)
            assert done.status == 202, done
        return reply, session

    def upstream_frames(self) -> list[dict[str, Any]]:
        """Every JSON frame the upstream received."""
        if not self.record.exists():
            return []
        lines = self.record.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def decisions(self) -> list[dict[str, Any]]:
        """The audit log's decision records."""
        return [r for r in audit_records(self.audit) if r.get("kind", "decision") == "decision"]


def _messages(text: str, content_type: str) -> list[Any]:
    if not text.strip():
        return []
    if content_type.startswith("text/event-stream"):
        return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:") and line[5:].strip()]
    return [json.loads(text)]
