"""Deciding whether a host key a server offered is the one the policy expects.

Sources of trust for a host group, strongest first:

1. ``host_keys`` pins and a ``known_hosts`` file. When a group has either, the offered key must
   be one of the pinned fingerprints or one of the file's keys for that ``host:port`` (the two
   are one list of trusted keys). A key the file marks ``@revoked`` is always refused.
2. ``trust_on_first_use`` (only for groups without pins or known_hosts, and only with a
   ``TofuStore``, i.e. the policy's ``tofu_file``): the first key seen is recorded and accepted;
   later keys must equal it.
3. Nothing: the policy's ``host_key_check`` decides. ``off``: host keys are never fetched or
   checked. ``pinned`` (the default): groups with a source above are checked and refuse unknown
   or different keys; other groups are not checked. ``always``: every connect must be covered by
   a source above; a group without one refuses every key, showing the one it was offered.

Every refusal shows the offered fingerprint and the expected ones, so an operator can compare
them with ``ssh-keygen -lf`` on the host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sshwall.errors import TargetError
from sshwall.policy.hosts import HostGroup
from sshwall.policy.model import Policy
from sshwall.targets.hostkey import HostKey, host_port
from sshwall.targets.knownhosts import read_known_hosts
from sshwall.targets.match import HostMatch, Target, canonical_host
from sshwall.targets.tofu import TofuStore

__all__ = [
    "HostKeyMode", "KeyCheck", "TofuStore", "assess_host_key", "check_host_key", "host_key_problem",
    "key_check_needed", "tofu_store",
]

HostKeyMode = Literal["off", "pinned", "always"]
KeyStatus = Literal["match", "recorded", "mismatch", "unknown", "revoked", "unchecked", "error"]


@dataclass(frozen=True)
class KeyCheck:
    """The outcome of comparing an offered key with a group's sources of trust.

    ``status``: ``match`` (a pin, known_hosts or TOFU record has it), ``recorded`` (TOFU first
    use), ``mismatch`` (sources exist, none has it), ``unknown`` (no source covers this host),
    ``revoked``, ``unchecked`` (the policy does not check this group), ``error`` (a source could
    not be read). ``expected`` lists the trusted fingerprints; ``problem`` is the reason to deny.
    """

    status: KeyStatus
    offered: HostKey
    expected: tuple[str, ...] = ()
    source: str = ""
    problem: str | None = None


def has_sources(group: HostGroup) -> bool:
    """Whether the group names any source of trust (pins, known_hosts or TOFU)."""
    return bool(group.host_keys or group.known_hosts or group.trust_on_first_use)


def key_check_needed(policy: Policy, group: str | None) -> bool:
    """Whether a connect to a target of ``group`` (``None``: no group) needs its host key fetched."""
    if policy.host_key_check == "off":
        return False
    if policy.host_key_check == "always":
        return True
    return group is not None and group in policy.hosts and has_sources(policy.hosts[group])


def tofu_store(policy: Policy, *, read_only: bool = False) -> TofuStore | None:
    """The policy's TOFU store, or ``None`` when it names no ``tofu_file``."""
    return TofuStore(policy.tofu_file, read_only=read_only) if policy.tofu_file else None


def _where(target: Target) -> str:
    return host_port(target.host, target.port)


