"""Host-key policy of the built-in backend: which server keys it trusts.

The policy is a startup option of the backend, never a tool argument, so an agent cannot loosen
it. Three sources, in this order:

1. a pin (``--host-key HOST:PORT=SHA256:...``) decides alone for its host and port;
2. otherwise the known_hosts files (``--known-hosts FILE``, by default the user's and the
   system's) decide: a listed key that differs is a mismatch, an unlisted host is unknown, a key
   a file marks ``@revoked`` is always refused. The files are read by
   ``sshwall.targets.knownhosts``, as ``sshwall verify`` reads them (hashed names, wildcards,
   negations, ``[host]:port``);
3. an unknown host is refused, showing the fingerprint it offered, unless the operator started
   the backend with ``--insecure-accept-any-host-key``.

This module is pure data and decisions; ``sshwall.backend.ssh`` applies it to paramiko.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from sshwall.errors import TargetError, UsageError
from sshwall.targets.hostkey import HostKey
from sshwall.targets.knownhosts import read_known_hosts

_PIN = re.compile(r"^(?P<host>\[[^\]]+\]|[^:=\s]+)(?::(?P<port>\d{1,5}))?=(?P<fp>SHA256:[A-Za-z0-9+/]{43})$")


def default_known_hosts() -> tuple[Path, ...]:
    """The files OpenSSH itself consults: the user's, then the system-wide one."""
    return (Path.home() / ".ssh" / "known_hosts", Path("/etc/ssh/ssh_known_hosts"))


def parse_pin(text: str) -> tuple[str, int, str]:
    """Parse ``HOST[:PORT]=SHA256:...`` (port 22 when omitted; ``[v6addr]:port`` allowed)."""
    match = _PIN.match(text.strip())
    if match is None:
        raise UsageError(f"bad --host-key {text!r}: expected HOST:PORT=SHA256:<43 base64 chars>")
    port = int(match.group("port") or 22)
    if not 0 < port < 65536:
        raise UsageError(f"bad --host-key {text!r}: port out of range")
    return match.group("host").strip("[]"), port, match.group("fp")


@dataclass(frozen=True)
class HostKeyPolicy:
    """Which host keys the backend accepts; built once at startup."""

    known_hosts: tuple[Path, ...] = field(default_factory=default_known_hosts)
    pins: Mapping[tuple[str, int], str] = field(default_factory=lambda: MappingProxyType({}))
    accept_any: bool = False

    @classmethod
    def build(
        cls, known_hosts: list[str] | None, pins: list[str] | None, accept_any: bool
    ) -> HostKeyPolicy:
        """Build a policy from command-line values (``None`` means the default files)."""
        files = tuple(Path(p).expanduser() for p in known_hosts) if known_hosts else default_known_hosts()
        table: dict[tuple[str, int], str] = {}
        for text in pins or []:
            host, port, fp = parse_pin(text)
            if table.get((host, port), fp) != fp:
                raise UsageError(f"conflicting --host-key pins for {host}:{port}")
            table[(host, port)] = fp
        return cls(known_hosts=files, pins=MappingProxyType(table), accept_any=accept_any)

    def pin_for(self, host: str, port: int) -> str | None:
        """The pinned fingerprint for this host and port, if any."""
        return self.pins.get((host, port))

    def existing_known_hosts(self) -> tuple[Path, ...]:
        """The configured known_hosts files that exist (missing files are not an error)."""
        return tuple(p for p in self.known_hosts if p.is_file())

    def listed(self, host: str, port: int) -> tuple[tuple[HostKey, ...], frozenset[str]]:
        """What the known_hosts files say of ``host:port``: the keys they list (revoked ones
        left out) and the fingerprints they revoke. ``TargetError`` for an unreadable file."""
        keys: list[HostKey] = []
        revoked: set[str] = set()
        for path in self.existing_known_hosts():
            found = read_known_hosts(path, host, port)
            keys += [k for k in found.keys if k not in keys]
            revoked |= {k.fingerprint for k in found.revoked}
        return tuple(k for k in keys if k.fingerprint not in revoked), frozenset(revoked)

    def check_pinned(self, host: str, port: int, key_type: str, offered: str) -> None:
        """Refuse unless the offered key matches the pin for this host (caller checked one exists)."""
        pinned = self.pin_for(host, port)
        if pinned is not None and pinned != offered:
            raise TargetError(
                f"host key verification failed for {host}:{port}: HOST KEY MISMATCH, "
                f"it offered {key_type} {offered} but the pin is {pinned}; refusing to connect"
            )

    def check_unknown(
        self, host: str, port: int, key_type: str, offered: str, revoked: frozenset[str] = frozenset()
    ) -> bool:
        """Decide on a host no pin and no (unrevoked) known_hosts entry covers.

        Returns True when accepted only because the operator chose ``accept_any`` (the caller
        logs a warning); raises ``TargetError`` otherwise, and always for a key in ``revoked``.
        """
        if self.pin_for(host, port) is not None:
            self.check_pinned(host, port, key_type, offered)
            return False
        if offered in revoked:
            raise TargetError(
                f"host key verification failed for {host}:{port}: it offered {key_type} {offered}, "
                "which known_hosts marks @revoked; refusing to connect"
            )
        if self.accept_any:
            return True
        files = ", ".join(str(p) for p in self.known_hosts) or "(none)"
        raise TargetError(
            f"host key verification failed for {host}:{port}: unknown host, not in known_hosts "
            f"({files}); it offered {key_type} {offered}. If that is the right key, add it to "
            f"known_hosts or start the backend with --host-key {host}:{port}={offered}"
        )

    @staticmethod
    def mismatch(host: str, port: int, key_type: str, offered: str, expected: str) -> TargetError:
        """The error for a key that differs from the one known_hosts lists."""
        return TargetError(
            f"host key verification failed for {host}:{port}: HOST KEY MISMATCH, it offered "
            f"{key_type} {offered} but known_hosts has {expected}; refusing to connect"
        )
