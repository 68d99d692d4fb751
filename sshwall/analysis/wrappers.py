"""Wrappers: programs that run another program (sudo, env, timeout, xargs, sh -c, ...).

Each wrapper's option grammar is data here, so the analyser can find exactly where the wrapped
command starts. An option a grammar does not know might take a value and shift that start, so
it is a ``WrapperError`` (deny), never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sshwall.analysis.model import Word, WrapperUse
from sshwall.errors import WrapperError

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "posh", "rbash"})
FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
MAX_WRAPPERS = 16
# sudo -s / -i join the command's words into one string for `$SHELL -c`, escaping every
# character with a backslash except letters, digits, `_`, `-` and `$`.
SUDO_SHELL_OPTIONS = frozenset({"-s", "--shell", "-i", "--login"})
# Options after which the wrapped command runs in another folder than the shell's (sudo -i
# starts a login shell in the target user's home); chroot always does (its root is another).
MOVES_FOLDER: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-D", "--chdir", "-i", "--login"}),
    "env": frozenset({"-C", "--chdir"}),
}
ALWAYS_MOVES = frozenset({"chroot"})
# A login or interactive shell reads startup files, which may change folder.
_SHELL_STARTUP_LONG = frozenset({"--login", "--rcfile", "--init-file", "--interactive"})


@dataclass(frozen=True)
class Grammar:
    """How one wrapper's options are written, and where its command starts."""

    value_short: str = ""
    bool_short: str = ""
    value_long: frozenset[str] = frozenset()
    bool_long: frozenset[str] = frozenset()
    positionals: int = 0  # operands before the command (timeout's duration, chroot's root)
    no_exec: frozenset[str] = frozenset()  # options after which nothing is run
    assignments: bool = False  # NAME=VALUE words may precede the command
    numeric_option: bool = False  # nice -5
    extra_args: bool = False  # the command gets arguments from stdin (xargs)
    optional_attached: str = ""  # short options whose value, optional, can only be attached


def _g(**kw: object) -> Grammar:
    for key in ("value_long", "bool_long", "no_exec"):
        if key in kw:
            kw[key] = frozenset(kw[key])  # type: ignore[call-overload]
    return Grammar(**kw)  # type: ignore[arg-type]


GRAMMARS: dict[str, Grammar] = {
    "sudo": _g(
        value_short="ugCDhprtUTR",
        bool_short="AbEeHiKklnPSsVvBN",
        value_long={"--user", "--group", "--close-from", "--chdir", "--host", "--prompt",
                    "--role", "--type", "--other-user", "--command-timeout", "--chroot"},
        bool_long={"--askpass", "--background", "--preserve-env", "--edit", "--set-home",
                   "--login", "--remove-timestamp", "--reset-timestamp", "--list",
                   "--non-interactive", "--preserve-groups", "--stdin", "--shell", "--version",
                   "--validate", "--bell", "--no-update", "--help"},
        no_exec={"-e", "--edit", "-l", "--list", "-v", "--validate", "-k", "-K",
                 "--remove-timestamp", "--reset-timestamp", "-V", "--version", "--help"},
        assignments=True,
    ),
    "doas": _g(value_short="uaC", bool_short="nsL", no_exec={"-C", "-L"}),
    "env": _g(
        value_short="uCS",
        bool_short="i0v",
        value_long={"--unset", "--chdir", "--split-string"},
        bool_long={"--ignore-environment", "--null", "--debug"},
        assignments=True,
    ),
    "timeout": _g(value_short="sk", bool_short="v",
                  value_long={"--signal", "--kill-after"},
                  bool_long={"--preserve-status", "--foreground", "--verbose"}, positionals=1),
    "nice": _g(value_short="n", value_long={"--adjustment"}, numeric_option=True),
    "ionice": _g(value_short="cnpPu", bool_short="t",
                 value_long={"--class", "--classdata", "--pid", "--pgid", "--uid"},
                 bool_long={"--ignore"},
                 no_exec={"-p", "-P", "-u", "--pid", "--pgid", "--uid"}),
    "stdbuf": _g(value_short="ioe", value_long={"--input", "--output", "--error"}),
    "nohup": _g(),
    "setsid": _g(bool_short="cfw", bool_long={"--ctty", "--fork", "--wait"}),
    "chroot": _g(value_long={"--userspec", "--groups"}, bool_long={"--skip-chdir"},
                 positionals=1),
    "time": _g(value_short="fo", bool_short="apqv", value_long={"--format", "--output"},
               bool_long={"--append", "--portability", "--quiet", "--verbose"}),
    "command": _g(bool_short="pvV", no_exec={"-v", "-V"}),
    "builtin": _g(),
    "exec": _g(value_short="a", bool_short="cl"),
    "xargs": _g(
        value_short="adEILnPs",
        bool_short="0oprtxil",
        optional_attached="il",  # -i[REPLACE], -l[MAX]: an optional value, attached only
        value_long={"--arg-file", "--delimiter", "--max-lines", "--max-args", "--max-procs",
                    "--max-chars", "--process-slot-var", "--replace", "--eof"},
        bool_long={"--null", "--open-tty", "--interactive", "--no-run-if-empty", "--verbose",
                   "--exit", "--show-limits"},
        extra_args=True,
    ),
}


