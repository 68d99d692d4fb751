"""Which host group an SSH target belongs to, and whether the policy lets it be reached.

The rule, in the order it is applied (the first problem found is the one reported):

1. **Group.** The target's host is compared with each group's ``match`` entries, groups in
   policy order; the first group with a matching entry wins. Names match exact name entries
   (case-insensitive, one trailing dot ignored) and ``fnmatch`` wildcards (``*.prod.internal``);
   IP literals match IP entries, CIDR ranges containing them, and wildcards. No group: denied.
2. **Port and user.** The port must be one of the group's ``ports``; the user one of its
   ``users`` (any user when the list is empty).
3. **Resolution.** A name is resolved (an IP literal is its own address); failure denies.
4. **Addresses.** A group's *address entries* are its CIDR ranges and IP literals. If the
   winning group has any, every resolved address must lie inside one of them. If it has none
   (a names-only group), no resolved address may lie inside another group's address entries:
   a name cannot carry a connection into a range the policy gave to a different group. So a
   permitted name that resolves to a forbidden address is denied (no rebinding through names).

A policy without a ``hosts`` section allows every target (``group`` is ``None``). Host strings
that are neither a valid host name nor a canonical IP address (``127.1``, ``0x7f000001``, empty,
with spaces...) are denied when the policy has hosts: resolvers read them as addresses that no
rule was written for.

``system_resolve`` is sshwall's one DNS lookup (``socket.getaddrinfo``).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase

from sshwall.errors import TargetError
from sshwall.policy.hosts import HostGroup
from sshwall.policy.model import Policy

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], tuple[str, ...]]
"""``resolve(name) -> addresses``; raises ``TargetError`` (or ``OSError``) when it cannot."""

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
# The forms inet_aton() accepts for an IPv4 address: 1-4 parts, decimal, octal or hex.
_NUMERIC_PART = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_WILDCARD = re.compile(r"[*?\[]")
_USER = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.@-]{0,63}$")


@dataclass(frozen=True)
class Target:
    """Where a ``connect`` goes: host name or IP literal, TCP port, login name."""

    host: str
    port: int
    user: str


@dataclass(frozen=True)
class HostMatch:
    """The outcome of matching a target against the policy's host groups.

    ``group`` is the winning group's name (``None`` when the policy has no ``hosts`` section, or
    when no group matched); ``addresses`` are the addresses the host resolved to (empty when it
    was not resolved); ``problem`` is the reason to deny, or ``None`` when the target is allowed.
    """

    group: str | None
    addresses: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def allowed(self) -> bool:
        """True when there is no reason to deny."""
        return self.problem is None


@dataclass(frozen=True)
class _Entries:
    names: frozenset[str]
    patterns: tuple[str, ...]
    networks: tuple[IPNetwork, ...]


@functools.lru_cache(maxsize=512)
def _entries(group: HostGroup) -> _Entries:
    # Groups are frozen (hashable): classify each group's entries once, not on every connect.
    names: set[str] = set()
    patterns: list[str] = []
    networks: list[IPNetwork] = []
    for raw in group.match:
        entry = raw.strip().lower()
        if "/" in entry:
            networks.append(_canonical_network(ipaddress.ip_network(entry, strict=False)))
            continue
        address = _parse_ip(entry)
        if address is not None:
            networks.append(ipaddress.ip_network(address))
        elif _WILDCARD.search(entry):
            patterns.append(entry)
        else:
            names.add(entry.removesuffix("."))
    return _Entries(frozenset(names), tuple(patterns), tuple(networks))


def _canonical_network(net: IPNetwork) -> IPNetwork:
    # ::ffff:10.0.0.0/104 is 10.0.0.0/8: compare v4-mapped ranges as the IPv4 they are.
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped and net.prefixlen >= 96:
        return ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
    return net


def _parse_ip(text: str) -> IPAddress | None:
    """A canonical IP literal (``[v6]`` brackets allowed), v4-mapped v6 as IPv4; else None."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def canonical_host(host: str) -> str:
    """``host`` as records are keyed: lower case, no trailing dot, IPs canonical (unchanged when
    it is not a valid host)."""
    try:
        return normalise_host(host)[0]
    except TargetError:
        return host


def normalise_host(host: str) -> tuple[str, IPAddress | None]:
    """``(name, None)`` for a host name (lower case, no trailing dot), ``(text, ip)`` for an IP.

    ``TargetError`` for anything else, including the numeric shorthands resolvers accept
    (``127.1``, ``0x7f.0.0.1``, ``2130706433``) that are not canonical IP literals.
    """
    text = host.strip()
    if text != host or not text:
        raise TargetError(f"host {host!r} is not a host name or an IP address")
    address = _parse_ip(text)
    if address is not None:
        return str(address), address
    name = text.lower().removesuffix(".")
    if not _HOSTNAME.fullmatch(name):
        raise TargetError(f"host {host!r} is not a host name or an IP address")
    if all(_NUMERIC_PART.fullmatch(part) for part in name.split(".")):
        raise TargetError(f"host {host!r} is a non-canonical numeric address; write the IP address in full")
    return name, None


