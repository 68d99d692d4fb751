"""``Firewall.preview`` (what ``sshwall check`` decides by) runs the very pure stage objects of
the full pipeline, which is built only with the first call that needs it."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sshwall.engine import Decision
from sshwall.policy import load_policy
from sshwall.proxy.bindings import Binding
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.proxy.stages import PureStage, build

POLICY = """
    version: 1
    tools:
      mcp_ssh_mcp_writeToTerminal: {terminal: {commands: t, allow_control: [backspace]}}
    commands:
      t: {programs: {cat: {operands: read}, ls: {}}, protected_paths: [/etc/shadow]}
"""


def _firewall(tmp_path: Path) -> Firewall:
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(POLICY))

    async def forward(method: str, params: Any, *, client_id: Any = None) -> Any:
        return {"content": [{"type": "text", "text": "ok"}]}

    fw = Firewall(load_policy(path), forward)
    fw.targets.bindings.bind(Binding("c1", "h", 22, "u", None))
    fw.targets.bindings.bind_session("s1", "c1")
    return fw


def test_the_pipeline_holds_the_pure_stages_preview_runs(tmp_path: Path) -> None:
    fw = _firewall(tmp_path)
    assert "pipeline" not in vars(fw)  # not built until a call needs it
    pure = [s for s in fw.pipeline.stages if isinstance(s, PureStage)]
    assert len(pure) == len(fw.pure) and all(a is b for a, b in zip(pure, fw.pure, strict=True))


def test_preview_sees_the_line_call_tool_left(tmp_path: Path) -> None:
    fw = _firewall(tmp_path)
    def keys(data: str) -> dict[str, Any]:
        return {"name": "mcp_ssh_mcp_writeToTerminal", "arguments": {"sessionId": "s1", "data": data}}

    assert fw.preview(keys("w\n"), Caller()).decision == Decision.DENY  # alone: the program w
    assert not asyncio.run(fw.call_tool(keys("cat /etc/sha"), Caller())).get("isError")
    assert fw.preview(keys("w\n"), Caller()).decision == Decision.ALLOW  # now: cat /etc/shaw
    assert fw.preview(keys("dow\n"), Caller()).decision == Decision.DENY  # cat /etc/shadow


def test_build_stages_refuses_a_pure_stage_preview_would_not_run(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fw = _firewall(tmp_path)

    class PureConnect(PureStage):  # a pure stage placed in the list but not in PureStages
        def __init__(self, targets: object) -> None:
            pass

    monkeypatch.setattr(build, "ConnectCheck", PureConnect)
    with pytest.raises(ValueError, match="pipeline order"):
        build.build_stages(fw.policy, fw._send, fw.recorder, fw.targets, fw.identities, None)
