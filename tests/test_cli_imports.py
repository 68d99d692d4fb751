"""Each subcommand imports only what it needs: ``sshwall check`` and ``sshwall test`` load no
MCP SDK, HTTP stack, paramiko or redis, and not the gateway's transports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("mcp", "httpx", "httpcore", "anyio", "uvicorn", "starlette", "paramiko", "cryptography", "redis", "sqlite3",
         "prometheus_client", "opentelemetry")
GATEWAY = ("sshwall.proxy.gateway", "sshwall.proxy.sdk", "sshwall.proxy.relay", "sshwall.proxy.upstream",
           "sshwall.backend", "sshwall.oracle", "sshwall.cli.serve")
# What only the stateful stages need: the event loop (and ssl under it), the audit log, the rate
# caps and task registry. ``check`` decides by ``Firewall.preview``, the pure stages only.
STATEFUL = ("asyncio", "ssl", "concurrent", "sshwall.audit", "sshwall.limits", "sshwall.proxy.limitguard",
            "sshwall.proxy.stages.audit", "sshwall.proxy.stages.limits", "sshwall.proxy.stages.build")

PROBE = """
import io, json, sys
from sshwall.cli import main
code = main(sys.argv[1:], out=io.StringIO())
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded(*argv: str) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout.splitlines()[-1])
    return body["code"], set(body["modules"])


@pytest.mark.parametrize("argv", [["check", "--", "uptime"], ["test"]])
def test_check_and_test_stay_light(argv: list[str]) -> None:
    code, modules = loaded(*argv)
    assert code == 0
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    gateway = sorted(m for m in modules if any(m == g or m.startswith(g + ".") for g in GATEWAY))
    assert heavy == [] and gateway == [], (heavy, gateway)
    assert "sshwall.proxy.firewall" in modules  # decided by the gateway's own stage


@pytest.mark.parametrize("argv", [["check", "--", "uptime"], ["test"]])
def test_check_and_test_load_no_stateful_stage(argv: list[str]) -> None:
    code, modules = loaded(*argv)
    assert code == 0
    stateful = sorted(m for m in modules if any(m == s or m.startswith(s + ".") for s in STATEFUL))
    assert stateful == [], stateful


def test_help_imports_no_subcommand() -> None:
    code, modules = loaded("--help")
    assert code == 0
    assert not [m for m in modules if m.startswith(("sshwall.engine", "sshwall.proxy", "sshwall.policy"))]
