"""Opt-in emulation of what the real Mcp Ssh does to commands (``--emulate-mcp-ssh-rewrites``).

The real server pastes a connection's password into sudo commands, runs tmux follow-up
commands built from a command's text, and types the password into a terminal whose output shows
``Password:``; where the live connection has no password it uses the one it saved for the id
earlier (see ``rules/profiles/mcp-ssh.yaml``). All are unsafe; the built-in backend does none of
them by default. Tests switch this on to show that an attack through these rewrites is real
against an unprotected upstream, and that sshwall stops it. The rules applied here are the
profile's own description (its ``rewrites``), not a second copy.

One thing here is NOT what the real server does: ``merged_credentials`` lets a password-only
reconnect authenticate with the key the id had. The real server authenticates with the call's
own credentials (a wrong password fails); it merges the old config only into what it keeps for
the connection. The test sshd takes keys only, so this convenience is how tests get a
connection holding an agent-chosen password. It is still safe for sshwall: sshwall never relies
on SSH checking a password (it checks every connect's password itself, inert inside double
quotes and as a typed terminal line, whichever way the upstream authenticates).
"""

from __future__ import annotations

import re
from functools import lru_cache

from sshwall.backend.ssh import Credentials
from sshwall.policy.load import load_profile
from sshwall.profiles import SudoPasswordRewrite, TerminalAutoPassword, TmuxFollowups

JS_WHITESPACE = " \t\n\r\v\f\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


@lru_cache(maxsize=1)
def _rules() -> tuple[SudoPasswordRewrite, TmuxFollowups]:
    rewrites = load_profile("mcp-ssh").tools["executeCommand"].rewrites
    sudo = next(r for r in rewrites if isinstance(r, SudoPasswordRewrite))
    tmux = next(r for r in rewrites if isinstance(r, TmuxFollowups))
    return sudo, tmux


def sudo_rewrite(command: str, password: str | None) -> str:
    """The command as the real server runs it on a connection with ``password``."""
    rw, _ = _rules()
    if not password:
        return command
    if not (command.strip(JS_WHITESPACE).startswith(rw.starts_with) or rw.contains in command):
        return command
    replaced = re.sub(rw.word, lambda _m: rw.replacement, command, flags=re.ASCII)
    return rw.template.replace("{password}", password).replace("{command}", replaced)


def tmux_precheck(command: str, force: bool | None) -> str | None:
    """The first follow-up command the real server runs before a tmux send-keys, if any."""
    _, rw = _rules()
    match = re.search(rw.patterns["send-keys"], command)
    if match is None or force:
        return None
    return f'tmux list-panes -t {match.group(1)} -F "#{{pane_pid}} #{{pane_current_command}}"'


@lru_cache(maxsize=1)
def terminal_autotype() -> TerminalAutoPassword:
    """What the real server types into a terminal by itself, and when (the profile's description)."""
    rewrites = load_profile("mcp-ssh").tools["mcp_ssh_mcp_writeToTerminal"].rewrites
    return next(r for r in rewrites if isinstance(r, TerminalAutoPassword))


def merged_credentials(old: Credentials | None, new: Credentials) -> Credentials:
    """The credentials this backend connects with when the id is known but not connected.

    A test convenience, unlike the real server: a password-only connect keeps the id's old key,
    so SSH never checks the new password. The real server spreads the new config over the old
    one only for what it keeps (the new config always carries ``password``, a key only when
    given) and authenticates with the call's own credentials, so there a wrong password fails.
    Tests use this to put an agent-chosen password on a connection to the key-only test sshd;
    sshwall's checks of that password do not depend on which way SSH authenticated.
    """
    if old is None or new.private_key:
        return new
    return Credentials(new.username, new.password, old.private_key, old.passphrase)
