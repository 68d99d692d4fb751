"""What the upstream does with an argument by itself: the terminal auto-password, default paths."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sshwall.engine import Decision, ToolCall, evaluate
from sshwall.engine.autopassword import terminal_problems, typed_password_problem
from sshwall.engine.rewrites import ConnectionFacts
from sshwall.policy import Policy, load_policy
from sshwall.profiles import TerminalAutoPassword
from sshwall.profiles.nodepath import default_path, node_basename, node_normalize
from sshwall.proxy.bindings import Binding
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.proxy.upstreamhome import process_home, upstream_home

TEMPLATE = "{home}/Downloads/{basename:remotePath}"


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = tmp_path_factory.mktemp("p") / "p.yaml"
    path.write_text(textwrap.dedent("""
        version: 1
        profile: mcp-ssh
        tools:
          mcp_ssh_mcp_createTerminalSession: allow
          mcp_ssh_mcp_writeToTerminal: {terminal: {commands: t, allow_control: [ctrl-c]}}
          downloadFile: {local_paths: {allow: ["/home/op/Downloads/**", "/srv/inbox/**"], deny: ["**/.bashrc"]}}
          batchDownloadFiles: {local_paths: {allow: ["/srv/inbox/**"]}}
          uploadFile: {local_paths: {allow: ["/srv/outbox/**"]}}
        commands:
          t: {operators: [sequence], programs: {uptime: {}, echo: {}}}
          other: {programs: {ls: {}}}
    """))
    return load_policy(path)


# -- the password typed as a terminal line -------------------------------------------------------


@pytest.mark.parametrize("password", ["hunter2", "x;touch /tmp/m", "uptime\nrm -rf /", "a\x03uptime", "Password:", "uptime & id"])
def test_a_password_that_is_not_an_allowed_line_is_refused(policy: Policy, password: str) -> None:
    problem = typed_password_problem(policy, None, password)
    assert problem is not None and "Password:" in problem
    assert password.split("\n")[0] not in problem.replace("`Password:`", "")  # never shown


def test_a_password_that_is_an_allowed_line_passes_and_the_group_set_decides(policy: Policy) -> None:
    assert typed_password_problem(policy, None, "uptime") is None
    assert typed_password_problem(policy, "other", "uptime") is not None  # the host group's own set


def test_without_a_terminal_rule_the_password_cannot_be_checked(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\ntools: {mcp_ssh_mcp_createTerminalSession: allow}\n")
    assert "no terminal rule" in (typed_password_problem(load_policy(path), None, "uptime") or "")


RW = TerminalAutoPassword(kind="terminal-auto-password", argument="data", triggers=("Password:",), replaces_next_write=True)


def test_terminal_problems_by_password_state() -> None:
    assert terminal_problems(RW, None, "x", (), "") == []  # sshwall check: no connection known
    assert terminal_problems(RW, ConnectionFacts("none"), "echo ", (), "") == []
    assert "never saw" in terminal_problems(RW, ConnectionFacts("unknown"), "uptime\n", (), "")[0]
    assert terminal_problems(RW, ConnectionFacts("checked", "bad"), "uptime\n", (), "") == ["bad"]
    assert terminal_problems(RW, ConnectionFacts("checked", None), "uptime\n", (), "") == []
    assert "end its line" in terminal_problems(RW, ConnectionFacts("checked", None), "uptime", (), "")[0]
    assert "end its line" in terminal_problems(RW, ConnectionFacts("checked", None), "\n", (), "eval ")[0]
    assert terminal_problems(RW, ConnectionFacts("checked"), "uptime\n", (), "")  # unchecked fails closed


def _firewall(policy: Policy, binding: Binding) -> tuple[Firewall, list[str]]:
    sent: list[str] = []

    async def forward(method: str, params: Any, *, client_id: Any = None) -> Any:
        sent.append(params["name"])
        return {"content": [{"type": "text", "text": "ok"}]}

    fw = Firewall(policy, forward)
    fw.targets.bindings.bind(binding)
    fw.targets.bindings.bind_session("s1", binding.connection_id)
    return fw, sent


def _call(fw: Firewall, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(fw.call_tool({"name": name, "arguments": arguments}, Caller()))


@pytest.mark.parametrize("state", ["unknown", "checked"])
def test_the_gateway_refuses_terminals_on_a_connection_with_an_unusable_password(policy: Policy, state: str) -> None:
    fw, sent = _firewall(policy, Binding("c1", "h", 22, "u", None, state))  # type: ignore[arg-type]
    opened = _call(fw, "mcp_ssh_mcp_createTerminalSession", {"connectionId": "c1"})
    typed = _call(fw, "mcp_ssh_mcp_writeToTerminal", {"sessionId": "s1", "data": "uptime\n"})
    assert opened["isError"] and typed["isError"] and sent == []
    assert "auto-password" in opened["content"][0]["text"]


def test_the_gateway_keeps_terminals_with_a_password_that_is_an_allowed_line(policy: Policy) -> None:
    fw, sent = _firewall(policy, Binding("c1", "h", 22, "u", None, "checked", False, None))
    assert not _call(fw, "mcp_ssh_mcp_createTerminalSession", {"connectionId": "c1"}).get("isError")
    assert not _call(fw, "mcp_ssh_mcp_writeToTerminal", {"sessionId": "s1", "data": "uptime\n"}).get("isError")
    assert _call(fw, "mcp_ssh_mcp_writeToTerminal", {"sessionId": "s1", "data": "uptime"})["isError"]
    assert sent == ["mcp_ssh_mcp_createTerminalSession", "mcp_ssh_mcp_writeToTerminal"]


# -- default local paths -------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "base"), [("/etc/passwd", "passwd"), ("/var/log/", "log"), ("/", ""), ("", ""),
                                            ("..", ".."), ("a//b//", "b"), ("x\\y", "x\\y")])
def test_node_basename(path: str, base: str) -> None:
    assert node_basename(path) == base


def test_default_path_is_normalised_as_node_joins() -> None:
    assert default_path(TEMPLATE, {"remotePath": "/etc/passwd"}, "/home/op").path == "/home/op/Downloads/passwd"
    assert default_path(TEMPLATE, {"remotePath": "x/.."}, "/home/op").path == "/home/op"
    assert default_path(TEMPLATE, {"remotePath": "/"}, "/home/op").path == "/home/op/Downloads"
    assert node_normalize("//a/./b/../../..") == "/"
    assert default_path(TEMPLATE, {"remotePath": "a"}, None).problem is not None
    assert default_path(TEMPLATE, {"remotePath": "a"}, "relative").problem is not None
    assert default_path(TEMPLATE, {}, "/home/op").problem is not None
    assert "unknown field" in (default_path("{home}/{nope}", {}, "/h").problem or "")


def _download(policy: Policy, home: str | None, **args: Any) -> Any:
    return evaluate(policy, ToolCall("downloadFile", {"connectionId": "c1", **args}), upstream_home=home)


def test_a_download_without_local_path_is_decided_on_the_default_path(policy: Policy) -> None:
    assert _download(policy, "/home/op", remotePath="/var/log/syslog").decision == Decision.ALLOW
    assert _download(policy, "/home/op", remotePath="/var/log/syslog", localPath="").decision == Decision.ALLOW
    outside = _download(policy, "/root", remotePath="/var/log/syslog")
    assert outside.decision == Decision.DENY and any("/root/Downloads/syslog" in r for r in outside.reasons)
    dotfile = _download(policy, "/home/op", remotePath="/tmp/.bashrc")
    assert dotfile.decision == Decision.DENY  # the basename lands on a denied name
    up = _download(policy, "/home/op", remotePath="/home/op/..")  # basename `..`: the home itself
    assert up.decision == Decision.DENY
    unknown = _download(policy, None, remotePath="/var/log/syslog")
    assert unknown.decision == Decision.DENY and any("home folder is not known" in r for r in unknown.reasons)


def test_batch_download_items_without_local_path_are_decided_on_the_default_path(policy: Policy) -> None:
    call = ToolCall("batchDownloadFiles", {"connectionId": "c1", "files": [
        {"remotePath": "/var/log/a", "localPath": "/srv/inbox/a"}, {"remotePath": "/var/log/b"}]})
    assert evaluate(policy, call, upstream_home="/srv/inbox").decision == Decision.ALLOW
    verdict = evaluate(policy, call, upstream_home="/root")
    assert verdict.decision == Decision.DENY
    assert any("/root/Downloads/b" in r and "files[1].localPath" in r for r in verdict.reasons), verdict.reasons


def test_upload_has_no_default_local_path(policy: Policy) -> None:
    verdict = evaluate(policy, ToolCall("uploadFile", {"connectionId": "c1", "remotePath": "/tmp/x"}), upstream_home="/srv/outbox")
    assert verdict.decision == Decision.DENY and any("localPath" in r for r in verdict.reasons)


# -- the upstream's home -------------------------------------------------------------------------


def test_the_upstream_home_is_its_environment_or_its_user() -> None:
    assert process_home({"HOME": "/home/op"}, 0) == "/home/op"
    assert process_home({"HOME": ""}, 0) is None and process_home({"HOME": "rel"}, 0) is None
    assert process_home({}, 0) == "/root"  # the passwd entry of uid 0
    assert upstream_home(["node", "dist/index.js"], False, {"HOME": "/h"}) == "/h"
    assert upstream_home(["sudo", "-u", "op", "node", "x"], False, {"HOME": "/h"}) is None
    assert upstream_home(["/usr/bin/docker", "run", "img"], False, {"HOME": "/h"}) is None
    assert upstream_home(["--known-hosts=k"], True, {"HOME": "/h"}) == "/h"
    assert upstream_home(["--download-dir=/x"], True, {"HOME": "/h"}) is None
