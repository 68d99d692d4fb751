"""Host rules: names, wildcards, CIDR v4/v6, ports, users, and DNS answers checked against ranges."""

from __future__ import annotations

import pytest

from sshwall.errors import TargetError
from sshwall.policy import Policy
from sshwall.targets.match import (
    HostMatch,
    Target,
    find_group,
    match_host,
    match_target,
    normalise_host,
    policy_hosts,
    system_resolve,
)
from tests.targets.conftest import PolicyMaker, no_dns, resolver

HOSTS = """
hosts:
  prod:
    match: [db.prod.internal, "*.web.prod.internal", 10.20.0.0/16, "2001:db8:20::/48"]
    users: [deploy]
    ports: [22]
  staging:
    match: ["*.staging.internal", 10.30.0.0/16]
    users: [deploy, ops]
    ports: [22, 2222]
  names:
    match: [bastion.example.com, "*.lab.example.com"]
  single:
    match: [192.0.2.7, "2001:db8::7"]
"""

DNS = resolver({
    "db.prod.internal": ("10.20.1.5",),
    "a.web.prod.internal": ("10.20.2.1", "2001:db8:20::1"),
    "api.staging.internal": ("10.30.0.9",),
    "bastion.example.com": ("198.51.100.4",),
    "box.lab.example.com": ("203.0.113.9",),
})


@pytest.fixture
def policy(make_policy: PolicyMaker) -> Policy:
    return make_policy(HOSTS)


def test_no_hosts_section_allows_everything(make_policy: PolicyMaker) -> None:
    policy = make_policy("")
    assert match_target(policy, Target("anything.example", 2222, "root"), no_dns) == HostMatch(None, (), None)


def test_exact_name_is_case_insensitive_and_resolved(policy: Policy) -> None:
    m = match_target(policy, Target("DB.Prod.Internal.", 22, "deploy"), DNS)
    assert m == HostMatch("prod", ("10.20.1.5",), None)
    assert m.allowed


def test_wildcard_name(policy: Policy) -> None:
    m = match_target(policy, Target("a.web.prod.internal", 22, "deploy"), DNS)
    assert m.group == "prod" and m.problem is None
    assert m.addresses == ("10.20.2.1", "2001:db8:20::1")


def test_wildcard_does_not_match_the_bare_suffix(policy: Policy) -> None:
    m = match_target(policy, Target("web.prod.internal", 22, "deploy"), DNS)
    assert m.problem == "host web.prod.internal is in no host group"


def test_unknown_host_is_denied(policy: Policy) -> None:
    m = match_target(policy, Target("db.evil", 22, "deploy"), DNS)
    assert m == HostMatch(None, (), "host db.evil is in no host group")


@pytest.mark.parametrize(("host", "group"), [
    ("10.20.255.1", "prod"), ("10.30.0.1", "staging"), ("2001:db8:20::abcd", "prod"),
    ("[2001:db8:20::abcd]", "prod"), ("::ffff:10.20.0.1", "prod"), ("192.0.2.7", "single"),
    ("2001:db8:0::7", "single"),
])
def test_ip_literals_match_cidr_and_literal_entries_without_dns(policy: Policy, host: str, group: str) -> None:
    users = {"prod": "deploy", "staging": "ops", "single": "anyone"}
    m = match_target(policy, Target(host, 22, users[group]), no_dns)
    assert m.group == group and m.problem is None, m


@pytest.mark.parametrize("host", ["10.21.0.1", "2001:db8:21::1", "192.0.2.8"])
def test_ip_literal_outside_every_range_is_denied(policy: Policy, host: str) -> None:
    assert match_target(policy, Target(host, 22, "deploy"), no_dns).problem == f"host {host} is in no host group"


def test_port_not_allowed(policy: Policy) -> None:
    m = match_target(policy, Target("db.prod.internal", 2222, "deploy"), DNS)
    assert m.problem == "port 2222 is not allowed for group prod (allowed: 22)"


def test_port_allowed_in_other_group(policy: Policy) -> None:
    assert match_target(policy, Target("api.staging.internal", 2222, "ops"), DNS).problem is None


def test_user_not_allowed(policy: Policy) -> None:
    m = match_target(policy, Target("db.prod.internal", 22, "root"), DNS)
    assert m.problem == "user root may not log in to group prod (allowed: deploy)"


def test_any_user_when_the_group_lists_none(policy: Policy) -> None:
    assert match_target(policy, Target("bastion.example.com", 22, "whoever"), DNS).problem is None


@pytest.mark.parametrize("user", ["", "-oProxyCommand=x", "a b", "root\n"])
def test_malformed_user_is_denied(policy: Policy, user: str) -> None:
    assert "not a valid login name" in (match_target(policy, Target("bastion.example.com", 22, user), DNS).problem or "")


def test_first_matching_group_in_policy_order_wins(make_policy: PolicyMaker) -> None:
    policy = make_policy("""
        hosts:
          first: {match: ["*.example.com"], users: [a]}
          second: {match: [db.example.com], users: [b]}
        """)
    dns = resolver({"db.example.com": ("192.0.2.1",)})
    assert match_target(policy, Target("db.example.com", 22, "a"), dns).group == "first"
    assert "may not log in to group first" in (match_target(policy, Target("db.example.com", 22, "b"), dns).problem or "")


# -- DNS: a name is checked by the addresses it resolves to ------------------------------------


def test_permitted_name_resolving_outside_its_groups_ranges_is_denied(policy: Policy) -> None:
    evil = resolver({"db.prod.internal": ("10.9.9.9",)})
    m = match_target(policy, Target("db.prod.internal", 22, "deploy"), evil)
    assert m.group == "prod" and m.addresses == ("10.9.9.9",)
    assert m.problem == "db.prod.internal resolves to 10.9.9.9, which no group allows"


