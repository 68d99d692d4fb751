"""The backend over real stdio MCP against a real sshd: tools, connections, commands, errors."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from tests.support.mcp_client import BackendClient
from tests.support.sshd import SshdServer

# Mcp Ssh's declared arguments (shared/mcp-ssh/tools-list.json: its numbers are JSON numbers): name -> {argument: (JSON type, required)}.
MCP_SSH_TOOLS: dict[str, dict[str, tuple[str, bool]]] = {
    "connect": {"host": ("string", True), "port": ("number", False), "username": ("string", True),
                "password": ("string", False), "privateKey": ("string", False),
                "passphrase": ("string", False), "name": ("string", False),
                "rememberPassword": ("boolean", False), "tags": ("array", False)},
    "disconnect": {"connectionId": ("string", True)},
    "listConnections": {},
    "getConnection": {"connectionId": ("string", True)},
    "deleteConnection": {"connectionId": ("string", True)},
    "executeCommand": {"connectionId": ("string", True), "command": ("string", True),
                       "cwd": ("string", False), "timeout": ("number", False), "force": ("boolean", False)},
    "backgroundExecute": {"connectionId": ("string", True), "command": ("string", True),
                          "interval": ("number", False), "cwd": ("string", False)},
    "stopBackground": {"connectionId": ("string", True)},
    "getCurrentDirectory": {"connectionId": ("string", True)},
    "uploadFile": {"connectionId": ("string", True), "localPath": ("string", True), "remotePath": ("string", True)},
    "downloadFile": {"connectionId": ("string", True), "remotePath": ("string", True), "localPath": ("string", False)},
    "batchUploadFiles": {"connectionId": ("string", True), "files": ("array", True)},
    "batchDownloadFiles": {"connectionId": ("string", True), "files": ("array", True)},
    "getFileTransferStatus": {"transferId": ("string", True)},
    "listFileTransfers": {},
    "listActiveSessions": {},
    "listBackgroundTasks": {},
    "stopAllBackgroundTasks": {},
    "mcp_ssh_mcp_createTerminalSession": {"connectionId": ("string", True), "rows": ("number", False),
                                          "cols": ("number", False), "term": ("string", False)},
    "mcp_ssh_mcp_writeToTerminal": {"sessionId": ("string", True), "data": ("string", True)},
    "createTunnel": {"connectionId": ("string", True), "localPort": ("number", True),
                     "remoteHost": ("string", True), "remotePort": ("number", True),
                     "description": ("string", False)},
    "closeTunnel": {"tunnelId": ("string", True)},
    "listTunnels": {},
}


def test_declares_mcp_ssh_tools_with_the_same_arguments(backend: BackendClient) -> None:
    tools = {tool.name: tool.input_schema for tool in backend.list_tools()}
    assert set(tools) == set(MCP_SSH_TOOLS)
    for name, expected in MCP_SSH_TOOLS.items():
        schema = tools[name]
        assert schema["type"] == "object"
        declared = {arg: (spec["type"], arg in schema.get("required", [])) for arg, spec in schema["properties"].items()}
        assert declared == expected, name
    items = tools["batchDownloadFiles"]["properties"]["files"]["items"]
    assert items["required"] == ["remotePath"] and set(items["properties"]) == {"remotePath", "localPath"}


def test_connect_returns_the_id_in_text_and_structured_content(backend: BackendClient, sshd: SshdServer) -> None:
    reply = backend.ok("connect", {"host": sshd.host, "port": sshd.port, "username": sshd.user,
                                   "privateKey": sshd.client_key_text, "name": "primary", "tags": ["t"]})
    data = reply.data or {}
    assert {k: data[k] for k in ("host", "port", "username")} == {"host": sshd.host, "port": sshd.port, "username": sshd.user}
    # The real server's format: the name first, then its own id line (md5 of user@host:port).
    assert reply.text.startswith("连接成功!\n\n🟢 primary\nID: ")
    assert f"\nID: {data['connectionId']}\n主机: {sshd.host}:{sshd.port}\n用户名: {sshd.user}\n" in reply.text
    assert data["connectionId"] == hashlib.md5(f"{sshd.user}@{sshd.host}:{sshd.port}".encode()).hexdigest()
    # The real server shows no host key: the backend gives the one it verified in the data only.
    assert data["hostKey"].endswith(sshd.host_key_fingerprint) and sshd.host_key_fingerprint not in reply.text
    assert "\n状态: 已连接\n最后使用: " in reply.text and reply.text.endswith("\n活跃度: 刚刚活跃\n"), reply.text
    assert "PRIVATE KEY" not in reply.text


def test_command_output_stderr_and_exit_status_come_back(backend: BackendClient, conn: str, sshd: SshdServer) -> None:
    reply = backend.ok("executeCommand", {"connectionId": conn, "command": "echo out; echo err >&2; exit 7"})
    assert reply.data == {"stdout": "out\n", "stderr": "err\n", "exitStatus": 7}
    # The real server's layout, ending with a prompt that shows the connection's folder.
    assert reply.text == f"out\n错误输出:\nerr\n命令退出码: 7\n\n[{sshd.user}@{sshd.host} /root]$ ", reply.text
    quiet = backend.ok("executeCommand", {"connectionId": conn, "command": "true", "cwd": "/tmp"})
    assert quiet.text == f"\n[{sshd.user}@{sshd.host} /root]$ ", quiet.text


def test_command_runs_on_the_host(backend: BackendClient, conn: str, sshd: SshdServer, remote_dir: str) -> None:
    target = f"{remote_dir}/made-by-backend"
    assert not sshd.path_exists(target)
    backend.ok("executeCommand", {"connectionId": conn, "command": f"touch '{target}'"})
    assert sshd.path_exists(target)


def test_cwd_and_current_directory(backend: BackendClient, conn: str, sshd: SshdServer, remote_dir: str) -> None:
    reply = backend.ok("executeCommand", {"connectionId": conn, "command": "pwd", "cwd": remote_dir})
    assert reply.data and reply.data["stdout"].strip() == remote_dir
    missing = backend.ok("executeCommand", {"connectionId": conn, "command": "pwd", "cwd": f"{remote_dir}/nope"})
    assert missing.data and missing.data["exitStatus"] != 0
    home = sshd.check("pwd").strip()
    assert backend.ok("getCurrentDirectory", {"connectionId": conn}).text == home


def test_timeout_is_an_error_result(backend: BackendClient, conn: str) -> None:
    reply = backend.call("executeCommand", {"connectionId": conn, "command": "sleep 5", "timeout": 300})
    assert reply.is_error and "timed out after 300 ms" in reply.text
    assert backend.ok("executeCommand", {"connectionId": conn, "command": "echo still-alive"}).data["stdout"] == "still-alive\n"  # type: ignore[index]


def test_bad_calls_are_error_results_and_the_server_survives(backend: BackendClient, conn: str) -> None:
    unknown = backend.call("executeCommand", {"connectionId": "conn-nope", "command": "true"})
    assert unknown.is_error and "unknown connection 'conn-nope'" in unknown.text
    invalid = backend.call("executeCommand", {"connectionId": conn, "command": "true", "timeout": "300"})
    assert invalid.is_error and "timeout" in invalid.text
    assert backend.call("noSuchTool", {}).is_error
    assert backend.call("connect", {"host": "127.0.0.1", "username": "x"}).is_error  # no credentials
    assert not backend.call("listConnections").is_error


def test_connection_lifecycle(backend: BackendClient, sshd: SshdServer) -> None:
    cid = backend.connect(sshd, name="lifecycle")
    listed = backend.ok("listConnections").data or {}
    assert any(c["connectionId"] == cid and c["status"] == "connected" for c in listed["connections"])
    # The module's connection to this target may be live already (a connect returns it as is).
    name = next(c["name"] for c in listed["connections"] if c["connectionId"] == cid) or f"{sshd.user}@{sshd.host}"
    assert backend.ok("getConnection", {"connectionId": cid}).data["status"] == "connected"  # type: ignore[index]
    active = backend.ok("listActiveSessions")
    assert cid in (active.data or {})["connections"]
    assert active.text.startswith("活跃会话:\n\n") and "\n活跃度: 刚刚活跃\n上次活动: 刚刚活跃\n\n---\n\n" in active.text
    assert f"🟢 {name}\nID: {cid}\n" in active.text
    backend.ok("disconnect", {"connectionId": cid})
    got = backend.ok("getConnection", {"connectionId": cid})
    assert (got.data or {})["status"] == "disconnected" and got.text.startswith(f"⚪ {name}\n"), got.text
    assert "活跃度" not in got.text and f"ID: {cid}\n" not in backend.ok("listActiveSessions").text
    # The real server's words for a tool on a connection that is not connected.
    closed = backend.call("executeCommand", {"connectionId": cid, "command": "true"})
    assert closed.is_error and closed.text == f"错误: 连接 {name} 未连接", closed.text
    term = backend.call("mcp_ssh_mcp_createTerminalSession", {"connectionId": cid})
    assert term.is_error and term.text == f"创建终端会话失败: 连接 {cid} 不可用或未连接", term.text
    backend.ok("deleteConnection", {"connectionId": cid})
    assert backend.call("getConnection", {"connectionId": cid}).is_error


def test_auth_failure_is_clear_and_secrets_stay_out(backend: BackendClient, sshd: SshdServer, tmp_path: Path) -> None:
    password = "hunter2-very-secret"
    reply = backend.call("connect", {"host": sshd.host, "port": sshd.port, "username": sshd.user, "password": password})
    assert reply.is_error and "authentication failed" in reply.text
    # A key the server does not accept.
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    other = backend.call("connect", {"host": sshd.host, "port": sshd.port, "username": sshd.user,
                                     "privateKey": stranger.read_text()})
    assert other.is_error and "authentication failed" in other.text
    garbage = backend.call("connect", {"host": sshd.host, "port": sshd.port, "username": sshd.user,
                                       "privateKey": "not a key " + password})
    assert garbage.is_error and password not in garbage.text
    log = backend.log_text()
    assert password not in log and password not in reply.text
    key_body = sshd.client_key_text.splitlines()[1]
    assert key_body not in log


def test_passphrase_protected_key(backend: BackendClient, sshd: SshdServer, tmp_path: Path) -> None:
    key = tmp_path / "locked"
    key.write_text(sshd.client_key_text)
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "open sesame", "-f", str(key)], check=True)
    base = {"host": sshd.host, "port": sshd.port, "username": sshd.user, "privateKey": key.read_text()}
    assert "passphrase is required" in backend.call("connect", base).text
    assert backend.call("connect", base | {"passphrase": "wrong"}).is_error
    assert not backend.call("connect", base | {"passphrase": "open sesame"}).is_error
    assert "open sesame" not in backend.log_text()


def test_unreachable_host_is_an_error_result(backend: BackendClient, sshd: SshdServer) -> None:
    from tests.support.sshd import free_port

    reply = backend.call("connect", {"host": "127.0.0.1", "port": free_port(), "username": sshd.user,
                                     "privateKey": sshd.client_key_text})
    assert reply.is_error and "cannot reach" in reply.text
