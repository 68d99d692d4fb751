"""Host keys as plain values: type, ``SHA256:`` fingerprint and base64 blob; the names hosts go by.

No paramiko here: ``sshwall.targets.sshtools`` builds these from what a server offers (for
``sshwall verify`` and the built-in backend alike), and ``sshwall.targets.knownhosts`` from
known_hosts lines; ``pins`` only compares them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from sshwall.errors import TargetError


def sha256_fingerprint(blob: bytes) -> str:
    """``SHA256:<base64 without padding>`` of a public key blob, as ``ssh-keygen -lf`` prints it."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def blob_type(blob: bytes) -> str:
    """The key type named inside a public key blob (its first SSH string)."""
    if len(blob) < 4:
        raise TargetError("public key blob is too short")
    (size,) = struct.unpack(">I", blob[:4])
    if not 0 < size <= 64 or len(blob) < 4 + size:
        raise TargetError("public key blob has a malformed type field")
    return blob[4 : 4 + size].decode("ascii", "replace")


@dataclass(frozen=True)
class HostKey:
    """A server's public host key.

    ``key_type`` is the key's own type name (``ssh-ed25519``, ``ecdsa-sha2-nistp256``,
    ``ssh-rsa``: the name known_hosts uses, not the signature algorithm negotiated);
    ``fingerprint`` is ``SHA256:...`` exactly as ``ssh-keygen -lf`` prints it; ``base64`` is the
    blob as it appears in a known_hosts or ``.pub`` line.
    """

    key_type: str
    fingerprint: str
    base64: str

    @classmethod
    def from_blob(cls, blob: bytes, key_type: str | None = None) -> HostKey:
        """A host key from its raw blob (the type is read from the blob when not given)."""
        return cls(key_type or blob_type(blob), sha256_fingerprint(blob), base64.b64encode(blob).decode("ascii"))

    @classmethod
    def from_base64(cls, key_type: str, text: str) -> HostKey:
        """A host key from a known_hosts / ``.pub`` line's type and base64 fields.

        ``TargetError`` when the base64 is malformed or names a different type than ``key_type``.
        """
        try:
            blob = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as err:
            raise TargetError(f"not a base64 public key: {err}") from None
        inner = blob_type(blob)
        if inner != key_type:
            raise TargetError(f"key type {key_type!r} does not match the key blob's type {inner!r}")
        return cls(key_type, sha256_fingerprint(blob), text)

    def describe(self) -> str:
        """``ssh-ed25519 SHA256:...``: what messages show."""
        return f"{self.key_type} {self.fingerprint}"


def known_hosts_name(host: str, port: int) -> str:
    """The name OpenSSH files a host under: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def host_port(host: str, port: int) -> str:
    """``host:port`` as messages and the TOFU file write it: ``[v6addr]:port`` for an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
