"""Host rules and host-key verification for SSH targets.

- ``match``: which host group a target belongs to; names, wildcards, CIDR ranges, ports, users,
  and DNS answers checked against the ranges (``match_target``, ``system_resolve``).
- ``pins``: is the key a server offered the pinned one (``check_host_key``, ``host_key_problem``);
  ``TofuStore`` records keys on first use.
- ``sshkeys``: the network side of ``sshwall verify`` (``fetch_host_key``,
  ``server_algorithms``, ``known_hosts_keys``, ``try_login``), over ``sshtools``, the SSH
  toolbox it shares with the built-in backend (host keys as values, private keys, the exec
  loop, connection failures as ``TargetError``). The two are the only paramiko imports here,
  imported lazily, so matching and pin checks do not load paramiko.
- ``verify`` / ``command``: ``sshwall verify``.
"""

from __future__ import annotations

from typing import Any

from sshwall.targets.hostkey import HostKey
from sshwall.targets.knownhosts import known_hosts_keys
from sshwall.targets.match import HostMatch, Target, match_host, match_target, system_resolve
from sshwall.targets.pins import (
    KeyCheck,
    assess_host_key,
    check_host_key,
    host_key_problem,
    key_check_needed,
    tofu_store,
)
from sshwall.targets.tofu import TofuStore

__all__ = [
    "HostKey", "HostMatch", "KeyCheck", "Target", "TofuStore", "assess_host_key", "check_host_key",
    "fetch_host_key", "host_key_problem", "key_check_needed", "known_hosts_keys", "match_host",
    "match_target", "server_algorithms", "system_resolve", "tofu_store", "try_login",
]

_NETWORK = ("fetch_host_key", "server_algorithms", "try_login")


def __getattr__(name: str) -> Any:
    if name in _NETWORK:
        from sshwall.targets import sshkeys

        return getattr(sshkeys, name)
    raise AttributeError(f"module 'sshwall.targets' has no attribute {name!r}")
