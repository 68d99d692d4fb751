"""rules/example-hosts.yaml loads, passes its own examples, and its host groups mean what it says."""

from __future__ import annotations

from pathlib import Path

from sshwall.engine import Decision, ToolCall, evaluate, load_checked
from sshwall.targets.match import Target, match_target
from sshwall.targets.pins import key_check_needed
from tests.targets.conftest import resolver

EXAMPLE = Path(__file__).resolve().parents[2] / "rules" / "example-hosts.yaml"
DNS = resolver({
    "db1.prod.example.com": ("10.20.1.5",),
    "cache.prod.example.com": ("192.0.2.66",),
    "api.staging.example.com": ("10.30.4.4", "fd00:30::4"),
    "localhost": ("127.0.0.1", "::1"),
})


def test_example_policy_host_groups() -> None:
    policy = load_checked(EXAMPLE)
    assert list(policy.hosts) == ["prod", "staging", "lab"]
    assert match_target(policy, Target("db1.prod.example.com", 22, "deploy"), DNS).problem is None
    assert "user root" in (match_target(policy, Target("db1.prod.example.com", 22, "root"), DNS).problem or "")
    assert "which no group allows" in (match_target(policy, Target("cache.prod.example.com", 22, "deploy"), DNS).problem or "")
    assert match_target(policy, Target("api.staging.example.com", 2222, "ops"), DNS).problem is None
    assert match_target(policy, Target("localhost", 22, "anyone"), DNS).group == "lab"
    assert "no host group" in (match_target(policy, Target("db.evil.example", 22, "deploy"), DNS).problem or "")
    assert all(key_check_needed(policy, g) for g in policy.hosts)


def test_example_canaries_are_allowed_by_the_policy() -> None:
    policy = load_checked(EXAMPLE)
    for group in policy.hosts.values():
        assert group.canary is not None
        call = ToolCall("executeCommand", {"connectionId": "verify", "command": group.canary})
        assert evaluate(policy, call, command_set=group.commands).decision == Decision.ALLOW, group.canary
