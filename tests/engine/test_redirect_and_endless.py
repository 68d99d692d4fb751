"""Paths behind redirects and inputs that never end, decided through a whole command set."""

from __future__ import annotations

import pytest

from sshwall.analysis import analyse
from sshwall.engine.commands import check_commands
from sshwall.policy import CommandSet, Decision, ProgramSpec

CS = CommandSet(
    redirects=("read", "write", "devnull"),
    protected_paths=("/etc/shadow",),
    writable_paths=("/tmp/scratch/*",),
    endless_paths=("/dev/zero", "/dev/urandom", "/proc/kmsg"),
    programs={
        "cat": ProgramSpec(operands="read", flags=("-n",)),
        "head": ProgramSpec(operands="read", flags=("-c=", "-n="), bounded_by=("-c",)),
        "echo": ProgramSpec(flags=("-n", "-e", "-E"), unknown_flags="operand"),
        "lsof": ProgramSpec(flags=("-n", "+D=metadata", "+L[=]"), operands="metadata"),
        "tree": ProgramSpec(flags=("-a", "-P=", "-o=write", "-L="), deny_flags=("-o=write",),
                            cluster_values="next", operands="metadata"),
        "free": ProgramSpec(flags=("-m", "-s=", "-c="), endless={"flags_unless": {"-s": ("-c",)}}),
        "docker": ProgramSpec(family="pflag", subcommands={"stats": ProgramSpec(
            flags=("--no-stream",), endless={"unless": ("--no-stream",)})}),
    },
)


def decide(cmd: str) -> tuple[Decision, list[str]]:
    hits = check_commands("c", CS, analyse(cmd), None)
    worst = max((h.decision for h in hits), key=lambda d: d.severity)
    return worst, [h.reason for h in hits if h.decision != Decision.ALLOW]


@pytest.mark.parametrize(
    ("cmd", "decision"),
    [
        ("cat < /etc/shadow", Decision.DENY),
        ("cat < /etc/hosts", Decision.ALLOW),
        ("cat /etc/hosts > /etc/passwd", Decision.DENY),
        ("cat /etc/hosts > /tmp/scratch/out", Decision.ALLOW),
        ("cat /dev/zero", Decision.DENY),
        ("cat /dev/./zero", Decision.DENY),
        ("cat < /dev/urandom", Decision.DENY),
        ("head -c 16 /dev/urandom", Decision.ALLOW),
        ("head -n 1 /dev/zero", Decision.DENY),
        ("echo '--- disk ---'", Decision.ALLOW),
        ("echo -n ok", Decision.ALLOW),
        ("echo -x", Decision.ALLOW),
        ("lsof +D /var/log", Decision.ALLOW),
        ("lsof +L1", Decision.ALLOW),
        ("lsof +X", Decision.DENY),
        ("tree -aP x /srv", Decision.ALLOW),
        ("tree -Po x /tmp/y", Decision.DENY),
        ("free -m -s 1 -c 3", Decision.ALLOW),
        ("free -s 1", Decision.DENY),
        ("docker stats --no-stream", Decision.ALLOW),
        ("docker stats --no-stream=true", Decision.ALLOW),
        ("docker stats --no-stream=false", Decision.DENY),
        ("docker stats", Decision.DENY),
    ],
)
def test_decisions(cmd: str, decision: Decision) -> None:
    assert decide(cmd)[0] == decision, decide(cmd)[1]


def test_reasons_name_the_mechanism() -> None:
    assert decide("cat /dev/zero")[1] == ["`cat`: operand `/dev/zero` reads `/dev/zero`, which never ends"]
    assert "writes outside the writable paths" in decide("cat /etc/hosts > /etc/passwd")[1][0]
    assert decide("free -s 1")[1] == ["`free`: flag `-s` makes `free` run until killed without `-c`"]
    assert decide("tree -Po x /tmp/y")[1] == ["`tree`: flag `-o` is not allowed"]
