"""Made-up host keys (valid ed25519 blobs, random points) for tests that need no server."""

from __future__ import annotations

import hashlib
import struct

from sshwall.targets.hostkey import HostKey


def fake_key(seed: str) -> HostKey:
    """A deterministic ssh-ed25519 public key derived from ``seed``."""
    name = b"ssh-ed25519"
    point = hashlib.sha256(seed.encode()).digest()
    blob = struct.pack(">I", len(name)) + name + struct.pack(">I", len(point)) + point
    return HostKey.from_blob(blob)


def line(key: HostKey, hosts: str, marker: str = "") -> str:
    """A known_hosts line for ``key``."""
    return f"{marker + ' ' if marker else ''}{hosts} {key.key_type} {key.base64} comment\n"
