"""The password the upstream types into terminals by itself (the profile's ``terminal-auto-password``).

Mcp Ssh watches every terminal's output; when a chunk contains ``Password:`` (or its other
triggers) it writes the connection's password and Enter into the PTY, onto whatever line is
being typed, and replaces the next ``writeToTerminal``'s data with the same. The agent controls
the trigger (``echo Password:``, or just typing the word: the PTY echoes it), so the password is
typed input at a moment the agent picks, and whoever reads the terminal then gets it. Behind a
sudo prompt that is the intended use; at a shell prompt, or to a shell ``read`` whose script
runs its answer, the password is a command line. So on a connection with a password:

- the password must be a line the terminal rules would allow if the agent typed it (checked
  once, at connect, where sshwall sees it; the reason never repeats the password);
- a password sshwall never saw (saved in the upstream, learned from a listing) cannot be
  checked: terminals there are denied, on a key-only connection too when the upstream falls
  back to a saved password (``saved_password_fallback``) and the policy says one may exist;
- every write must end its line: the password arrives after the write, so it must find an
  empty line (a pending ``eval `` would run it), and a write the upstream drops in favour of
  the password must not leave sshwall believing a line is half-typed.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection

from sshwall.analysis import analyse
from sshwall.engine.commands import check_commands
from sshwall.engine.keystrokes import replay
from sshwall.engine.rewrites import SAVED_FALLBACK, ConnectionFacts
from sshwall.policy.base import Decision
from sshwall.policy.model import Policy
from sshwall.profiles import TerminalAutoPassword

WHAT = ("the upstream types the connection's password and Enter into the terminal whenever its output "
        "shows {triggers} (anyone can print that: echoed at a shell prompt, the password runs as a command line)")


def _what(rw: TerminalAutoPassword) -> str:
    return WHAT.format(triggers=" or ".join(f"`{t}`" for t in rw.triggers) or "its prompt")


def typed_password_problem(policy: Policy, command_set: str | None, password: str) -> str | None:
    """Why ``password``, typed into a terminal of this policy, is not an allowed line, if it is not.

    ``command_set`` is the host group's own set (it replaces the terminal rule's set there).
    None when the profile has no auto-typing terminal or the password is allowed as a line.
    """
    for tool, prof in policy.profile.tools.items():
        for rw in prof.rewrites:
            if not isinstance(rw, TerminalAutoPassword) or rw.argument is None:
                continue
            rule = policy.tools.get(tool)
            if rule is None or rule.terminal is None:
                return f"{_what(rw)}, and `{tool}` has no terminal rule to check the password as a typed line"
            cs_name = command_set or rule.terminal.commands
            cs = policy.commands.get(cs_name)
            if cs is None:
                return f"{_what(rw)}, and command set {cs_name!r} does not exist"
            keys = replay(rw.typed.replace("{password}", password), ())
            if keys.problem is not None or keys.pending:
                return f"{_what(rw)}, and this password holds a line break or a control key"
            for line in keys.lines:
                if not line.strip():
                    continue
                hits = check_commands(cs_name, cs, analyse(line, cs.max_length, cs.max_depth), None)
                bad = sorted({h.rule for h in hits if h.decision != Decision.ALLOW})
                if bad:
                    return (f"{_what(rw)}, and this password, typed as a shell line, is not allowed by command set "
                            f"`{cs_name}` (rules {', '.join(bad)}; the password itself is not shown)")
    return None


def terminal_problems(rw: TerminalAutoPassword, facts: ConnectionFacts | None, data: object,
                      allowed: Collection[str], typed: str) -> list[str]:
    """Reasons to refuse a terminal call on a connection whose password the upstream types in.

    ``data`` is the keystrokes (for the tool that writes them), ``typed`` the line pending on
    the session. Without facts (``sshwall check``) the connection is taken to have no password.
    """
    if facts is None or facts.password == "none" or (facts.password == "maybe-saved" and not rw.saved_password_fallback):
        return []
    if facts.password == "maybe-saved":
        return [(f"{_what(rw)}: {SAVED_FALLBACK}. What it would type cannot be checked, so terminals on this "
                 "connection are denied")]
    if facts.password == "unknown":
        hint = ("connect through sshwall with a key and no password" if not rw.saved_password_fallback else
                "connect through sshwall with a key and no password, under `upstream_saved_passwords: none`")
        return [(f"{_what(rw)}, and this connection may hold a password sshwall never saw, so what would be typed "
                 f"cannot be checked ({hint})")]
    out = []
    if facts.terminal_problem is not None:
        out.append(facts.terminal_problem)
    if rw.argument is not None and isinstance(data, str):
        keys = replay(data, allowed, typed)
        if keys.problem is None and (keys.pending or typed):
            out.append(f"{_what(rw)}, onto whatever is typed so far: on this password connection every write must "
                       "end its line (finish it with Enter)")
    return out


__all__ = ["terminal_problems", "typed_password_problem"]
