"""``SSHWALL_TEST_UPSTREAM`` really switches the end-to-end tests to another upstream.

Tests of test_gateway_eras.py (one transport and era of them) are run in a child pytest
with ``SSHWALL_TEST_UPSTREAM`` set to a command line: a shell wrapper that notes each start in a
file and then runs the built-in backend. The child passes, and the note shows that the gateway
ran that command (given after ``--``), not its own built-in backend.

To run the suite against Mcp Ssh itself:
``SSHWALL_TEST_UPSTREAM="node /opt/mcp-ssh/dist/index.js" pytest tests/proxy``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.proxy.gateway import UPSTREAM_ENV, gateway_env, upstream_args
from tests.support.sshd import REPO_ROOT, SshdServer

# Items 1, 2 and 4 of the end-to-end suite (one transport and era, to keep it quick): tools/list,
# denied commands never run, nothing scheduled by a denied backgroundExecute, secrets, the chain.
CHILD_TESTS = "stdio-legacy and (handshake or denied or interval or audit_log or chain)"


def test_the_switch_puts_the_given_command_after_double_dash(
    sshd: SshdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(UPSTREAM_ENV, "node /opt/mcp-ssh/dist/index.js --flag 'two words'")
    assert upstream_args(sshd, tmp_path) == ["--", "node", "/opt/mcp-ssh/dist/index.js", "--flag", "two words"]
    monkeypatch.setenv(UPSTREAM_ENV, "  ")
    assert upstream_args(sshd, tmp_path)[0] == f"--backend-arg=--known-hosts={sshd.known_hosts_path}"
    monkeypatch.delenv(UPSTREAM_ENV)
    assert "--" not in upstream_args(sshd, tmp_path)


def test_the_eras_module_passes_against_an_upstream_given_by_the_env_var(tmp_path: Path) -> None:
    starts = tmp_path / "upstream-starts"
    backend = shlex.join([sys.executable, "-m", "sshwall.backend", "--insecure-accept-any-host-key",
                          "--download-dir", str(tmp_path / "downloads")])
    # The child session starts its own sshd, whose host key nobody knows in advance: like Mcp
    # Ssh, this upstream accepts the host key it is shown.
    wrapper = shlex.join(["sh", "-c", f'echo "started $$" >> {shlex.quote(str(starts))}; exec {backend}'])
    env = gateway_env() | {UPSTREAM_ENV: wrapper}
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", CHILD_TESTS,
         "tests/proxy/test_gateway_eras.py"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-2000:]
    summary = child.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) == 5 and "skipped" not in summary, summary
    assert starts.exists() and starts.read_text().startswith("started "), "the gateway did not run the given upstream"
