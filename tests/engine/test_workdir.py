"""Relative paths, ``~`` and ``$HOME`` under a known working folder and home (the shipped policy)."""

from __future__ import annotations

from typing import Any

import pytest

from sshwall.engine import Decision, ToolCall, Verdict, evaluate
from sshwall.engine.workdir import Workdir
from sshwall.policy import Policy, default_policy_path, load_policy


@pytest.fixture(scope="module")
def shipped() -> Policy:
    return load_policy(default_policy_path())


def run(policy: Policy, command: str, workdir: Workdir | None, **extra: Any) -> Verdict:
    call = ToolCall("executeCommand", {"connectionId": "c1", "command": command, **extra})
    return evaluate(policy, call, workdir=workdir)


ROOT = Workdir("/root", "/root")


@pytest.mark.parametrize(
    ("command", "cwd", "expected"),
    [
        ("cat shadow", "/etc", Decision.DENY),
        ("cat syslog", "/var/log", Decision.ALLOW),
        ("cat passwd", "/etc", Decision.ALLOW),
        ("cat sshd_config", "/etc/ssh", Decision.ALLOW),
        ("cat id_rsa", "/root/.ssh", Decision.DENY),
        ("cat ./shadow", "/etc", Decision.DENY),
        ("head -n 5 ../shadow", "/etc/ssh", Decision.DENY),  # `..` may climb anywhere
        ("cat ../passwd", "/etc/ssh", Decision.DENY),  # ... so it is read strictly
        ("wc -l < shadow", "/etc", Decision.DENY),  # an input redirect is a read too
        ("wc -l < syslog", "/var/log", Decision.ALLOW),
        ("grep -r error", "/var/log", Decision.ALLOW),  # the implied `.` is the folder
        ("grep -r key", "/root/.ssh", Decision.DENY),
        ("ls -la", "/root/.ssh", Decision.ALLOW),  # metadata only
    ],
)
def test_relative_path_is_decided_like_the_absolute_one(shipped: Policy, command: str, cwd: str, expected: Decision) -> None:
    verdict = run(shipped, command, Workdir(cwd, "/root"))
    assert verdict.decision == expected, verdict.reasons


@pytest.mark.parametrize("command", ["cat syslog", "cat passwd", "grep -r error", "cat sshd_config"])
def test_unknown_folder_stays_strict(shipped: Policy, command: str) -> None:
    for workdir in (None, Workdir()):
        verdict = run(shipped, command, workdir)
        assert verdict.decision == Decision.DENY, command
        assert "protected path" in " ".join(verdict.reasons)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("cd /etc/ssh && cat sshd_config", Decision.ALLOW),
        ("cd /root/.ssh && cat id_rsa", Decision.DENY),
        ("cd /etc && cat shadow", Decision.DENY),
        ("cd /var/log && cat syslog && cd /etc && cat passwd", Decision.ALLOW),
        ("cd /var/log && cat syslog && cd /etc && cat shadow", Decision.DENY),
        # `;`: where cd fails the next command reads from the folder before it
        ("cd /var/log; cat syslog", Decision.ALLOW),
        ("cd /var/log; cat .ssh/id_rsa", Decision.DENY),
        # a subshell's cd ends with it: `cat shadow` reads /root/shadow
        ("(cd /etc && cat passwd); cat shadow", Decision.ALLOW),
        ("(cd /etc && cat passwd) && cat shadow", Decision.ALLOW),
        ("(cd /etc) ; cat shadow", Decision.ALLOW),
        ("cd /etc | cat shadow", Decision.ALLOW),
        ("cd /etc ; cat shadow", Decision.DENY),
        # folders sshwall cannot follow: strict again
        ('cd "$D" && cat syslog', Decision.DENY),
        ("cd - && cat syslog", Decision.DENY),
        ("cd /etc && cd - && cat syslog", Decision.DENY),
        ("env -C /var/log cat syslog", Decision.DENY),
        ("cd .. && cat passwd", Decision.DENY),
        # cd alone goes home
        ("cd /etc && cd && cat .bashrc", Decision.ALLOW),
        ("cd /etc && cd && cat .ssh/id_rsa", Decision.DENY),
        ("cd ~/.ssh && cat id_rsa", Decision.DENY),
    ],
)
def test_cd_inside_the_command(shipped: Policy, command: str, expected: Decision) -> None:
    verdict = run(shipped, command, ROOT)
    assert verdict.decision == expected, verdict.reasons


def test_redirect_of_a_group_is_read_where_the_group_starts(shipped: Policy) -> None:
    # `< shadow` is opened in the starting folder, before the group's cd runs.
    assert run(shipped, "{ cd /var/log && cat syslog; } < shadow", Workdir("/etc", "/root")).decision == Decision.DENY
    assert run(shipped, "{ cd /etc && cat passwd; } < shadow", Workdir("/tmp", "/root")).decision == Decision.ALLOW


def test_sh_c_starts_where_its_shell_is_and_outer_redirects_stay_there(tmp_path: Any) -> None:
    policy = _policy_protecting(tmp_path, "/etc/shadow", programs="sh: {wrapper: true}")
    cases = [
        ("sh -c 'cd /tmp && cat x' < shadow", "/etc", Decision.DENY),
        ("sh -c 'cd /etc && cat passwd' < shadow", "/tmp", Decision.ALLOW),
        ("sh -c 'cd /etc && cat shadow'", "/tmp", Decision.DENY),
        ("cd /etc && sh -c 'cat shadow'", "/tmp", Decision.DENY),
        ("sh -c 'cd /etc'; cat shadow", "/tmp", Decision.ALLOW),
    ]
    for command, cwd, expected in cases:
        verdict = run(policy, command, Workdir(cwd, "/root"))
        assert verdict.decision == expected, (command, verdict.reasons)
        if expected == Decision.DENY:
            assert "protected path" in " ".join(verdict.reasons), verdict.reasons