@dataclass(frozen=True)
class Unwrapped:
    """What one wrapper layer runs: the inner argv, or a script to re-parse (``sh -c``)."""

    wrapper: WrapperUse
    argv: tuple[Word, ...] = ()
    assignments: tuple[tuple[str, Word], ...] = ()
    script: Word | None = None
    extra_args: bool = False
    shell_args: tuple[Word, ...] = field(default=())
    moves: bool = False  # the command runs in another folder (env -C, sudo -D, chroot, bash -l)


def basename(word: Word) -> str:
    """The program name without its directory."""
    return word.text.rsplit("/", 1)[-1]


def _parse_options(name: str, g: Grammar, argv: tuple[Word, ...]) -> tuple[int, set[str]]:
    """Index of the first non-option word, and the options seen."""
    seen: set[str] = set()
    i = 1
    while i < len(argv):
        w = argv[i]
        t = w.text
        if not t.startswith("-") or t == "-":
            if t == "-" and name == "env":
                seen.add("-i")
                i += 1
                continue
            break
        if not w.literal:
            raise WrapperError(f"option word {t!r} of {name} is not a literal")
        if t == "--":
            return i + 1, seen
        if t.startswith("--"):
            opt, eq, _ = t.partition("=")
            if opt in g.value_long:
                i += 0 if eq else 1
            elif opt not in g.bool_long:
                raise WrapperError(f"unknown option {opt} of {name}")
            seen.add(opt)
        elif g.numeric_option and t[1:].isdigit():
            seen.add("-" + t[1:])
        else:
            for j, c in enumerate(t[1:], start=1):
                if c in g.bool_short and c in g.optional_attached:
                    seen.add("-" + c)
                    break  # the rest of the word, if any, is its value
                if c in g.value_short:
                    seen.add("-" + c)
                    if j == len(t) - 1:
                        i += 1
                    break
                if c not in g.bool_short:
                    raise WrapperError(f"unknown option -{c} of {name}")
                seen.add("-" + c)
        i += 1
    return i, seen


def _assignment(word: Word) -> tuple[str, Word] | None:
    name, eq, value = word.text.partition("=")
    if eq and name and (name[0].isalpha() or name[0] == "_") and all(
        c.isalnum() or c == "_" for c in name
    ):
        raw = value
        return name, Word(text=raw, pattern=word.pattern[len(name) + 1 :], dynamic=word.dynamic)
    return None


