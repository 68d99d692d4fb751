"""PolicyLayer's example policy.json, loaded as is by ``sshwall serve``, governs real calls."""

from __future__ import annotations

import json
import re

from tests.governance.gateway import Gateways, policy

EXAMPLE = {
    "version": "1",
    "default": "deny",
    "tools": {"backgroundExecute": {"limits": [{"counter": "calls", "window": "minute", "max": 10, "scope": "grant"}]}},
}
CAP = re.compile(
    r"^sshwall: denied \(rule limits\.calls\): rate limit calls\|grant=(?P<who>[\w-]+): "
    r"at most 10 calls per 1m; retry after (?P<retry>\d+) s$"
)
BG = {"connectionId": "c1", "command": "uptime"}


def bg(n: int) -> dict[str, object]:
    """A backgroundExecute on its own connection: Mcp Ssh keeps one task per connection, so
    sshwall denies a second start on one (an orphan timer); these tests count the rate alone."""
    return {**BG, "connectionId": f"c{n}"}


def test_the_fixture_is_policylayers_example_verbatim() -> None:
    assert json.loads(policy("gov-policylayer.json").read_text()) == EXAMPLE


def test_eleventh_background_execute_in_a_minute_is_denied_and_other_tools_always(gateways: Gateways) -> None:
    gw = gateways.start(policy("gov-policylayer.json"))
    # Denied tools first: they must not use up backgroundExecute's counter.
    for tool, arguments in [
        ("executeCommand", {"connectionId": "c1", "command": "uptime"}),
        ("listConnections", {}),
        ("stopBackground", {"connectionId": "c1"}),
        ("connect", {"host": "127.0.0.1", "username": "root"}),
    ]:
        result = gw.call(tool, arguments)
        assert result.denied, (tool, result.raw)
        assert result.first_line == (
            f"sshwall: denied (rule default): tool `{tool}` is not listed in policy policylayer, whose default denies it"
        )

    for n in range(1, 11):
        result = gw.call("backgroundExecute", bg(n))
        assert result.allowed, (n, result.raw)
        assert result.text == "ok"  # the trivial upstream's answer, passed on unchanged

    eleventh = gw.call("backgroundExecute", bg(11))
    assert eleventh.denied, eleventh.raw
    match = CAP.match(eleventh.first_line)
    assert match, eleventh.first_line
    assert match["who"] == "local"
    assert 1 <= int(match["retry"]) <= 60
    assert eleventh.structured["sshwall"]["decision"] == "deny"
    assert eleventh.structured["sshwall"]["rules"] == ["limits.calls"]

    # Still capped, and the other tools still denied, after the cap is reached.
    assert CAP.match(gw.call("backgroundExecute", {**bg(12), "interval": 60000}).first_line)
    assert gw.call("executeCommand", {"connectionId": "c1", "command": "uptime"}).denied


def test_scope_grant_counts_per_identity_across_replicas(gateways: Gateways, sqlite_url: str) -> None:
    """Two replicas of one identity share its 10; another identity has its own 10."""
    state = sqlite_url
    alice_1, alice_2, bob = gateways.start_many(
        [(policy("gov-policylayer.json"), {"state": state, "identity": who}) for who in ("alice", "alice", "bob")]
    )
    results = [gw.call("backgroundExecute", bg(n)) for n, gw in enumerate([alice_1, alice_2] * 5)]
    assert all(r.allowed for r in results), [r.first_line for r in results]
    for n, gw in enumerate((alice_1, alice_2), start=20):
        match = CAP.match(gw.call("backgroundExecute", bg(n)).first_line)
        assert match and match["who"] == "alice"
    assert bob.call("backgroundExecute", bg(30)).allowed
