"""Host key decisions: pins, known_hosts, TOFU, host_key_check modes, the gateway's one-stop check."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from sshwall.errors import TargetError
from sshwall.policy.hosts import HostGroup
from sshwall.targets.hostkey import HostKey
from sshwall.targets.match import HostMatch, Target
from sshwall.targets.pins import (
    HostKeyMode,
    assess_host_key,
    check_host_key,
    host_key_problem,
    key_check_needed,
    tofu_store,
)
from sshwall.targets.tofu import TofuStore, tofu_key
from tests.targets.conftest import PolicyMaker
from tests.targets.keys import fake_key, line

GOOD, EVIL, OTHER = fake_key("good"), fake_key("evil"), fake_key("other")
T = Target("db.example.com", 22, "deploy")


def group(**fields: object) -> HostGroup:
    return HostGroup.model_validate({"match": ("db.example.com",), **fields})


def test_matching_pin_is_accepted() -> None:
    g = group(host_keys=(OTHER.fingerprint, GOOD.fingerprint))
    assert check_host_key(g, GOOD, T, None) is None
    assert assess_host_key(g, GOOD, T, None).status == "match"


def test_wrong_key_shows_both_fingerprints() -> None:
    problem = check_host_key(group(host_keys=(GOOD.fingerprint,)), EVIL, T, None, group_name="prod")
    assert problem == (
        f"host key mismatch for db.example.com:22: the server offered ssh-ed25519 {EVIL.fingerprint}, "
        f"but group prod expects {GOOD.fingerprint} (host_keys)"
    )


def test_known_hosts_file(tmp_path: Path) -> None:
    kh = tmp_path / "kh"
    kh.write_text(line(GOOD, "[db.example.com]:2222") + line(OTHER, "db.example.com"))
    g = group(known_hosts=str(kh), ports=(22, 2222))
    t2222 = Target("db.example.com", 2222, "deploy")
    assert check_host_key(g, GOOD, t2222, None) is None
    problem = check_host_key(g, GOOD, T, None) or ""  # port 22 has OTHER
    assert EVIL.fingerprint not in problem and GOOD.fingerprint in problem and OTHER.fingerprint in problem
    unknown = assess_host_key(g, GOOD, Target("db.example.com", 2200, "d"), None)
    assert unknown.status == "unknown" and "has no key for [db.example.com]:2200" in (unknown.problem or "")


def test_pins_and_known_hosts_are_one_trusted_list(tmp_path: Path) -> None:
    kh = tmp_path / "kh"
    kh.write_text(line(OTHER, "db.example.com"))
    g = group(host_keys=(GOOD.fingerprint,), known_hosts=str(kh))
    assert check_host_key(g, GOOD, T, None) is None
    assert check_host_key(g, OTHER, T, None) is None
    assert assess_host_key(g, EVIL, T, None).expected == (GOOD.fingerprint, OTHER.fingerprint)


def test_revoked_key_is_refused_even_when_pinned(tmp_path: Path) -> None:
    kh = tmp_path / "kh"
    kh.write_text(line(GOOD, "*", "@revoked"))
    check = assess_host_key(group(host_keys=(GOOD.fingerprint,), known_hosts=str(kh)), GOOD, T, None)
    assert check.status == "revoked" and "revoked" in (check.problem or "")


def test_unreadable_known_hosts_denies(tmp_path: Path) -> None:
    check = assess_host_key(group(known_hosts=str(tmp_path / "missing")), GOOD, T, None)
    assert check.status == "error" and "cannot read known_hosts file" in (check.problem or "")


def test_tofu_records_then_rejects_a_changed_key(tmp_path: Path) -> None:
    store = TofuStore(tmp_path / "tofu.json")
    g = group(trust_on_first_use=True)
    first = assess_host_key(g, GOOD, T, store)
    assert first.status == "recorded" and first.problem is None
    assert json.loads((tmp_path / "tofu.json").read_text()) == {"db.example.com:22": GOOD.fingerprint}
    assert assess_host_key(g, GOOD, T, store).status == "match"
    problem = check_host_key(g, EVIL, T, store) or ""
    assert EVIL.fingerprint in problem and GOOD.fingerprint in problem and "recorded on first use" in problem
    # another port of the same host is another record
    assert check_host_key(g, EVIL, Target("db.example.com", 2222, "d"), store) is None


def test_tofu_without_a_store_denies() -> None:
    assert "no tofu_file" in (check_host_key(group(trust_on_first_use=True), GOOD, T, None) or "")


def test_pins_take_precedence_over_tofu(tmp_path: Path) -> None:
    store = TofuStore(tmp_path / "tofu.json")
    g = group(host_keys=(GOOD.fingerprint,), trust_on_first_use=True)
    assert check_host_key(g, EVIL, T, store) is not None
    assert not (tmp_path / "tofu.json").exists()


def test_read_only_store_never_writes(tmp_path: Path) -> None:
    store = TofuStore(tmp_path / "tofu.json", read_only=True)
    assert assess_host_key(group(trust_on_first_use=True), GOOD, T, store).status == "recorded"
    assert not (tmp_path / "tofu.json").exists()


def test_corrupt_tofu_file_denies(tmp_path: Path) -> None:
    (tmp_path / "tofu.json").write_text("{not json")
    check = assess_host_key(group(trust_on_first_use=True), GOOD, T, TofuStore(tmp_path / "tofu.json"))
    assert check.status == "error" and "not valid JSON" in (check.problem or "")
    (tmp_path / "tofu.json").write_text('{"db.example.com:22": 5}')
    with pytest.raises(TargetError):
        TofuStore(tmp_path / "tofu.json").lookup("db.example.com", 22)


def test_tofu_first_writer_wins_under_concurrency(tmp_path: Path) -> None:
    keys = [fake_key(f"k{i}") for i in range(8)]
    results: list[tuple[str, bool]] = []
    barrier = threading.Barrier(len(keys))

    def worker(fp: str) -> None:
        barrier.wait()
        results.append(TofuStore(tmp_path / "t.json").remember("h", 22, fp))

    threads = [threading.Thread(target=worker, args=(k.fingerprint,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    on_record = {fp for fp, _ in results}
    assert len(on_record) == 1 and sum(new for _, new in results) == 1
    assert TofuStore(tmp_path / "t.json").lookup("H", 22) == on_record.pop()
    assert tofu_key("::1", 22) == "[::1]:22"


@pytest.mark.parametrize(("mode", "problem"), [("off", False), ("pinned", False), ("always", True)])
def test_group_without_sources_follows_host_key_check(mode: HostKeyMode, problem: bool) -> None:
    result = check_host_key(group(), GOOD, T, None, mode=mode, group_name="g")
    assert (result is not None) == problem
    if problem:
        assert GOOD.fingerprint in (result or "") and "host_key_check: always" in (result or "")


def test_off_never_refuses() -> None:
    assert check_host_key(group(host_keys=(GOOD.fingerprint,)), EVIL, T, None, mode="off") is None


POLICY = """
hosts:
  pinned: {match: [a.example], host_keys: [%s]}
  tofu: {match: [b.example], trust_on_first_use: true}
  bare: {match: [c.example]}
