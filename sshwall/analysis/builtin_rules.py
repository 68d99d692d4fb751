"""Builtins whose grammar does not fit the option table: test/[, trap, set, shopt, fc, history,
bind, alias, enable, jobs -x, and the `[[` keyword.

Each handler takes the builtin's name and its words after the name and yields ``Problem``s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sshwall.analysis.builtin_table import SET_LETTERS, SET_UNSAFE_LETTERS, SET_UNSAFE_NAMES
from sshwall.analysis.model import FindingKind, Word

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class Problem:
    """One word or option a builtin evaluates that sshwall cannot vouch for."""

    kind: FindingKind
    detail: str


def describe(word: Word) -> str:
    """A word as the reason quotes it."""
    return f"`{word.text}`"


def _code(detail: str) -> Problem:
    return Problem(FindingKind.SHELL_CODE, detail)


def _flags(args: tuple[Word, ...], letters: str, valued: str = "") -> tuple[set[str], int, Word | None]:
    """Leading option letters (``internal_getopt`` style), index of the first operand, and the
    first non-literal option-position word if any (its meaning is unknown)."""
    seen: set[str] = set()
    i = 0
    while i < len(args):
        word = args[i]
        if not word.literal:
            return seen, i, word if word.pattern[:1] in ("", "-", "*", "?", "[", "{") or word.text[:1] in "$`" else None
        text = word.text
        if text == "--":
            return seen, i + 1, None
        if len(text) < 2 or text[0] != "-":
            break
        for j, letter in enumerate(text[1:], start=1):
            seen.add(letter if letter in letters or letter in valued else "?" + letter)
            if letter in valued:
                i += 0 if j < len(text) - 1 else 1
                break
        i += 1
    return seen, i, None


def _test(name: str, args: tuple[Word, ...]) -> Iterator[Problem]:
    """``test -v NAME`` / ``[ -v NAME ]`` evaluate NAME's subscript (bash 5); ``-eq`` and the
    other integer comparisons of test/[ do not (bash: "integer expression expected").

    A word whose value is unknown is a risk where it could become ``-v`` with an evaluated word
    after it: an unquoted expansion (it splits into any expression: ``f='-v a[$(id)]'; [ $f ]``),
    a quoted one followed by anything but a plain name, or a relative glob or brace list (file
    names and brace words can be anything).
    """
    words = args[:-1] if name == "[" and args and args[-1].literal and args[-1].text == "]" else args
    for i, word in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else None
        if word.literal:
            if word.text == "-v" and nxt is not None and not _plain_name(nxt):
                yield Problem(
                    FindingKind.EVALUATED_WORD,
                    f"`{name} -v` evaluates {describe(nxt)} as a variable name"
                    + (": its `[...]` subscript is evaluated arithmetically, which runs commands"
                       if nxt.literal else ", and its value is not known"),
                )
            continue
        if word.split or (word.dynamic and nxt is not None and not _plain_name(nxt)):
            yield Problem(
                FindingKind.EVALUATED_WORD,
                f"`{name}` gets {describe(word)}, whose value is not known: as `-v` (or split into "
                f"`-v NAME[...]`) it makes `{name}` evaluate a variable name, which runs `$(...)` in subscripts",
            )
            return
        if not word.dynamic and not _fixed_start(word):
            yield Problem(
                FindingKind.EVALUATED_WORD,
                f"`{name}` gets {describe(word)}, which expands to words sshwall cannot list: one of "
                f"them could be `-v` and make `{name}` evaluate the next as a variable name",
            )
            return


def _plain_name(word: Word) -> bool:
    return word.literal and _IDENTIFIER.match(word.text) is not None


def _fixed_start(word: Word) -> bool:
    """A glob, brace or tilde word whose every expansion starts with ``/`` (never an operator)."""
    return word.pattern.startswith("/") or word.text == "~" or word.text.startswith("~/")


def _double_bracket(name: str, args: tuple[Word, ...]) -> Iterator[Problem]:
    # bashlex does not parse `[[ ]]` (every form is a parse error), so this only sees a quoted
    # `[[`, which bash runs as a program of that name; refuse it all the same.
    yield Problem(
        FindingKind.EVALUATED_WORD,
        "`[[ ]]` evaluates `-v` operands as names and both operands of -eq/-ne/-lt/-le/-gt/-ge as "
        "arithmetic, which runs `$(...)` in subscripts",
    )


def _trap(name: str, args: tuple[Word, ...]) -> Iterator[Problem]:
    seen, i, unknown = _flags(args, "lp")
    if unknown is not None:
        yield _code(f"`trap` gets {describe(unknown)}, whose value is not known")
        return
    operands = args[i:]
    if "l" in seen or "p" in seen or len(operands) < 2:
        return  # lists traps, or resets one (`trap SIG`); bash refuses a lone action
    action = operands[0]
    if action.literal and action.text == "-":
        return  # resets the signals to their defaults
    yield _code(f"`trap` runs {describe(action)} as a shell command when the signal comes (EXIT: when the shell ends)")


def _set(name: str, args: tuple[Word, ...]) -> Iterator[Problem]:
    i = 0
    while i < len(args):
        word = args[i]
        if not word.literal:
            if word.pattern[:1] in ("", "-", "+", "*", "?", "[", "{") or word.text[:1] in "$`":
                yield _code(f"`set` gets {describe(word)}, whose value is not known: it could set any shell option")
            return
        text = word.text
        if text in ("--", "-") or len(text) < 2 or text[0] not in "-+":
            return  # the rest are positional parameters
        for letter in text[1:]:
            if letter == "o":
                i += 1
                option = args[i] if i < len(args) else None
                if option is None:
                    return  # `set -o` lists the options
                if not option.literal or option.text in SET_UNSAFE_NAMES:
                    yield _code(f"`set {text[0]}o {option.text}` changes how bash evaluates later commands")
            elif letter in SET_UNSAFE_LETTERS or letter not in SET_LETTERS:
                yield _code(
                    f"`set {text[0]}{letter}` changes how bash evaluates later commands "
                    "(-x expands PS4, -k makes NAME=VALUE arguments environment assignments)"
                )
        i += 1


def _shopt(name: str, args: tuple[Word, ...]) -> Iterator[Problem]:
    seen, i, unknown = _flags(args, "pqsuo")
    if unknown is not None or (("s" in seen or "u" in seen) and args[i:]):
        yield _code(
            "`shopt -s/-u` changes how bash reads later words (expand_aliases, extglob, nullglob, "
            "failglob, xpg_echo, ...)"
        )


def _fc(name: str, args: tuple[Word, ...]) -> Iterator[Problem]:
    seen, _, unknown = _flags(args, "lnrs", valued="e")
    if unknown is not None or "l" not in seen or "s" in seen or "e" in seen:
        yield _code("`fc` runs commands from the history (-e runs an editor command on them)")


def _history(name: str, args: tuple[Word, ...]) -> Iterator[Problem]:
    seen, _, unknown = _flags(args, "acnprsw", valued="d")
    if unknown is not None or seen & set("anrw"):
        yield _code("`history -a/-n/-r/-w` reads or writes a history file")


def _bind(name: str, args: tuple[Word, ...]) -> Iterator[Problem]:
    seen, i, unknown = _flags(args, "lpsvPSVX", valued="mfqurx")
    if unknown is not None or seen & set("xf") or args[i:]:
        yield _code(
            "`bind` binds keys to shell commands (-x) or to input an interactive shell then runs"
        )


def _alias(name: str, args: tuple[Word, ...]) -> Iterator[Problem]:
    for word in args:
        if not word.literal or "=" in word.text:
            yield _code(
                f"`alias {word.text}` defines an alias: where aliases expand (interactive shells, sh, "
                "`shopt -s expand_aliases`) the name then runs its value"
            )
            return


def _enable(name: str, args: tuple[Word, ...]) -> Iterator[Problem]:
    seen, i, unknown = _flags(args, "adnps", valued="f")
    if unknown is not None or "f" in seen:
        yield _code("`enable -f` loads a shared object into bash, which runs its code")
    elif args[i:] and not seen & set("nd"):
        # bash 5.2 loads `enable NAME` as a shared object (from BASH_LOADABLES_PATH, or the
        # path itself) when NAME is not a builtin: verified with a constructor that writes a file.
        yield _code(f"`enable {args[i].text}` loads it as a shared object when it is not a builtin")


def _jobs(name: str, args: tuple[Word, ...]) -> Iterator[Problem]:
    seen, _, unknown = _flags(args, "lnprs", valued="x")
    if unknown is not None or "x" in seen:
        # `jobs -x CMD ARGS` runs CMD with job specs in ARGS replaced by process group ids.
        yield _code("`jobs -x` runs its arguments as a command")


Handler = Callable[[str, tuple[Word, ...]], Iterable[Problem]]

SPECIAL: dict[str, Handler] = {
    "test": _test,
    "[": _test,
    "[[": _double_bracket,
    "trap": _trap,
    "set": _set,
    "shopt": _shopt,
    "fc": _fc,
    "history": _history,
    "bind": _bind,
    "alias": _alias,
    "enable": _enable,
    "jobs": _jobs,
}
