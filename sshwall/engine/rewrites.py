"""What the upstream does to a command after sshwall has said yes, so sshwall decides on that.

Mcp Ssh changes commands before it runs them (the profile's ``rewrites``):

- **sudo-password**: on a connection with a password, a command that starts with ``sudo `` or
  contains `` sudo `` has every word ``sudo`` turned into ``sudo -S`` and runs as
  ``echo "PASSWORD" | COMMAND 2>/dev/null``. Three things follow. The password is shell text:
  it must be inert inside double quotes (checked at connect, where the agent gives it). The
  word ``sudo`` changes wherever it stands (``echo sudo`` prints ``sudo -S``): the engine decides
  on the rewritten command, with the upstream's own words (its ``echo``, the ``-S`` it adds after
  a sudo, its ``2>/dev/null``) taken as the upstream's. And the password is piped into the first
  element of the command line: every command there must provably not read standard input,
  or ``sudo -n cat`` would print the password. Where the upstream falls back to a password it
  saved for the id (``saved_password_fallback``), a key-only connection may be ``maybe-saved``:
  its commands are decided on both forms, the original and the rewritten.
- **tmux-followups**: a command whose text matches one of the upstream's tmux regexes (anywhere,
  inside quotes too) makes it run further commands with the captured session name pasted
  unescaped. The follow-ups cannot be modelled as commands sshwall checked, so such a command is
  denied, except where the upstream provably runs no follow-up (see ``tmux_problems``).

Pure: no I/O; the analyser is the only parser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

from sshwall.analysis import Analysis, SimpleCommand, analyse, basename
from sshwall.profiles import SudoPasswordRewrite, TmuxFollowups, ToolProfile

# "maybe-saved": no password sshwall saw on the live connection, but the upstream may fall back
# to one it saved for the id earlier (``saved_password_fallback``): decided on both forms.
PasswordState = Literal["none", "checked", "unknown", "maybe-saved"]

# JavaScript's String.prototype.trim() removes these (Python's strip() misses U+FEFF).
JS_WHITESPACE = " \t\n\r\v\f\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# Inside double quotes these are live in sh/bash ($ ` \ " and history !), and a newline ends a
# csh word: a password with none of them is one literal word in every common login shell.
NOT_INERT = frozenset('$`\\"!\n\r')
PLACEHOLDER = "sshwall-password"  # stands for the (checked, inert) password in the analysis

# Programs that never read standard input whatever their arguments (file operands naming stdin
# are refused separately). Deliberately short: anything else in the first element of a
# password-rewritten command could copy the piped password to its output.
NO_STDIN_PROGRAMS = frozenset({
    "true", "false", "id", "whoami", "groups", "uname", "uptime", "hostname", "df", "free", "ps",
    "pwd", "echo", "printf", "ls", "stat", "lsblk", "lscpu", "lsmod", "lspci", "lsusb", "nproc",
    "ip", "ss", "netstat", "systemctl", "journalctl", "dmesg", "who", "w", "last", "mount",
    "findmnt", "getent", "sleep", "test", "[", "vmstat", "iostat", "mpstat", "arch", "hostnamectl",
    "timedatectl", "loginctl", "tty", "locale",
})
# Wrappers that do not read standard input themselves (sudo -S reads only a password).
STDIN_FREE_WRAPPERS = frozenset({"sudo", "timeout", "nice", "ionice", "env", "stdbuf", "nohup", "setsid"})
_STDIN_PATHS = ("/dev/stdin", "/dev/fd", "/proc/self/fd", "/fd/0", "/dev/tty")
_MAX_CUTS = 64


# A checked password whose fitness as typed terminal input was never worked out (fail closed).
TERMINAL_UNCHECKED = "the connection's password was not checked as a typed terminal line"
# Why a "maybe-saved" connection is treated as it is (named in every such reason).
SAVED_FALLBACK = ("without a password on the live connection the upstream falls back to one it saved for this "
                  "connection id earlier (rememberPassword), which sshwall never saw; a policy for an upstream that "
                  "cannot hold saved passwords says `upstream_saved_passwords: none`")


@dataclass(frozen=True)
class ConnectionFacts:
    """What the gateway knows about the connection a call runs on (from its binding).

    ``terminal_problem``: why the (checked) password may not be typed into a terminal as a line
    (see ``sshwall.engine.autopassword``), None when it may.
    """

    password: PasswordState = "unknown"
    terminal_problem: str | None = TERMINAL_UNCHECKED


@dataclass(frozen=True)
class Rewritten:
    """A command as the upstream will run it, or why it cannot be modelled.

    ``analysis`` holds the agent's part of what will run (the upstream's own words removed);
    ``first`` the commands that receive the piped password on standard input.
    """

    analysis: Analysis | None = None
    first: tuple[SimpleCommand, ...] = ()
    problem: str | None = None
    command: str = ""


def password_problem(password: str) -> str | None:
    """Why a password cannot be pasted inside double quotes as inert text, if it cannot."""
    bad = sorted({c for c in password if c in NOT_INERT})
    if not bad:
        return None
    shown = ", ".join("newline" if c == "\n" else "CR" if c == "\r" else f"`{c}`" for c in bad)
    return f"contains {shown}, which the shell interprets inside double quotes"


def connect_problems(prof: ToolProfile, args: Mapping[str, Any], rewrites_password: bool) -> list[str]:
    """Reasons to refuse a connect whose password the upstream would paste into commands."""
    pw_arg, key_arg = prof.arg_of_role("password"), prof.arg_of_role("private-key")
    password = args.get(pw_arg) if pw_arg else None
    if not rewrites_password or not isinstance(password, str) or password == "":
        return []
    out = []
    problem = password_problem(password)
    if problem is not None:
        out.append(f"the upstream pastes the password into `echo \"PASSWORD\" | COMMAND` for sudo commands, and this one {problem}")
    key = args.get(key_arg) if key_arg else None
    if isinstance(key, str) and key:
        out.append("a password next to a private key: SSH authenticates with the key and never checks the password, "
                   "yet the upstream pastes it into every sudo command (`echo \"PASSWORD\" | ...`)")
    return out


def profile_rewrites_password(tools: Mapping[str, ToolProfile]) -> bool:
    """True when some tool of the profile pastes the connection's password into commands."""
    return any(r.kind == "sudo-password" for t in tools.values() for r in t.rewrites)