def _matches(entries: _Entries, name: str, address: IPAddress | None) -> bool:
    if address is not None:
        if any(address in net for net in entries.networks):
            return True
    elif name in entries.names:
        return True
    return any(fnmatchcase(name, pattern) for pattern in entries.patterns)


def find_group(policy: Policy, host: str) -> str | None:
    """The first group (policy order) whose ``match`` entries match ``host``; ``TargetError``
    when ``host`` is not a valid host name or IP literal."""
    name, address = normalise_host(host)
    for group_name, group in policy.hosts.items():
        if _matches(_entries(group), name, address):
            return group_name
    return None


def _owner(policy: Policy, address: IPAddress, skip: str) -> tuple[str, IPNetwork] | None:
    for group_name, group in policy.hosts.items():
        if group_name == skip:
            continue
        for net in _entries(group).networks:
            if address in net:
                return group_name, net
    return None


def _address_problem(policy: Policy, group_name: str, host: str, addresses: tuple[IPAddress, ...]) -> str | None:
    own = _entries(policy.hosts[group_name]).networks
    for address in addresses:
        if own and any(address in net for net in own):
            continue
        owner = _owner(policy, address, skip=group_name)
        what = f"{host} resolves to {address}" if host != str(address) else f"{host}"
        if owner is not None:
            return f"{what}, which group {group_name} does not allow (it is in group {owner[0]}'s range {owner[1]})"
        if own:
            return f"{what}, which no group allows"
    return None


def _resolve(resolve: Resolver, name: str) -> tuple[IPAddress, ...]:
    try:
        found = resolve(name)
    except TargetError:
        raise
    except (OSError, UnicodeError) as err:
        raise TargetError(f"cannot resolve {name}: {err}") from None
    if not found:
        raise TargetError(f"cannot resolve {name}: no addresses")
    addresses: list[IPAddress] = []
    for text in found:
        address = _parse_ip(text.split("%", 1)[0] if "%" in text else text)
        if address is None:
            raise TargetError(f"cannot resolve {name}: resolver answered {text!r}, not an IP address")
        if address not in addresses:
            addresses.append(address)
    return tuple(addresses)


def user_problem(policy: Policy, group_name: str, user: str) -> str | None:
    """Why ``user`` may not log in to ``group_name``, or ``None``."""
    if not _USER.fullmatch(user):
        return f"user {user!r} is not a valid login name"
    allowed = policy.hosts[group_name].users
    if allowed and user not in allowed:
        return f"user {user} may not log in to group {group_name} (allowed: {', '.join(allowed)})"
    return None


def match_host(policy: Policy, host: str, port: int, resolve: Resolver) -> HostMatch:
    """Steps 1-4 of the module's rule without the user check (``verify`` uses it when no
    login name is known)."""
    return _match(policy, host, port, None, resolve)


def match_target(policy: Policy, target: Target, resolve: Resolver) -> HostMatch:
    """Match ``target`` against the policy's host groups (see the module docstring for the rule)."""
    return _match(policy, target.host, target.port, target.user, resolve)


def _match(policy: Policy, host: str, port: int, user: str | None, resolve: Resolver) -> HostMatch:
    if not policy.hosts:
        return HostMatch(group=None)
    try:
        name, literal = normalise_host(host)
        group_name = find_group(policy, host)
    except TargetError as err:
        return HostMatch(group=None, problem=str(err))
    if group_name is None:
        return HostMatch(group=None, problem=f"host {name} is in no host group")
    group = policy.hosts[group_name]
    if isinstance(port, bool) or not isinstance(port, int) or port not in group.ports:
        allowed = ", ".join(str(p) for p in group.ports)
        shown = port if isinstance(port, int) else repr(port)
        return HostMatch(group_name, problem=f"port {shown} is not allowed for group {group_name} (allowed: {allowed})")
    if user is not None:
        problem = user_problem(policy, group_name, user)
        if problem is not None:
            return HostMatch(group_name, problem=problem)
    try:
        addresses = (literal,) if literal is not None else _resolve(resolve, name)
    except TargetError as err:
        return HostMatch(group_name, problem=str(err))
    found = tuple(str(a) for a in addresses)
    return HostMatch(group_name, found, _address_problem(policy, group_name, name, addresses))


def policy_hosts(policy: Policy) -> Iterator[tuple[str, str]]:
    """``(group, host)`` for every ``match`` entry that names one host: exact names and IP
    literals, not wildcards or CIDR ranges (what ``sshwall verify`` can connect to)."""
    for group_name, group in policy.hosts.items():
        for raw in group.match:
            entry = raw.strip()
            if "/" in entry or _WILDCARD.search(entry):
                continue
            address = _parse_ip(entry.lower())
            yield group_name, str(address) if address is not None else entry.lower().removesuffix(".")


def system_resolve(host: str) -> tuple[str, ...]:
    """The addresses ``host`` resolves to (``getaddrinfo``, order kept, repeats dropped).

    An IP literal comes back as itself without a lookup. ``TargetError`` when it does not resolve.
    """
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        reason = err.strerror if isinstance(err, socket.gaierror) and err.strerror else str(err)
        raise TargetError(f"cannot resolve {host}: {reason}") from None
    found: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in found:
            found.append(address)
    if not found:
        raise TargetError(f"cannot resolve {host}: no addresses")
    return tuple(found)
