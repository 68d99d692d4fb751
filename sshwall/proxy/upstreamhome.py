"""The home folder of the upstream process: where its default local paths lie.

Mcp Ssh (Node's ``os.homedir()``) and the built-in backend (Python's ``Path.home()``) agree:
``$HOME`` of the process if it is set, else the passwd entry of the user it runs as. The
gateway starts a stdio upstream itself, with its own environment and user, so it can work
that out honestly for an upstream it runs directly. It cannot for one it does not start
(``--upstream-url``), for a command that runs the server as someone else or elsewhere
(``sudo``, ``docker``, ``ssh``, ``env HOME=...``: first words listed below), or for the built-in
backend given its own ``--download-dir``: there the home is unknown, and a call relying on the
default local path is denied when local paths have rules.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping, Sequence

# Commands that start the server under another user, root folder, machine or environment.
ELSEWHERE = frozenset({
    "sudo", "su", "doas", "runuser", "setpriv", "setuidgid", "chroot", "nsenter", "unshare", "env",
    "docker", "podman", "nerdctl", "kubectl", "lxc", "ssh", "systemd-run", "bwrap", "firejail", "flatpak",
})


def process_home(env: Mapping[str, str], uid: int) -> str | None:
    """What ``os.homedir()`` returns in a process with ``env`` running as ``uid`` (None: not absolute)."""
    if "HOME" in env:
        home = env["HOME"]
        return home if home.startswith("/") else None  # empty or relative: relative to a cwd
    try:
        return pwd.getpwuid(uid).pw_dir or None
    except KeyError:
        return None


def upstream_home(argv: Sequence[str], builtin: bool, env: Mapping[str, str] | None = None,
                  uid: int | None = None) -> str | None:
    """The home of the stdio upstream the gateway starts with ``argv``, if it can be known.

    ``builtin`` is true for the built-in backend (``argv`` then holds its options).
    """
    env = os.environ if env is None else env
    uid = os.getuid() if uid is None else uid
    if not argv:
        return None
    if builtin:
        if any(a == "--download-dir" or a.startswith("--download-dir=") for a in argv):
            return None  # it writes to its own folder, not under a home
    elif os.path.basename(argv[0]) in ELSEWHERE:
        return None
    return process_home(env, uid)


__all__ = ["ELSEWHERE", "process_home", "upstream_home"]
