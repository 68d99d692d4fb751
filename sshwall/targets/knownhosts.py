"""Reading OpenSSH known_hosts files: which keys a file lists (or revokes) for one host and port.

Follows sshd(8)'s "SSH_KNOWN_HOSTS FILE FORMAT": a host off port 22 is filed as
``[host]:port``; host fields are comma-separated patterns with ``*`` / ``?`` wildcards and
``!`` negation, or one hashed name (``|1|salt|hash``, HMAC-SHA1 of the name, as
``HashKnownHosts yes`` writes); a ``@revoked`` line revokes its key; ``@cert-authority`` lines
are skipped (sshwall pins plain host keys, not certificates). Malformed lines are skipped, as
OpenSSH skips them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from sshwall.errors import TargetError
from sshwall.targets.hostkey import HostKey, known_hosts_name


@dataclass(frozen=True)
class KnownHosts:
    """What one known_hosts file says about one host and port."""

    path: str
    name: str
    keys: tuple[HostKey, ...]
    revoked: tuple[HostKey, ...]


def _pattern_matches(pattern: str, name: str) -> bool:
    regex = re.escape(pattern.lower()).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, name) is not None


def _hashed_matches(field: str, name: str) -> bool:
    parts = field.split("|")  # "", "1", salt, hash
    if len(parts) != 4 or parts[1] != "1":
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        expected = base64.b64decode(parts[3], validate=True)
    except binascii.Error:
        return False
    digest = hmac.new(salt, name.encode("utf-8"), hashlib.sha1).digest()
    return hmac.compare_digest(digest, expected)


def host_field_matches(field: str, name: str) -> bool:
    """Whether a known_hosts host field (patterns or one hashed name) covers ``name``."""
    name = name.lower()
    if field.startswith("|"):
        return _hashed_matches(field, name)
    hit = False
    for pattern in field.split(","):
        if pattern.startswith("!"):
            if _pattern_matches(pattern[1:], name):
                return False  # a matching negation excludes the host, whatever else matches
        elif pattern and _pattern_matches(pattern, name):
            hit = True
    return hit


def read_known_hosts(path: str | Path, host: str, port: int) -> KnownHosts:
    """The keys ``path`` lists and revokes for ``host`` on ``port``.

    ``TargetError`` when the file cannot be read (a configured file that is missing is a
    mistake to report, not an empty list).
    """
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise TargetError(f"cannot read known_hosts file {file}: {err.strerror or err}") from None
    name = known_hosts_name(host.lower(), port)
    keys: list[HostKey] = []
    revoked: list[HostKey] = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else None
        if marker not in (None, "@revoked") or len(fields) < 3:
            continue
        if not host_field_matches(fields[0], name):
            continue
        try:
            key = HostKey.from_base64(fields[1], fields[2])
        except TargetError:
            continue
        bucket = revoked if marker == "@revoked" else keys
        if key not in bucket:
            bucket.append(key)
    return KnownHosts(str(file), name, tuple(keys), tuple(revoked))


def known_hosts_keys(path: str | Path, host: str, port: int) -> list[HostKey]:
    """The (not revoked) keys ``path`` lists for ``host`` on ``port``."""
    listed = read_known_hosts(path, host, port)
    revoked = {key.fingerprint for key in listed.revoked}
    return [key for key in listed.keys if key.fingerprint not in revoked]
