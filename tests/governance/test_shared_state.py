"""Three ``sshwall serve`` replicas on one state backend enforce one cap exactly under load.

Each replica gets 100 calls written at once (its relay handles them concurrently), the three
replicas are driven from three threads released together, and of the 300 calls exactly the
cap's 50 may pass: on a real redis-server and on one SQLite file shared by the processes.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from tests.governance.gateway import Gateway, Gateways, Result, policy

PER_GATEWAY = 100
CAP = 50


def _hammer(replicas: list[Gateway]) -> list[Result]:
    start = threading.Barrier(len(replicas))
    results: dict[int, list[Result]] = {}
    errors: list[BaseException] = []

    def drive(n: int, gw: Gateway) -> None:
        calls = [("executeCommand", {"connectionId": f"c{n}", "command": f"echo {n}-{i}"}) for i in range(PER_GATEWAY)]
        try:
            start.wait(timeout=30)
            results[n] = gw.call_many(calls, timeout=60)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=drive, args=(n, gw)) for n, gw in enumerate(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not errors, errors
    return [r for n in sorted(results) for r in results[n]]


# Global on Redis with a different identity per replica, grant on SQLite with one identity for
# all three: the scope value is computed by the gateway, whatever the backend.
@pytest.mark.parametrize(("backend", "scope"), [("redis", "global"), ("sqlite", "grant")])
def test_three_replicas_allow_exactly_the_cap(
    backend: str, scope: str, gateways: Gateways, request: pytest.FixtureRequest
) -> None:
    state = str(request.getfixturevalue(f"{backend}_url"))
    rules = policy(f"gov-shared-{scope}.yaml")
    counter = "shared" if scope == "global" else "granted"
    # Global: a different identity per replica, still one counter. Grant: one identity everywhere.
    identities = ["alice", "bob", "carol"] if scope == "global" else ["team"] * 3
    late_identities = [identities[0]] + (["other"] if scope == "grant" else [])
    started = gateways.start_many([(rules, {"state": state, "identity": who}) for who in identities + late_identities])
    replicas, late = started[:3], started[3:]

    results = _hammer(replicas)

    assert len(results) == 3 * PER_GATEWAY
    allowed = [r for r in results if r.allowed]
    denied = [r for r in results if not r.allowed]
    reasons = Counter(r.first_line.split(": rate limit")[0] for r in denied)
    assert len(allowed) == CAP, f"{len(allowed)} allowed; denials: {reasons}"
    assert all(r.text == "ok" for r in allowed)
    scope_value = "*" if scope == "global" else "team"
    for r in denied:
        assert r.first_line.startswith(
            f"sshwall: denied (rule limits.{counter}): rate limit {counter}|{scope}={scope_value}: "
            f"at most {CAP} calls per 1m; retry after "
        ), r.first_line

    # The cap binds a fourth replica that sat idle meanwhile ...
    assert late[0].call("executeCommand", {"connectionId": "c9", "command": "true"}).denied
    if scope == "grant":
        # ... while another identity's grant is untouched.
        assert late[1].call("executeCommand", {"connectionId": "c9", "command": "true"}).allowed


def test_one_replica_alone_is_exact_under_pipelined_load(gateways: Gateways) -> None:
    """The baseline: one gateway on its own memory state, 100 calls in flight at once."""
    gw = gateways.start(policy("gov-shared-global.yaml"))
    results = gw.call_many([("executeCommand", {"connectionId": "c1", "command": f"echo {i}"}) for i in range(PER_GATEWAY)])
    assert sum(r.allowed for r in results) == CAP
    assert all(r.first_line.startswith("sshwall: denied (rule limits.shared): ") for r in results if not r.allowed)