def profile_saved_fallback(tools: Mapping[str, ToolProfile]) -> bool:
    """True when some password rewrite of the profile falls back to a password saved for the id."""
    return any(getattr(r, "saved_password_fallback", False) for t in tools.values() for r in t.rewrites)


@lru_cache(maxsize=32)
def _word(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.ASCII)  # JavaScript's \b knows only ASCII word characters


def sudo_triggered(rw: SudoPasswordRewrite, text: str) -> bool:
    """True when the upstream rewrites this command (given a password on the connection)."""
    return text.strip(JS_WHITESPACE).startswith(rw.starts_with) or rw.contains in text


def rewrite_sudo(rw: SudoPasswordRewrite, text: str, cs_max_length: int, cs_max_depth: int) -> Rewritten:
    """The command as the upstream runs it, with the password's place held by an inert word."""
    word = _word(rw.word)
    matches = len(word.findall(text))
    command = word.sub(lambda _m: rw.replacement, text)
    full = rw.template.replace("{password}", PLACEHOLDER).replace("{command}", command)
    named = f"the upstream rewrites it to `{rw.template}`"
    whole = analyse(full, cs_max_length, cs_max_depth)
    if not whole.ok:
        return Rewritten(problem=f"{named}, which sshwall cannot analyse: {whole.findings[0].describe()}")
    head = whole.commands[0] if whole.commands else None
    if head is None or [w.text for w in head.argv] != ["echo", PLACEHOLDER] or head.wrappers or head.redirects:
        return Rewritten(problem=f"{named}, and the result does not start with the upstream's own echo")
    own = analyse(command, cs_max_length, cs_max_depth)
    if not own.ok:
        return Rewritten(problem=f"{named}, which sshwall cannot analyse: {own.findings[0].describe()}")
    agent = _strip_upstream_words(whole, own, matches, rw.replacement)
    return Rewritten(agent, _first_element(command, own, cs_max_length, cs_max_depth), command=command)


