"""Who runs a command: bash itself (a builtin) or a program found in PATH.

It matters for names that are both: bash's ``test -v NAME`` evaluates NAME's subscript,
coreutils' ``/usr/bin/test`` does not know ``-v`` at all.
"""

from __future__ import annotations

from sshwall.analysis.model import SimpleCommand, WrapperUse
from sshwall.analysis.wrappers import GRAMMARS, SUDO_SHELL_OPTIONS

# Wrappers that hand their command to the shell's own lookup, so a builtin stays a builtin:
# `command test`, `builtin test`. Every other wrapper (sudo, env, timeout, nice, xargs, exec,
# find -exec, /usr/bin/time) runs a program from PATH.
_SHELL_LOOKUP_WRAPPERS = frozenset({"command", "builtin"})


def runs_builtin(cmd: SimpleCommand, exec_after: int | None = None) -> bool:
    """True when bash itself (not a program from PATH) runs ``cmd.argv[0]``.

    ``exec_after``: the command was started by a program (``find -exec``) that stands after
    the first ``exec_after`` wrappers, so only the wrappers after it count. A name with a slash
    is always a file. Otherwise the innermost wrapper decides: ``command`` and ``builtin`` keep
    the shell's lookup (and so do ``sudo -s`` / ``sudo -i``, which pass the command to a shell
    with ``-c``); any other wrapper executes a file.
    """
    if "/" in cmd.argv[0].text:
        return False
    shell = exec_after is None
    for wrapper in cmd.wrappers[exec_after or 0 :]:
        name = wrapper.name.rsplit("/", 1)[-1]
        if name in _SHELL_LOOKUP_WRAPPERS:
            # `command`/`builtin` run by a shell keep its lookup; run by sudo (or as a path)
            # they are the POSIX wrapper scripts RHEL ships (`builtin command "$@"`): same.
            shell = True
        elif name == "sudo" and _sudo_runs_shell(wrapper):
            shell = True
        else:
            shell = False
    return shell


def _sudo_runs_shell(wrapper: WrapperUse) -> bool:
    """``sudo -s CMD`` / ``sudo -i CMD`` pass CMD to a shell with ``-c``."""
    grammar = GRAMMARS["sudo"]
    words = [w.text for w in wrapper.argv[1:]]
    skip = False
    for text in words:
        if skip:
            skip = False
            continue
        if text.startswith("--"):
            opt = text.partition("=")[0]
            if opt in SUDO_SHELL_OPTIONS:
                return True
            skip = opt in grammar.value_long and "=" not in text
            continue
        if not text.startswith("-"):
            continue
        for j, letter in enumerate(text[1:], start=1):
            if letter in "si":
                return True
            if letter in grammar.value_short:
                skip = j == len(text) - 1
                break
    return False