def assess_host_key(
    group: HostGroup,
    key: HostKey,
    target: Target,
    tofu: TofuStore | None,
    *,
    mode: HostKeyMode = "pinned",
    group_name: str | None = None,
) -> KeyCheck:
    """Compare ``key`` with the group's sources of trust (see the module docstring)."""
    # Records (known_hosts, TOFU) are keyed by the canonical name: DB.example.com. is db.example.com.
    target = Target(canonical_host(target.host), target.port, target.user)
    where, offered = _where(target), key.describe()
    if mode == "off":
        return KeyCheck("unchecked", key, source="host_key_check: off")
    if group.host_keys or group.known_hosts:
        return _against_pins(group, key, target, where, group_name)
    if group.trust_on_first_use:
        if tofu is None:
            problem = f"{_who(group_name)} trusts on first use, but the policy names no tofu_file to record keys in"
            return KeyCheck("error", key, source="tofu", problem=problem)
        source = f"tofu {tofu.path}"
        try:
            recorded, new = tofu.remember(target.host, target.port, key.fingerprint)
        except TargetError as err:
            return KeyCheck("error", key, source=source, problem=str(err))
        if recorded != key.fingerprint:
            problem = (
                f"host key mismatch for {where}: the server offered {offered}, but {recorded} was "
                f"recorded on first use in {tofu.path}"
            )
            return KeyCheck("mismatch", key, (recorded,), source, problem)
        return KeyCheck("recorded" if new else "match", key, (recorded,), source)
    if mode == "always":
        problem = (
            f"unknown host key for {where}: the server offered {offered}, and {_who(group_name)} pins "
            f"no key (host_key_check: always); add it to host_keys after checking it on the host"
        )
        return KeyCheck("unknown", key, source="none", problem=problem)
    return KeyCheck("unchecked", key, source="no pins in group")


def _who(group_name: str | None) -> str:
    return f"group {group_name}" if group_name else "the host group"


def _against_pins(group: HostGroup, key: HostKey, target: Target, where: str, group_name: str | None) -> KeyCheck:
    expected = list(group.host_keys)
    sources = ["host_keys"] if group.host_keys else []
    filed_as = where
    if group.known_hosts:
        sources.append(f"known_hosts {group.known_hosts}")
        try:
            listed = read_known_hosts(group.known_hosts, target.host, target.port)
        except TargetError as err:
            return KeyCheck("error", key, tuple(expected), ", ".join(sources), str(err))
        if any(r.fingerprint == key.fingerprint for r in listed.revoked):
            problem = f"host key of {where} is revoked in {listed.path}: the server offered {key.describe()}"
            return KeyCheck("revoked", key, tuple(expected), ", ".join(sources), problem)
        filed_as = listed.name
        revoked = {r.fingerprint for r in listed.revoked}
        expected += [k.fingerprint for k in listed.keys if k.fingerprint not in revoked and k.fingerprint not in expected]
    source = ", ".join(sources)
    if key.fingerprint in expected:
        return KeyCheck("match", key, tuple(expected), source)
    if not expected:
        problem = (
            f"unknown host key for {where}: the server offered {key.describe()}, and "
            f"{source} has no key for {filed_as}"
        )
        return KeyCheck("unknown", key, (), source, problem)
    problem = (
        f"host key mismatch for {where}: the server offered {key.describe()}, but {_who(group_name)} "
        f"expects {' or '.join(expected)} ({source})"
    )
    return KeyCheck("mismatch", key, tuple(expected), source, problem)


def check_host_key(
    group: HostGroup,
    key: HostKey,
    target: Target,
    tofu: TofuStore | None,
    *,
    mode: HostKeyMode = "pinned",
    group_name: str | None = None,
) -> str | None:
    """The reason to refuse ``key`` for ``target`` in ``group``, or ``None`` to accept it.

    With TOFU and a writable store, an unknown key is recorded (and accepted) here.
    """
    return assess_host_key(group, key, target, tofu, mode=mode, group_name=group_name).problem


def host_key_problem(
    policy: Policy,
    match: HostMatch,
    target: Target,
    *,
    fetch: Callable[[str, int], HostKey],
    tofu: TofuStore | None,
) -> str | None:
    """The whole pre-connect host key check for the gateway, or ``None`` to go ahead.

    Skips the fetch when the policy does not check this group (``key_check_needed``); otherwise
    fetches the key with ``fetch(address, port)`` from the first address ``match`` resolved (the
    host itself when it was not resolved) and checks it. An unreachable host is a problem.
    """
    if not key_check_needed(policy, match.group):
        return None
    if match.group is None:
        return f"host_key_check is always, but {target.host} is in no host group that pins keys"
    address = match.addresses[0] if match.addresses else target.host
    try:
        key = fetch(address, target.port)
    except TargetError as err:
        return f"cannot verify the host key of {_where(target)}: {err}"
    return check_host_key(
        policy.hosts[match.group], key, target, tofu, mode=policy.host_key_check, group_name=match.group
    )
