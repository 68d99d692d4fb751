"""tools/list through the gateway lists fewer tools under a policy that hides (``hide``,
``hide_denied_tools: true``), and a hidden tool is still denied when called. (All 23 under the
shipped policy, given with ``--rules`` or embedded: test_gateway_eras.py.)

Both code paths that filter the list are driven: the legacy stdio relay and the SDK frontend
(2026-07-28 clients on stdio, and streamable HTTP).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.proxy.gateway import MCP_SSH_TOOLS, POLICIES, GatewayClient, serve_argv, start_gateway


@contextmanager
def _gateway(label: str, rules: Path | None, gateway_dir: Path, upstream: list[str]) -> Iterator[GatewayClient]:
    transport, era = label.split("-")
    name = rules.stem if rules else "default"
    audit = gateway_dir / f"audit-{name}-{label}.jsonl"
    with start_gateway(transport, era, serve_argv(rules, audit, upstream), audit,
                       gateway_dir / f"serve-{name}-{label}.log") as client:
        yield client


def _names(gw: GatewayClient) -> set[str]:
    names = [tool.name for tool in gw.list_tools()]
    assert len(names) == len(set(names)), names
    return set(names)


@pytest.mark.parametrize("label", ["stdio-legacy", "stdio-modern"])
def test_hide_denied_tools_lists_only_what_may_run(label: str, gateway_dir: Path, upstream: list[str]) -> None:
    with _gateway(label, POLICIES / "e2e-hide.yaml", gateway_dir, upstream) as gw:
        assert _names(gw) == {"connect", "listConnections", "getConnection", "executeCommand", "listBackgroundTasks"}
        for tool, args in [("listTunnels", {}), ("createTunnel", {"connectionId": "c1", "localPort": 1,
                                                                  "remoteHost": "h", "remotePort": 2}),
                           ("listFileTransfers", {})]:
            gw.denied(tool, args)  # hidden is not callable
        assert not gw.call("listBackgroundTasks").denied


def test_hide_alone_removes_only_the_hidden_tools(gateway_dir: Path, upstream: list[str]) -> None:
    with _gateway("http-modern", POLICIES / "e2e-hide-only.yaml", gateway_dir, upstream) as gw:
        hidden = {"mcp_ssh_mcp_createTerminalSession", "mcp_ssh_mcp_writeToTerminal"}
        assert _names(gw) == MCP_SSH_TOOLS - hidden
        gw.denied("mcp_ssh_mcp_createTerminalSession", {"connectionId": "c1"})
        reply = gw.denied("createTunnel", {"connectionId": "c1", "localPort": 1, "remoteHost": "h", "remotePort": 2})
        assert "no tunnels here" in reply.first_line  # listed, denied, and the agent reads why
