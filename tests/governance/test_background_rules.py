"""Background-task caps and interval rules, through ``sshwall serve`` in front of a stub upstream.

The stub (``echo_upstream.py``) echoes and records the arguments it receives, so the tests see
what was forwarded (an injected default interval) and what never reached the upstream.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.governance.gateway import ECHO_UPSTREAM, Gateways, policy

CAP_DENIAL = (
    "sshwall: denied (rule tools.backgroundExecute.background): "
    "background tasks: at most 1 active for {who} (1 running); stop one first"
)


def _bg(cid: str, **extra: object) -> dict[str, object]:
    return {"connectionId": cid, "command": "uptime", **extra}


def _forwarded(record: Path) -> list[dict[str, object]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


def test_max_active_denies_a_second_task_until_the_first_is_stopped(gateways: Gateways, tmp_path: Path) -> None:
    record = tmp_path / "upstream.jsonl"
    gw = gateways.start(policy("gov-bg-cap.yaml"), upstream=(*ECHO_UPSTREAM, str(record)))

    assert gw.call("backgroundExecute", _bg("c1")).allowed
    second = gw.call("backgroundExecute", _bg("c2"))
    assert second.denied
    assert second.first_line == CAP_DENIAL.format(who="local")
    assert [c["arguments"]["connectionId"] for c in _forwarded(record)] == ["c1"]  # c2 never reached it

    # Mcp Ssh keeps one timer per connection, and a second start orphans one when the first is
    # still starting: a second task on c1 is refused until c1's task is stopped.
    again = gw.call("backgroundExecute", _bg("c1", interval=20000))
    assert again.denied and "orphan timer that no stop reaches" in again.first_line, again.text
    assert gw.call("backgroundExecute", _bg("c2")).first_line == CAP_DENIAL.format(who="local")

    assert gw.call("stopBackground", {"connectionId": "c1"}).allowed
    assert gw.call("backgroundExecute", _bg("c2")).allowed
    assert gw.call("backgroundExecute", _bg("c3")).first_line == CAP_DENIAL.format(who="local")

    assert gw.call("stopAllBackgroundTasks", {}).allowed
    assert gw.call("backgroundExecute", _bg("c3")).allowed
    tools = [(c["tool"], c["arguments"].get("connectionId")) for c in _forwarded(record)]
    assert tools == [
        ("backgroundExecute", "c1"), ("stopBackground", "c1"),
        ("backgroundExecute", "c2"), ("stopAllBackgroundTasks", None), ("backgroundExecute", "c3"),
    ]


def test_max_active_is_per_identity_across_replicas(gateways: Gateways, sqlite_url: str) -> None:
    state = sqlite_url
    alice_1, alice_2, bob = gateways.start_many([
        (policy("gov-bg-cap.yaml"), {"state": state, "identity": who, "upstream": ECHO_UPSTREAM})
        for who in ("alice", "alice", "bob")
    ])

    assert alice_1.call("backgroundExecute", _bg("a1")).allowed
    assert alice_2.call("backgroundExecute", _bg("a2")).first_line == CAP_DENIAL.format(who="alice")
    assert bob.call("backgroundExecute", _bg("b1")).allowed
    assert alice_1.call("stopBackground", {"connectionId": "a1"}).allowed
    assert alice_2.call("backgroundExecute", _bg("a2")).allowed


def test_missing_interval_runs_at_the_upstream_default_and_is_denied_below_the_minimum(
    gateways: Gateways, tmp_path: Path
) -> None:
    record = tmp_path / "upstream.jsonl"
    gw = gateways.start(policy("gov-interval-min.yaml"), upstream=(*ECHO_UPSTREAM, str(record)))

    missing = gw.call("backgroundExecute", _bg("c1"))
    assert missing.denied
    assert missing.first_line == (
        "sshwall: denied (rule tools.backgroundExecute.interval): "
        "interval 10s (none given: the upstream default) is below the minimum 30s"
    )
    assert gw.call("backgroundExecute", _bg("c1", interval=None)).denied  # null is no interval either
    assert gw.call("backgroundExecute", _bg("c1", interval=29999)).denied
    assert _forwarded(record) == []

    assert gw.call("backgroundExecute", _bg("c1", interval=30000)).allowed
    assert [c["arguments"] for c in _forwarded(record)] == [_bg("c1", interval=30000)]


def test_policy_default_interval_is_injected_into_the_forwarded_call(gateways: Gateways, tmp_path: Path) -> None:
    record = tmp_path / "upstream.jsonl"
    gw = gateways.start(policy("gov-interval-default.yaml"), upstream=(*ECHO_UPSTREAM, str(record)))

    missing = gw.call("backgroundExecute", _bg("c1"))
    assert missing.allowed, missing.text
    assert missing.structured == {"tool": "backgroundExecute", "arguments": _bg("c1", interval=60000)}

    explicit = gw.call("backgroundExecute", _bg("c2", interval=45000))
    assert explicit.allowed
    assert explicit.structured["arguments"] == _bg("c2", interval=45000)  # a given interval is left alone

    assert gw.call("backgroundExecute", _bg("c3", interval=10000)).denied  # the minimum still applies
    assert [c["arguments"] for c in _forwarded(record)] == [_bg("c1", interval=60000), _bg("c2", interval=45000)]


def test_a_call_denied_by_the_background_cap_does_not_use_up_a_rate_slot(gateways: Gateways) -> None:
    gw = gateways.start(policy("gov-bg-cap-limited.yaml"), upstream=ECHO_UPSTREAM)
    assert gw.call("backgroundExecute", _bg("c1")).allowed            # allowed call 1 of 2
    assert gw.call("backgroundExecute", _bg("c2")).first_line == CAP_DENIAL.format(who="local")
    assert gw.call("stopBackground", {"connectionId": "c1"}).allowed
    third = gw.call("backgroundExecute", _bg("c2"))                    # allowed call 2 of 2
    assert third.allowed, third.first_line


def test_stop_all_on_one_replica_leaves_other_replicas_tasks_governed(
    gateways: Gateways, sqlite_url: str, tmp_path: Path
) -> None:
    """Two real gateway processes on one registry. That the task's TTL stop then comes from
    bob's gateway alone, at the TTL to the millisecond, is driven on the limit guard's clock in
    ``tests/proxy/test_limitguard_clock.py`` (this file used to wait out the TTL here)."""
    state = sqlite_url
    bob_upstream = tmp_path / "bob-upstream.jsonl"
    # The fixture's 2 s TTL, made long: no reaper may stop b1 while this test looks at it.
    rules = tmp_path / "replica-long-ttl.yaml"
    rules.write_text(policy("gov-replica-ttl.yaml").read_text().replace("ttl: 2s", "ttl: 10m"))
    alice, bob = gateways.start_many([
        (rules, {"state": state, "identity": "alice", "upstream": ECHO_UPSTREAM}),
        (rules, {"state": state, "identity": "bob", "upstream": (*ECHO_UPSTREAM, str(bob_upstream))}),
    ])

    assert bob.call("backgroundExecute", _bg("b1", interval=1000)).allowed
    assert alice.call("stopAllBackgroundTasks", {}).allowed  # stops alice's upstream's tasks (none)

    # b1 still runs on bob's upstream: bob's one-task cap must still count it.
    second = bob.call("backgroundExecute", _bg("b2", interval=1000))
    assert second.first_line == CAP_DENIAL.format(who="bob")
    assert [(c["tool"], c["arguments"].get("connectionId")) for c in _forwarded(bob_upstream)] == [("backgroundExecute", "b1")]
    # Once bob stops it, the cap has room again: the registry followed bob's stop, not alice's.
    assert bob.call("stopBackground", {"connectionId": "b1"}).allowed
    assert bob.call("backgroundExecute", _bg("b2", interval=1000)).allowed
