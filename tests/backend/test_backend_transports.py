"""The backend's transports and command line: streamable HTTP, raw stdio hygiene, bad flags."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.support.mcp_client import REPO_ROOT, backend_env, http_backend
from tests.support.sshd import SshdServer


def test_streamable_http(sshd: SshdServer, tmp_path: Path) -> None:
    with http_backend(["--known-hosts", str(sshd.known_hosts_path)], tmp_path / "http.log") as backend:
        assert len(backend.list_tools()) == 23
        cid = backend.connect(sshd)
        reply = backend.ok("executeCommand", {"connectionId": cid, "command": "echo over-http; exit 4"})
        assert reply.data == {"stdout": "over-http\n", "stderr": "", "exitStatus": 4}
        assert backend.call("executeCommand", {"connectionId": "conn-nope", "command": "true"}).is_error
    assert "streamable HTTP" in (tmp_path / "http.log").read_text()


def _rpc(method: str, params: dict[str, object], ident: int | None) -> str:
    message: dict[str, object] = {"jsonrpc": "2.0", "method": method, "params": params}
    if ident is not None:
        message["id"] = ident
    return json.dumps(message) + "\n"


def test_stdout_carries_only_json_rpc(sshd: SshdServer) -> None:
    requests = "".join([
        _rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                            "clientInfo": {"name": "raw", "version": "0"}}, 1),
        _rpc("notifications/initialized", {}, None),
        _rpc("tools/call", {"name": "connect", "arguments": {
            "host": sshd.host, "port": sshd.port, "username": sshd.user, "password": "pw-in-the-clear"}}, 2),
        _rpc("tools/call", {"name": "executeCommand", "arguments": {"connectionId": "x"}}, 3),
    ])
    proc = subprocess.Popen(
        [sys.executable, "-m", "sshwall.backend", "--known-hosts", str(sshd.known_hosts_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        env={**backend_env(), "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write(requests)
    proc.stdin.flush()
    lines: list[str] = []
    by_id: dict[int, dict[str, object]] = {}
    deadline = time.monotonic() + 60
    while not {1, 2, 3} <= by_id.keys() and time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 1.0)[0]:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            reply = json.loads(line)  # every line on stdout is JSON-RPC
            if "id" in reply:
                by_id[reply["id"]] = reply
    _, stderr = proc.communicate(timeout=30)  # closes stdin: the backend exits
    assert by_id[1]["result"]["serverInfo"]["name"] == "sshwall-backend"  # type: ignore[index]
    assert by_id[2]["result"]["isError"] is True  # type: ignore[index]
    assert by_id[3]["result"]["isError"] is True  # type: ignore[index]
    assert proc.returncode == 0
    assert "pw-in-the-clear" not in "".join(lines) + stderr
    assert "backend serving MCP over stdio" in stderr


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sshwall.backend", *args], capture_output=True, text=True,
                          timeout=30, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, env=backend_env() | {"PATH": "/usr/bin:/bin"})


def test_bad_flags_exit_2() -> None:
    pin = _cli("--host-key", "example.org:22=MD5:00")
    assert pin.returncode == 2 and "bad --host-key" in pin.stderr and not pin.stdout
    listen = _cli("--listen", "no-port-here")
    assert listen.returncode == 2 and "HOST:PORT" in listen.stderr


def test_insecure_flag_warns_at_startup() -> None:
    proc = _cli("--insecure-accept-any-host-key")  # stdin is empty: serves nothing, exits
    assert "WITHOUT verification" in proc.stderr and not proc.stdout