@pytest.mark.parametrize(
    ("command", "home", "expected"),
    [
        ("cat ~/.bashrc", "/root", Decision.ALLOW),
        ("cat ~/.ssh/id_rsa", "/root", Decision.DENY),
        ("cat ~/.ssh/id_rsa.pub", "/root", Decision.ALLOW),
        ("cat ~/notes.txt", "/home/alice", Decision.ALLOW),
        ("cat ~/notes.txt", None, Decision.DENY),  # any home: it may be /etc/sudoers.d
        ("cat ~other/.ssh/id_rsa", "/root", Decision.DENY),  # another user's home: any home
    ],
)
def test_tilde_resolves_to_the_home(shipped: Policy, command: str, home: str | None, expected: Decision) -> None:
    assert run(shipped, command, Workdir("/tmp", home)).decision == expected


def test_tilde_is_the_home_not_any_home(tmp_path: Any) -> None:
    # A site rule on one home: with the home known, another home's file is not it.
    policy = _policy_protecting(tmp_path, "/home/alice/secret.txt")
    assert run(policy, "cat ~/secret.txt", None).decision == Decision.DENY
    assert run(policy, "cat ~/secret.txt", Workdir(None, "/home/bob")).decision == Decision.ALLOW
    assert run(policy, "cat ~/secret.txt", Workdir(None, "/home/alice")).decision == Decision.DENY


def test_home_variable_resolves_to_the_home(tmp_path: Any) -> None:
    policy = _policy_protecting(tmp_path, "/home/alice/secret.txt", parameters="allow")
    assert run(policy, "cat $HOME/secret.txt", None).decision == Decision.DENY  # unknown value
    assert run(policy, 'cat "$HOME/secret.txt"', Workdir(None, "/home/bob")).decision == Decision.ALLOW
    assert run(policy, "cat ${HOME}/secret.txt", Workdir(None, "/home/alice")).decision == Decision.DENY
    assert run(policy, "cd $HOME && cat secret.txt", Workdir("/", "/home/alice")).decision == Decision.DENY
    assert run(policy, "cd $HOME && cat secret.txt", Workdir("/", "/home/bob")).decision == Decision.ALLOW
    # HOME reassigned or unset somewhere in the command: nothing is taken as known
    for command in ("HOME=/home/alice; cat $HOME/secret.txt", "unset HOME; cat $HOME/home/alice/secret.txt",
                    "for HOME in /home/alice; do true; done; cat ~/secret.txt"):
        assert run(policy, command, Workdir("/", "/home/bob")).decision == Decision.DENY, command


def test_tilde_after_equals_is_not_read_under_a_known_folder(tmp_path: Any) -> None:
    # bash expands `~` after `if=` (an assignment-like word): `dd if=~/secret.txt` reads the home.
    policy = _policy_protecting(tmp_path, "/home/alice/secret.txt", programs="dd: {values: {if: {kind: read}}}")
    for command in ("cat '~/secret.txt'", "cat 'a:~/secret.txt'"):
        for workdir in (None, Workdir("/tmp", "/home/bob")):
            assert run(policy, command, workdir).decision == Decision.DENY, (command, workdir)
    assert run(policy, "cat 'a~b/secret.txt'", Workdir("/tmp", "/home/bob")).decision == Decision.DENY


def test_cwd_argument_and_the_connection_folder(shipped: Policy) -> None:
    # Mcp Ssh runs `cd CWD >/dev/null 2>&1; COMMAND`: where CWD is missing, the connection's folder.
    assert run(shipped, "cat syslog", Workdir("/var/log", "/root"), cwd="/var/log").decision == Decision.ALLOW
    assert run(shipped, "cat syslog", Workdir("/root", "/root"), cwd="/var/log").decision == Decision.ALLOW
    assert run(shipped, "cat shadow", Workdir("/root", "/root"), cwd="/etc").decision == Decision.DENY
    assert run(shipped, "cat shadow", Workdir("/etc", "/root"), cwd="/tmp").decision == Decision.DENY  # the fallback
    assert run(shipped, "cat syslog", None, cwd="/var/log").decision == Decision.DENY  # fallback unknown
    assert run(shipped, "cat syslog", Workdir("/var/log", "/root"), cwd="log").decision == Decision.DENY  # relative cwd
    assert run(shipped, "cat syslog", Workdir("/var/log", "/root"), cwd="").decision == Decision.ALLOW  # '' is none


def test_denial_names_the_path_as_written(shipped: Policy) -> None:
    verdict = run(shipped, "cd /etc && cat shadow", ROOT)
    assert any("`shadow`" in r and "protected path" in r for r in verdict.reasons), verdict.reasons


def _policy_protecting(tmp_path: Any, path: str, parameters: str = "deny", programs: str = "") -> Policy:
    extra = f"\n      {programs}" if programs else ""
    text = f"""
version: 1
profile: mcp-ssh
default: deny
tools:
  executeCommand: {{commands: c}}
commands:
  c:
    operators: [pipe, and, or, sequence]
    constructs: [subshell, group, for]
    redirects: [read, devnull]
    parameters: {parameters}
    assignments: [HOME]
    protected_paths: ["{path}"]
    programs:
      cat: {{operands: read}}
      cd: {{operands: metadata, max_operands: 1}}
      unset: {{}}
      "true": {{}}{extra}
"""
    file = tmp_path / "p.yaml"
    file.write_text(text)
    return load_policy(file)
