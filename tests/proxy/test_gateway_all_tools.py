"""Each of Mcp Ssh's 23 tools, called through ``sshwall serve`` under a permissive policy.

The policy (fixtures/policies/e2e-all.yaml) allows every tool, checks only the scheduling
interval and terminal input, so every call reaches the upstream and what it did is checked on
the host (files, background runs, a TCP round trip through the tunnel, a file a terminal
created). Afterwards the audit log verifies and holds one decision record per call.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sshwall.audit import verify
from tests.proxy.gateway import (
    MCP_SSH_TOOLS,
    POLICIES,
    GatewayClient,
    audit_records,
    decisions,
    serve_argv,
    start_gateway,
)
from tests.support.echo import roundtrip as _roundtrip
from tests.support.sshd import SshdServer, free_port

POLICY = POLICIES / "e2e-all.yaml"


@pytest.fixture(scope="module")
def gw(gateway_dir: Path, upstream: list[str]) -> Iterator[GatewayClient]:
    """``sshwall serve --rules e2e-all.yaml`` over stdio, legacy era."""
    audit = gateway_dir / "audit-all.jsonl"
    with start_gateway("stdio", "legacy", serve_argv(POLICY, audit, upstream), audit, gateway_dir / "serve.log") as client:
        yield client


@pytest.fixture(scope="module")
def conn(gw: GatewayClient, sshd: SshdServer) -> str:
    """A connection to the test sshd, made through the gateway."""
    return gw.connect(sshd)


@pytest.fixture
def tmp_remote(sshd: SshdServer) -> Iterator[str]:
    """A fresh folder under /tmp on the host (e2e-all's terminal may write under /tmp only)."""
    path = sshd.check("mktemp -d /tmp/sshwall-e2e-XXXXXXXX").strip()
    yield path
    sshd.run(f"rm -rf '{path}'")


def _lines(sshd: SshdServer, path: str) -> int:
    return int(sshd.run(f"cat '{path}' 2>/dev/null | wc -l").stdout.strip() or 0)


def _until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_a_too_short_interval_schedules_nothing(gw: GatewayClient, conn: str, sshd: SshdServer, remote_dir: str) -> None:
    marker = f"{remote_dir}/marker"
    before = gw.ok("listBackgroundTasks")
    reply = gw.denied("backgroundExecute", {"connectionId": conn, "command": f"touch {marker}", "interval": 100})
    assert "rule tools.backgroundExecute.interval" in reply.first_line
    time.sleep(0.5)  # a scheduled task would have run at once, and then every 100 ms
    assert not sshd.path_exists(marker), "the denied backgroundExecute ran"
    after = gw.ok("listBackgroundTasks")
    assert (after.text, after.data) == (before.text, before.data)


def test_connections_commands_and_background(gw: GatewayClient, conn: str, sshd: SshdServer, remote_dir: str) -> None:
    gw.ok("getConnection", {"connectionId": conn})
    assert conn in gw.ok("listConnections").text
    token = uuid.uuid4().hex
    out = gw.ok("executeCommand", {"connectionId": conn, "command": f"echo {token} > made.txt && cat made.txt",
                                   "cwd": remote_dir})
    assert token in out.text
    assert sshd.read_bytes(f"{remote_dir}/made.txt").decode().strip() == token
    assert gw.ok("getCurrentDirectory", {"connectionId": conn}).text.strip()

    ticks = f"{remote_dir}/ticks"
    gw.ok("backgroundExecute", {"connectionId": conn, "command": f"echo tick >> {ticks}", "interval": 300})
    # Mcp Ssh names a task's connection by its name (``user@host`` when unnamed), not its id.
    assert f"连接: {sshd.user}@{sshd.host}\n主机: {sshd.host}\n" in gw.ok("listBackgroundTasks").text
    assert _until(lambda: _lines(sshd, ticks) >= 2), "the background task did not repeat"
    gw.ok("stopBackground", {"connectionId": conn})
    stopped_at = _lines(sshd, ticks)
    time.sleep(0.9)
    assert _lines(sshd, ticks) <= stopped_at + 1, "the task kept running after stopBackground"  # one run may be in flight

    again = f"{remote_dir}/again"
    gw.ok("backgroundExecute", {"connectionId": conn, "command": f"echo tick >> {again}", "interval": 300})
    assert _until(lambda: _lines(sshd, again) >= 1)
    gw.ok("stopAllBackgroundTasks")
    stopped_at = _lines(sshd, again)
    time.sleep(0.9)
    assert _lines(sshd, again) <= stopped_at + 1, "the task kept running after stopAllBackgroundTasks"
    assert gw.ok("listBackgroundTasks").text == "当前没有运行中的后台任务"


def test_file_transfers(gw: GatewayClient, conn: str, sshd: SshdServer, remote_dir: str, tmp_path: Path) -> None:
    local = tmp_path / "up.bin"
    local.write_bytes(b"upload \x00\xff " + uuid.uuid4().bytes)
    up = gw.ok("uploadFile", {"connectionId": conn, "localPath": str(local), "remotePath": f"{remote_dir}/up.bin"})
    assert sshd.read_bytes(f"{remote_dir}/up.bin") == local.read_bytes()
    back = tmp_path / "back.bin"
    gw.ok("downloadFile", {"connectionId": conn, "remotePath": f"{remote_dir}/up.bin", "localPath": str(back)})
    assert back.read_bytes() == local.read_bytes()

    transfer = up.find_id("transferId")
    gw.ok("getFileTransferStatus", {"transferId": transfer})
    assert transfer in gw.ok("listFileTransfers").text + str(gw.ok("listFileTransfers").data)

    sources = []
    for n in range(2):
        path = tmp_path / f"batch{n}.txt"
        path.write_text(f"batch {n} {uuid.uuid4().hex}")
        sources.append(path)
    gw.ok("batchUploadFiles", {"connectionId": conn, "files": [
        {"localPath": str(p), "remotePath": f"{remote_dir}/{p.name}"} for p in sources]})
    for path in sources:
        assert sshd.read_bytes(f"{remote_dir}/{path.name}").decode() == path.read_text()
    down = tmp_path / "down"
    down.mkdir()
    gw.ok("batchDownloadFiles", {"connectionId": conn, "files": [
        {"remotePath": f"{remote_dir}/{p.name}", "localPath": str(down / p.name)} for p in sources]})
    for path in sources:
        assert (down / path.name).read_text() == path.read_text()


def test_tunnels(gw: GatewayClient, conn: str, echo_port: int) -> None:
    local_port = free_port()
    made = gw.ok("createTunnel", {"connectionId": conn, "localPort": local_port, "remoteHost": "127.0.0.1",
                                  "remotePort": echo_port, "description": "e2e echo"})
    payload = b"through sshd and back " + uuid.uuid4().bytes
    assert _roundtrip(local_port, payload) == payload
    tunnel = made.find_id("tunnelId")
    assert tunnel in gw.ok("listTunnels").text + str(gw.call("listTunnels").data)
    gw.ok("closeTunnel", {"tunnelId": tunnel})
    with pytest.raises(OSError):
        _roundtrip(local_port, b"closed?")


def test_terminal(gw: GatewayClient, conn: str, sshd: SshdServer, tmp_remote: str) -> None:
    opened = gw.ok("mcp_ssh_mcp_createTerminalSession", {"connectionId": conn, "rows": 24, "cols": 80})
    session = opened.find_id("sessionId")
    assert session in gw.ok("listActiveSessions").text + str(gw.call("listActiveSessions").data)
    gw.ok("mcp_ssh_mcp_writeToTerminal", {"sessionId": session, "data": f"touch {tmp_remote}/from-pty\n"})
    assert _until(lambda: sshd.path_exists(f"{tmp_remote}/from-pty")), "the allowed terminal line did not run"

    sshd.check(f"touch {tmp_remote}/keep")
    denied = gw.denied("mcp_ssh_mcp_writeToTerminal", {"sessionId": session, "data": f"rm -f {tmp_remote}/keep\n"})
    assert "rule" in denied.first_line
    gw.denied("mcp_ssh_mcp_writeToTerminal", {"sessionId": session, "data": f"ls {tmp_remote}\t"})  # tab completion
    gw.ok("mcp_ssh_mcp_writeToTerminal", {"sessionId": session, "data": "true\n"})  # the session still answers
    time.sleep(0.3)
    assert sshd.path_exists(f"{tmp_remote}/keep"), "denied terminal input reached the shell"


def test_disconnect_and_delete(gw: GatewayClient, sshd: SshdServer) -> None:
    cid = gw.connect(sshd, name="e2e-delete-me")
    gw.ok("disconnect", {"connectionId": cid})
    gw.ok("deleteConnection", {"connectionId": cid})
    assert cid not in gw.ok("listConnections").text


def test_all_23_tools_were_called_and_audited_once_each_call(gw: GatewayClient) -> None:
    assert set(gw.calls) == MCP_SSH_TOOLS, f"not exercised: {sorted(MCP_SSH_TOOLS - set(gw.calls))}"
    report = verify(gw.audit_path)
    assert report.ok, str(report)
    recorded = decisions(gw.audit_path)
    assert [r["tool"] for r in recorded] == gw.calls, "one decision record per call, in order"
    outcomes = {r["ref"]: r for r in audit_records(gw.audit_path) if r.get("kind") == "outcome"}
    for record in recorded:
        if record["decision"] == "allow":
            assert outcomes[record["seq"]]["upstream"] == "ok", record
        else:
            assert record["upstream"] == "not-forwarded" and record["seq"] not in outcomes