def _strip_upstream_words(whole: Analysis, own: Analysis, matches: int, replacement: str) -> Analysis:
    """``whole`` without the upstream's echo, its pipe, its ``2>/dev/null`` and its ``-S`` flags.

    The ``-S`` after a sudo is taken as the upstream's only when every match of its word became
    a sudo followed by ``-S`` (an agent's own ``-S`` is then the second one and stays).
    """
    commands = list(whole.commands[1:])
    added = replacement.split()[1:]  # the words the upstream adds after sudo (["-S"])
    hits = [(i, j) for i, c in enumerate(commands) for j, w in enumerate(c.wrappers)
            if basename(w.argv[0]) == "sudo" and [x.text for x in w.argv[1:1 + len(added)]] == added]
    if added and len(hits) == matches:
        for i, j in hits:
            c = commands[i]
            w = c.wrappers[j]
            wrappers = (*c.wrappers[:j], replace(w, argv=(w.argv[0], *w.argv[1 + len(added):])), *c.wrappers[j + 1:])
            commands[i] = replace(c, wrappers=wrappers)
    for i in range(len(commands) - 1, -1, -1):
        reds = commands[i].redirects
        if reds and reds[-1].op == ">" and reds[-1].fd == 2 and getattr(reds[-1].target, "text", None) == "/dev/null":
            commands[i] = replace(commands[i], redirects=reds[:-1])
            break
    operators = whole.operators if "pipe" in own.operators else whole.operators - {"pipe"}
    return replace(whole, commands=tuple(commands), operators=operators)


def _key(c: SimpleCommand) -> tuple[object, ...]:
    return (c.argv, c.assignments, c.redirects, c.wrappers)


def _first_element(command: str, own: Analysis, max_length: int, max_depth: int) -> tuple[SimpleCommand, ...]:
    """The commands of the first element of the line (what ``echo ... |`` feeds).

    The shortest prefix, cut before a ``|``, ``;``, ``&`` or newline, that the analyser reads
    on its own as the same leading commands; all commands when no cut can be shown.
    """
    cuts = [i for i, ch in enumerate(command) if ch in "|;&\n"][:_MAX_CUTS]
    keys = [_key(c) for c in own.commands]
    for i in cuts:
        head = command[:i]
        if not head.strip(JS_WHITESPACE):
            continue
        part = analyse(head, max_length, max_depth)
        if part.ok and part.commands and [_key(c) for c in part.commands] == keys[: len(part.commands)]:
            return own.commands[: len(part.commands)]
    return own.commands


def stdin_problem(c: SimpleCommand) -> str | None:
    """Why this command may read (and so print) the password piped into it, if it may."""
    for r in c.redirects:
        if r.fd in (None, 0) and r.op in ("<", "<<", "<<-", "<<<", "<>"):
            return None
    name = basename(c.argv[0]) if c.argv else ""
    wrappers = [basename(w.argv[0]) for w in c.wrappers]
    odd = [w for w in wrappers if w not in STDIN_FREE_WRAPPERS]
    if odd:
        return f"`{odd[0]}` passes its standard input on"
    if name not in NO_STDIN_PROGRAMS:
        return f"`{name or '(none)'}` may read standard input"
    for w in c.argv[1:]:
        if w.text == "-" or w.text.endswith("=-") or any(p in w.text for p in _STDIN_PATHS):
            return f"`{name}` is given `{w.text}`, which names standard input"
    return None


def tmux_problems(rw: TmuxFollowups, text: str, force: Any) -> list[str]:
    """Reasons the upstream would run follow-up commands built from this command's text.

    Read from the upstream's source: a ``new-session`` match runs ``tmux has-session -t NAME``;
    a ``send-keys`` match runs ``tmux list-panes -t NAME ...`` and more unless ``force`` is true,
    and, in a text with ``&&`` or ``;``, a capture with the last NAME whatever ``force`` says.
    The other patterns only change the reply's wording.
    """
    probe = text.replace("\ufeff", " ")  # JavaScript's \s matches U+FEFF, Python's does not
    found = {kind: m for kind, rx in rw.compiled.items() if (m := rx.search(probe)) is not None}
    out = []
    why = "the upstream then runs follow-up shell commands with `{name}` pasted in unescaped"
    if "new-session" in found:
        out.append(f"the text matches the upstream's `tmux new-session` pattern: {why.format(name=found['new-session'].group(1))}")
    sk = found.get("send-keys")
    if sk is not None and force is not True:
        out.append(f"the text matches the upstream's `tmux send-keys` pattern (even inside quotes) and `force` is not true: "
                   f"{why.format(name=sk.group(1))}")
    elif sk is not None and ("&&" in text or ";" in text):
        out.append(f"the text matches the upstream's `tmux send-keys` pattern and has `&&` or `;`: {why.format(name=sk.group(1))} "
                   "(`force` does not stop these)")
    return out


__all__ = [
    "SAVED_FALLBACK", "TERMINAL_UNCHECKED", "ConnectionFacts", "PasswordState", "Rewritten", "connect_problems",
    "password_problem", "profile_rewrites_password", "profile_saved_fallback", "rewrite_sudo", "stdin_problem", "sudo_triggered", "tmux_problems",
]