""" % GOOD.fingerprint


@pytest.mark.parametrize(("mode", "expected"), [
    ("off", {"pinned": False, "tofu": False, "bare": False, None: False}),
    ("pinned", {"pinned": True, "tofu": True, "bare": False, None: False}),
    ("always", {"pinned": True, "tofu": True, "bare": True, None: True}),
])
def test_key_check_needed(make_policy: PolicyMaker, mode: str, expected: dict[str | None, bool]) -> None:
    policy = make_policy(f"host_key_check: '{mode}'\n" + POLICY)  # quoted: YAML reads a bare off as false
    assert {g: key_check_needed(policy, g) for g in expected} == expected


def test_host_key_problem_fetches_from_the_resolved_address(make_policy: PolicyMaker, tmp_path: Path) -> None:
    policy = make_policy(f"tofu_file: {tmp_path / 'tofu.json'}\n" + POLICY)
    calls: list[tuple[str, int]] = []

    def fetch(host: str, port: int) -> HostKey:
        calls.append((host, port))
        return EVIL

    t = Target("a.example", 22, "u")
    problem = host_key_problem(policy, HostMatch("pinned", ("192.0.2.1",)), t, fetch=fetch, tofu=None)
    assert calls == [("192.0.2.1", 22)] and GOOD.fingerprint in (problem or "") and EVIL.fingerprint in (problem or "")
    calls.clear()
    assert host_key_problem(policy, HostMatch("bare", ("192.0.2.3",)), t, fetch=fetch, tofu=None) is None
    assert calls == []  # pinned mode: a group without sources is not fetched
    store = tofu_store(policy)
    assert store is not None
    tb = Target("b.example", 22, "u")
    assert host_key_problem(policy, HostMatch("tofu", ("192.0.2.2",)), tb, fetch=fetch, tofu=store) is None
    assert store.lookup("b.example", 22) == EVIL.fingerprint


def test_host_key_problem_unreachable_and_always(make_policy: PolicyMaker) -> None:
    policy = make_policy("host_key_check: always\n" + POLICY)

    def down(host: str, port: int) -> HostKey:
        raise TargetError(f"cannot reach {host}:{port}: connection refused")

    t = Target("a.example", 22, "u")
    assert host_key_problem(policy, HostMatch("pinned", ()), t, fetch=down, tofu=None) == (
        "cannot verify the host key of a.example:22: cannot reach a.example:22: connection refused"
    )
    none = host_key_problem(policy, HostMatch(None), Target("z.example", 22, "u"), fetch=down, tofu=None)
    assert none is not None and "no host group" in none


def test_records_are_keyed_by_the_canonical_host(tmp_path: Path) -> None:
    store = TofuStore(tmp_path / "tofu.json")
    g = group(trust_on_first_use=True)
    assert check_host_key(g, GOOD, Target("DB.Example.COM.", 22, "u"), store) is None
    assert store.lookup("db.example.com", 22) == GOOD.fingerprint
    assert check_host_key(g, EVIL, T, store) is not None
    kh = tmp_path / "kh"
    kh.write_text(line(GOOD, "db.example.com"))
    assert check_host_key(group(known_hosts=str(kh)), GOOD, Target("Db.Example.Com.", 22, "u"), None) is None