def test_permitted_name_resolving_into_another_groups_range_is_denied(policy: Policy) -> None:
    evil = resolver({"db.prod.internal": ("10.30.0.5",)})
    m = match_target(policy, Target("db.prod.internal", 22, "deploy"), evil)
    assert m.problem == (
        "db.prod.internal resolves to 10.30.0.5, which group prod does not allow "
        "(it is in group staging's range 10.30.0.0/16)"
    )


def test_every_resolved_address_must_be_allowed(policy: Policy) -> None:
    evil = resolver({"db.prod.internal": ("10.20.0.1", "2001:db8:99::1")})
    m = match_target(policy, Target("db.prod.internal", 22, "deploy"), evil)
    assert m.problem == "db.prod.internal resolves to 2001:db8:99::1, which no group allows"


def test_v4_mapped_answer_is_checked_as_ipv4(policy: Policy) -> None:
    dns = resolver({"db.prod.internal": ("::ffff:10.20.0.9",)})
    assert match_target(policy, Target("db.prod.internal", 22, "deploy"), dns).problem is None
    evil = resolver({"db.prod.internal": ("::ffff:127.0.0.1",)})
    assert "which no group allows" in (match_target(policy, Target("db.prod.internal", 22, "deploy"), evil).problem or "")


def test_names_only_group_accepts_addresses_no_group_claims(policy: Policy) -> None:
    m = match_target(policy, Target("box.lab.example.com", 22, "me"), DNS)
    assert m == HostMatch("names", ("203.0.113.9",), None)


def test_names_only_group_cannot_reach_into_another_groups_range(policy: Policy) -> None:
    evil = resolver({"box.lab.example.com": ("10.20.3.3",)})
    m = match_target(policy, Target("box.lab.example.com", 22, "root"), evil)
    assert m.problem == (
        "box.lab.example.com resolves to 10.20.3.3, which group names does not allow "
        "(it is in group prod's range 10.20.0.0/16)"
    )


def test_catch_all_wildcard_cannot_take_an_address_another_group_owns(make_policy: PolicyMaker) -> None:
    policy = make_policy("""
        hosts:
          anywhere: {match: ["*"]}
          prod: {match: [10.20.0.0/16], users: [deploy]}
        """)
    m = match_target(policy, Target("10.20.0.1", 22, "root"), no_dns)
    assert m.group == "anywhere" and "it is in group prod's range" in (m.problem or "")


def test_resolution_failure_is_denied(policy: Policy) -> None:
    m = match_target(policy, Target("x.staging.internal", 22, "ops"), DNS)
    assert m.group == "staging" and m.problem == "cannot resolve x.staging.internal: unknown name"


@pytest.mark.parametrize("answer", [(), ("not-an-ip",)])
def test_empty_or_garbage_resolution_is_denied(policy: Policy, answer: tuple[str, ...]) -> None:
    m = match_target(policy, Target("db.prod.internal", 22, "deploy"), lambda _name: answer)
    assert (m.problem or "").startswith("cannot resolve db.prod.internal")


def test_resolver_oserror_is_a_problem_not_a_crash(policy: Policy) -> None:
    def broken(name: str) -> tuple[str, ...]:
        raise OSError("network down")

    assert match_target(policy, Target("db.prod.internal", 22, "deploy"), broken).problem == (
        "cannot resolve db.prod.internal: network down"
    )


def test_cheap_checks_come_before_dns(policy: Policy) -> None:
    assert "port 2200" in (match_target(policy, Target("db.prod.internal", 2200, "deploy"), no_dns).problem or "")
    assert "user root" in (match_target(policy, Target("db.prod.internal", 22, "root"), no_dns).problem or "")


@pytest.mark.parametrize("host", ["127.1", "0x7f000001", "2130706433", "0177.0.0.1", "10.20.1"])
def test_non_canonical_numeric_hosts_are_denied(make_policy: PolicyMaker, host: str) -> None:
    policy = make_policy('hosts:\n  all: {match: ["*"]}\n')
    m = match_target(policy, Target(host, 22, "u"), no_dns)
    assert "non-canonical numeric address" in (m.problem or "")


@pytest.mark.parametrize("host", ["", " db", "db\n", "a b", "-oProxyCommand=x", "db/1", "user@db", "db:22", "..", "a..b"])
def test_malformed_hosts_are_denied(make_policy: PolicyMaker, host: str) -> None:
    policy = make_policy('hosts:\n  all: {match: ["*"]}\n')
    assert "not a host name or an IP address" in (match_target(policy, Target(host, 22, "u"), no_dns).problem or "")


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_out_of_range_ports_are_denied(policy: Policy, port: int) -> None:
    assert "is not allowed" in (match_target(policy, Target("db.prod.internal", port, "deploy"), DNS).problem or "")


def test_match_host_skips_the_user_check(policy: Policy) -> None:
    assert match_host(policy, "db.prod.internal", 22, DNS).problem is None


def test_helpers(policy: Policy) -> None:
    assert normalise_host("[::1]") == ("::1", normalise_host("::1")[1])
    assert find_group(policy, "Q.Staging.Internal") == "staging"
    assert find_group(policy, "nowhere.example") is None
    with pytest.raises(TargetError):
        find_group(policy, "bad host")
    assert list(policy_hosts(policy)) == [
        ("prod", "db.prod.internal"), ("names", "bastion.example.com"), ("single", "192.0.2.7"), ("single", "2001:db8::7"),
    ]


def test_system_resolve() -> None:
    assert system_resolve("127.0.0.1") == ("127.0.0.1",)
    assert "127.0.0.1" in system_resolve("localhost")
    with pytest.raises(TargetError, match=r"cannot resolve no-such-host.invalid"):
        system_resolve("no-such-host.invalid")
