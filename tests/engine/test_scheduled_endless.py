"""Commands that never end: a command set may accept them, scheduled work never does."""

from __future__ import annotations

import pytest

from sshwall.analysis import analyse
from sshwall.engine import Decision, ToolCall, evaluate
from sshwall.engine.commands import SCHEDULED_ENDLESS, check_commands
from sshwall.policy import CommandSet, ProgramSpec, load_policy

PROGRAMS = {
    "tail": ProgramSpec(operands="read", flags=("-f", "-n="), endless={"flags": ("-f",)}),
    "ping": ProgramSpec(flags=("-c=",), max_operands=1, endless={"unless": ("-c",)}),
    "cat": ProgramSpec(operands="read"),
}


def _worst(cs: CommandSet, cmd: str, scheduled: bool) -> tuple[Decision, list[str]]:
    hits = check_commands("c", cs, analyse(cmd), None, scheduled=scheduled)
    return max((h.decision for h in hits), key=lambda d: d.severity), [h.reason for h in hits if h.decision != Decision.ALLOW]


@pytest.mark.parametrize("cmd", ["tail -f /var/log/syslog", "ping 10.0.0.1", "cat /dev/zero", "cat < /dev/zero"])
def test_endless_commands(cmd: str) -> None:
    strict = CommandSet(programs=PROGRAMS, endless_paths=("/dev/zero",), redirects=("read",))
    lenient = strict.model_copy(update={"endless": "allow"})
    assert _worst(strict, cmd, scheduled=False)[0] == Decision.DENY
    assert _worst(lenient, cmd, scheduled=False)[0] == Decision.ALLOW
    for cs in (strict, lenient):
        decision, reasons = _worst(cs, cmd, scheduled=True)
        assert decision == Decision.DENY
        assert any(SCHEDULED_ENDLESS in r for r in reasons), reasons


@pytest.mark.parametrize("cmd", ["tail -n 5 /var/log/syslog", "ping -c 3 10.0.0.1", "cat /etc/hostname"])
def test_commands_that_end_are_not_affected(cmd: str) -> None:
    cs = CommandSet(programs=PROGRAMS, endless_paths=("/dev/zero",))
    assert _worst(cs, cmd, scheduled=True)[0] == Decision.ALLOW


def test_shipped_policy_names_scheduled_work_in_the_reason() -> None:
    policy = load_policy("rules/readonly-ops.yaml")
    call = ToolCall("backgroundExecute", {"connectionId": "c", "command": "journalctl -f", "interval": 60000})
    verdict = evaluate(policy, call)
    assert verdict.decision == Decision.DENY
    assert any(SCHEDULED_ENDLESS in r for r in verdict.reasons), verdict.reasons
    once = evaluate(policy, ToolCall("executeCommand", {"connectionId": "c", "command": "journalctl -f"}))
    assert once.decision == Decision.DENY and not any(SCHEDULED_ENDLESS in r for r in once.reasons)
