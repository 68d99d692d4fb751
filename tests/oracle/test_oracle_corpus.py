"""Every command the corpus, the shipped policy's examples and the suite's benign list allow, run for real.

What a command may do is what sshwall claims about it: the programs its analysis lists, and what
the shipped specs of those programs declare beyond reading (tar -z runs gzip, top keeps
~/.config/procps, ping reaches its target: ``runs``, ``state_writes``, ``network``). Anything
else is a violation, and the expected result is zero: where an allowed command really does harm,
the policy or the analysis must change, not the oracle.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sshwall.engine import Decision
from sshwall.oracle import Oracle, Run
from sshwall.oracle.report import SLOW_LIMIT, expectation
from sshwall.policy import load_policy
from tests.oracle.oracle_support import REPO, corpus_allowed, oracle_or_skip

POLICY = REPO / "rules" / "readonly-ops.yaml"


def _policy_allowed(path: Path) -> list[str]:
    out = []
    for ex in load_policy(path).examples:
        command = ex.arguments.get("command")
        if ex.expect == Decision.ALLOW and ex.tool in ("executeCommand", "backgroundExecute") and isinstance(command, str):
            out.append(command)
    return out


def _suite_benign() -> list[str]:
    """The benign variants of tests/test_readonly_policy.py (another module's list: read, not owned)."""
    try:
        from tests.test_readonly_policy import ALLOW
    except Exception:  # noqa: BLE001 - that module failing to import is its own test's failure, not this one's
        return []
    return list(ALLOW)


SHIPPED = load_policy(POLICY)
CASES: list[str] = list(dict.fromkeys(corpus_allowed() + _policy_allowed(POLICY) + _suite_benign()))

_TALLY: dict[str, int] = {"run": 0, "violations": 0, "violating": 0}


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    yield from oracle_or_skip(timeout=8.0)


def _describe(run: Run) -> str:
    lines = [f"  {v.kind}: {v.detail}" for v in run.violations]
    return f"{run.command!r} (exit {run.exit_code}):\n" + "\n".join(lines) + f"\n  stderr: {run.stderr[:300]!r}"


@pytest.mark.parametrize("command", CASES)
def test_allowed_command_is_harmless(oracle: Oracle, command: str) -> None:
    # What the command may do is what sshwall claims: the analysis' programs and what the
    # shipped specs declare (helpers they run, files they maintain, who may connect anywhere).
    expect = expectation(command, SHIPPED)
    run = oracle.run(command, expect=expect)
    if run.timed_out and {v.kind for v in run.violations} == {"timeout"}:
        run = oracle.run(command, expect=expect, timeout=SLOW_LIMIT)  # slow (find /), or endless?
    _TALLY["run"] += 1
    _TALLY["violations"] += len(run.violations)
    _TALLY["violating"] += bool(run.violations)
    assert run.violations == (), _describe(run)


def test_zz_corpus_summary(oracle_report: list[str]) -> None:
    """Prints the counts (runs after every parametrized case of this module)."""
    oracle_report.append(
        f"oracle: {_TALLY['run']} run, {_TALLY['violations']} violations "
        f"in {_TALLY['violating']} commands of {len(CASES)} allowed cases"
    )
    assert CASES, "no corpus found: set SSHWALL_CORPUS"
