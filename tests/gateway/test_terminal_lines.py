"""Terminal keystrokes are judged as the line the shell will run, across calls on a session."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

from sshwall.policy import load_policy
from sshwall.proxy.bindings import Binding
from sshwall.proxy.firewall import Caller, Firewall


def _firewall(tmp_path: Path, sent: list[str]) -> Firewall:
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent("""
        version: 1
        tools:
          mcp_ssh_mcp_writeToTerminal: {terminal: {commands: t, allow_control: [backspace, ctrl-c]}}
        commands:
          t: {programs: {cat: {operands: read}, ls: {}}, protected_paths: [/etc/shadow]}
    """))

    async def forward(method: str, params: Any, *, client_id: Any = None) -> Any:
        sent.append(params["arguments"]["data"])
        return {"content": [{"type": "text", "text": "ok"}]}

    fw = Firewall(load_policy(path), forward)
    # Sessions opened on a key-only connection (no password the upstream could type in).
    fw.targets.bindings.bind(Binding("c1", "h", 22, "u", None))
    for session in ("s1", "a", "b"):
        fw.targets.bindings.bind_session(session, "c1")
    return fw


def _type(fw: Firewall, session: str, data: str) -> bool:
    params = {"name": "mcp_ssh_mcp_writeToTerminal", "arguments": {"sessionId": session, "data": data}}
    result = asyncio.run(fw.call_tool(params, Caller()))
    return not result.get("isError")


def test_a_line_split_across_calls_is_judged_whole(tmp_path: Path) -> None:
    sent: list[str] = []
    fw = _firewall(tmp_path, sent)
    assert _type(fw, "s1", "cat /etc/sha")
    assert not _type(fw, "s1", "dow\n")
    assert sent == ["cat /etc/sha"]  # the completing keystrokes never reached the terminal


def test_backspace_edits_what_an_earlier_call_typed(tmp_path: Path) -> None:
    fw = _firewall(tmp_path, [])
    assert _type(fw, "s1", "cat /etc/passwd")
    assert not _type(fw, "s1", "\x7f" * 6 + "shadow\n")
    assert _type(fw, "s1", "\x03ls\n")  # ctrl-c drops the pending line


def test_sessions_keep_their_own_lines(tmp_path: Path) -> None:
    fw = _firewall(tmp_path, [])
    assert _type(fw, "a", "cat /etc/sha")
    assert _type(fw, "b", "ls\n")
    assert not _type(fw, "a", "dow\n")