def _shell(name: str, argv: tuple[Word, ...]) -> Unwrapped | None:
    """``sh -c SCRIPT [ARG0 ARGS...]``: the script to re-parse; None without ``-c``."""
    has_c = False
    startup = False
    i = 1
    while i < len(argv):
        t = argv[i].text
        if not argv[i].literal:
            raise WrapperError(f"option word {t!r} of {name} is not a literal")
        if t in ("--", "-"):
            i += 1
            break
        if t.startswith("--"):
            startup = startup or t in _SHELL_STARTUP_LONG
            if t in ("--rcfile", "--init-file"):
                i += 1
            i += 1
            continue
        if t[:1] in "-+" and len(t) > 1:
            letters = t[1:]
            has_c = has_c or (t[0] == "-" and "c" in letters)
            startup = startup or (t[0] == "-" and bool(set(letters) & {"l", "i"}))
            if letters[-1] in "oO":
                i += 1
            i += 1
            continue
        break
    if not has_c:
        return None
    if i >= len(argv):
        raise WrapperError(f"{name} -c without a command string")
    return Unwrapped(
        wrapper=WrapperUse(argv[:i]), script=argv[i], shell_args=argv[i + 1 :], moves=startup
    )


def _check_sudo_shell_words(words: tuple[Word, ...]) -> None:
    """Refuse words the shell behind ``sudo -s``/``-i`` reads differently from sshwall.

    sudo leaves ``$`` unescaped, so that shell expands ``$1``, ``$HOME`` in a word sshwall
    read as literal (``sudo -s cat '/etc/sh$1adow'`` reads /etc/shadow), and a newline becomes
    a backslash-newline, which the shell deletes (``'/etc/sha<newline>dow'``). Verified with
    sudo 1.9.13 on Debian 12.
    """
    for word in words:
        if not word.literal or "$" in word.text or "\n" in word.text:
            raise WrapperError(
                f"sudo -s/-i passes {word.text!r} to a shell that expands `$` and joins lines in it"
            )


def unwrap_once(argv: tuple[Word, ...]) -> Unwrapped | None:
    """Peel one wrapper off ``argv``; None when ``argv[0]`` is not a wrapper that runs one."""
    if not argv or not argv[0].literal:
        return None
    name = basename(argv[0])
    if name in SHELLS:
        return _shell(name, argv)
    if name == "busybox":
        if len(argv) > 1 and not argv[1].text.startswith("-"):
            return Unwrapped(wrapper=WrapperUse(argv[:1]), argv=argv[1:])
        return None
    g = GRAMMARS.get(name)
    if g is None:
        return None
    i, seen = _parse_options(name, g, argv)
    if name == "env" and seen & {"-S", "--split-string"}:
        raise WrapperError("env -S/--split-string splits a string into a command sshwall does not analyse")
    if seen & g.no_exec:
        return None
    if name == "sudo" and seen & SUDO_SHELL_OPTIONS:
        _check_sudo_shell_words(argv[i:])
    i += g.positionals
    assignments: list[tuple[str, Word]] = []
    while g.assignments and i < len(argv):
        a = _assignment(argv[i])
        if a is None:
            break
        assignments.append(a)
        i += 1
    if i >= len(argv):
        return None
    return Unwrapped(
        wrapper=WrapperUse(argv[:i]),
        argv=argv[i:],
        assignments=tuple(assignments),
        extra_args=g.extra_args,
        moves=name in ALWAYS_MOVES or bool(seen & MOVES_FOLDER.get(name, frozenset())),
    )


def find_exec_commands(argv: tuple[Word, ...]) -> list[tuple[Word, ...]]:
    """The commands ``find ... -exec CMD ... ;`` runs (``{}`` stays an operand)."""
    out: list[tuple[Word, ...]] = []
    i = 1
    while i < len(argv):
        if argv[i].text in FIND_EXEC:
            j = i + 1
            while j < len(argv) and argv[j].text not in (";", "+"):
                j += 1
            if j > i + 1:
                out.append(argv[i + 1 : j])
            i = j
        i += 1
    return out
