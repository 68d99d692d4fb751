"""Bash builtins that evaluate words: a literal word is not harmless when bash evaluates it.

``test -v 'a[$(id)]'`` runs ``id``: the single quotes keep the shell from expanding the word,
but ``test -v`` then reads it as a variable name and evaluates its array subscript
arithmetically, and arithmetic expands ``$(...)``. The same holds for every builtin that takes
a variable name (``printf -v``, ``read``, ``declare``, ``unset``, ``wait -p``, ...), for
arithmetic (``let``), and for builtins that run a string or a file as code (``eval``, ``trap``,
``mapfile -C``, ``enable -f``, ...). This module checks one simple command, after its wrappers
were unwrapped, against the table in ``builtin_table`` and reports what it cannot vouch for.

A plain identifier (``test -v HOME``, ``printf -v out``) is left to the policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sshwall.analysis.builtin_rules import SPECIAL, Problem, describe
from sshwall.analysis.builtin_table import (
    ALWAYS_CODE,
    BUILTINS,
    INTEGER_VARIABLES,
    SHELL_VARIABLES,
    BuiltinSpec,
    Operands,
)
from sshwall.analysis.lookup import runs_builtin
from sshwall.analysis.model import FindingKind, SimpleCommand, Word

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# bash 5.2 arithmetic with no names in it: numbers, operators, parentheses. Hex and base#n
# literals are folded to 0 first, so every remaining letter is part of a name.
_PURE_ARITH = re.compile(r"[0-9\s+\-*/%<>=!&|^~?:,()]*\Z")
_NUMBER_LITERAL = re.compile(r"\b(?:0[xX][0-9A-Fa-f]+|[0-9]+#[0-9A-Za-z@_]+)")


@dataclass(frozen=True, slots=True)
class BuiltinCheck:
    """What one command's builtin analysis found: problems, and the variables it assigns."""

    problems: tuple[Problem, ...] = ()
    sets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Options:
    """A builtin's command line split by bash's ``internal_getopt`` rules."""

    flags: tuple[tuple[str, Word | None], ...]  # ("-v", value) in order; value None for switches
    operands: tuple[Word, ...]

    def has(self, flag: str) -> bool:
        return any(f == flag for f, _ in self.flags)


class _Unknown(ValueError):
    """An option word sshwall cannot split with certainty."""


def check_builtin(cmd: SimpleCommand, exec_after: int | None = None) -> BuiltinCheck:
    """Check ``cmd`` (wrappers already unwrapped) for words a bash builtin evaluates.

    ``exec_after`` is as for ``runs_builtin``.
    """
    found = (_integer_assignment(name, value) for name, value in cmd.assignments if name in INTEGER_VARIABLES)
    assigned = tuple(p for p in found if p is not None)
    if not cmd.argv:
        return BuiltinCheck(assigned)
    check = _check_argv(cmd, exec_after)
    return BuiltinCheck(assigned + check.problems, check.sets)


def _check_argv(cmd: SimpleCommand, exec_after: int | None) -> BuiltinCheck:
    head = cmd.argv[0]
    name = head.text.rsplit("/", 1)[-1]
    if _subscript_assignment(head.text):
        return BuiltinCheck((Problem(
            FindingKind.EVALUATED_WORD,
            f"`{head.text}` assigns an array element: bash evaluates the subscript arithmetically, which runs commands",
        ),))
    if name in ALWAYS_CODE:
        return BuiltinCheck((Problem(FindingKind.SHELL_CODE, f"`{name}` {ALWAYS_CODE[name]}"),))
    special = SPECIAL.get(name)
    spec = BUILTINS.get(name)
    if special is None and spec is None:
        return BuiltinCheck()
    external_safe = name in ("test", "[") or (spec is not None and spec.external_safe)
    if external_safe and not runs_builtin(cmd, exec_after):
        return BuiltinCheck()  # coreutils test/printf: verified to evaluate none of these words
    args = cmd.argv[1:]
    if special is not None:
        return BuiltinCheck(tuple(special(name, args)))
    assert spec is not None
    try:
        opts = parse_options(spec, args)
    except _Unknown as err:
        return BuiltinCheck((Problem(FindingKind.EVALUATED_WORD, f"`{name}`: {err}"),))
    problems: list[Problem] = []
    sets: list[str] = []
    for flag, value in opts.flags:
        if flag in spec.refuse:
            problems.append(Problem(FindingKind.SHELL_CODE, f"`{name} {flag}` {spec.refuse[flag]}"))
        if flag in spec.code_values:
            problems.append(Problem(FindingKind.SHELL_CODE, f"`{name} {flag}` {spec.code_values[flag]}"))
        if value is not None and flag[0] == "-" and flag[1] in spec.name_values:
            problems.extend(_name(f"{name} {flag}", value, spec.assigns, sets))
        if value is not None and flag[0] == "-" and flag[1] in spec.expand_values and _expands(value):
            problems.append(Problem(
                FindingKind.SHELL_CODE,
                f"`{name} {flag}` expands {describe(value)} again, which runs `$(...)` and backticks in it",
            ))
    problems.extend(_operands(name, spec, opts, sets))
    return BuiltinCheck(tuple(problems), tuple(sets))


def _integer_assignment(name: str, value: Word) -> Problem | None:
    """``OPTIND=VALUE``: the variable has the integer attribute, so VALUE is arithmetic."""
    if value.literal and _PURE_ARITH.match(_NUMBER_LITERAL.sub("0", value.text)):
        return None
    return Problem(
        FindingKind.EVALUATED_WORD,
        f"`{name}` has the integer attribute: bash evaluates the value assigned to it ({describe(value)}) "
        "as arithmetic, which runs `$(...)` in subscripts",
    )


def _expands(word: Word) -> bool:
    """Would a second round of expansion find anything in ``word``?"""
    return not word.literal or any(c in word.text for c in "$`<>")


def _subscript_assignment(text: str) -> bool:
    """``a[i]=1`` read as a word: bash assigns the element, evaluating ``i``."""
    name, bracket, rest = text.partition("[")
    return bool(bracket) and bool(IDENTIFIER.match(name)) and ("]=" in rest or "]+=" in rest)


def parse_options(spec: BuiltinSpec, args: tuple[Word, ...]) -> Options:
    """Split ``args`` as bash's ``internal_getopt`` does for ``spec``'s option string."""
    flags: list[tuple[str, Word | None]] = []
    signs = "-+" if spec.plus else "-"
    i = 0
    while i < len(args):
        word = args[i]
        if not word.literal:
            if _may_be_option(word, signs):
                raise _Unknown(f"cannot tell whether {describe(word)} is an option (its value is not known)")
            break
        text = word.text
        if text == "--":
            i += 1
            break
        if len(text) < 2 or text[0] not in signs:
            break
        j = 1
        while j < len(text):
            letter = text[j]
            at = spec.options.find(letter)
            if at < 0 or letter == ":":
                raise _Unknown(f"option {text[0]}{letter} is not known to sshwall")
            if spec.options[at + 1 : at + 2] == ":":
                rest = text[j + 1 :]
                if rest:
                    value: Word | None = Word(text=rest, pattern=rest)
                elif i + 1 < len(args):
                    i += 1
                    value = args[i]
                else:
                    value = None
                flags.append((text[0] + letter, value))
                break
            flags.append((text[0] + letter, None))
            j += 1
        i += 1
    return Options(tuple(flags), args[i:])


# Special parameters that always expand to a number (a PID, a count, a status): never options.
_NUMERIC_PARAMETERS = frozenset({"$!", "$$", "$#", "$?", "${!}", "${$}", "${#}", "${?}"})


def _may_be_option(word: Word, signs: str) -> bool:
    """Could a non-literal word expand to something starting with ``-`` (or ``+``)?"""
    if word.text in _NUMERIC_PARAMETERS:
        return False
    first = word.pattern[:1]
    return first == "" or first in signs or first in "*?[{" or word.text[:1] in "$`"


def _operands(name: str, spec: BuiltinSpec, opts: Options, sets: list[str]) -> Iterable[Problem]:
    kind = spec.operands
    ops = opts.operands
    if kind is Operands.NAMES:
        if name == "unset" and opts.has("-f"):
            return  # function names: never evaluated
        for word in ops:
            yield from _name(name, word, spec.assigns, sets)
    elif kind is Operands.FIRST_NAME and ops:
        yield from _name(name, ops[0], spec.assigns, sets)
    elif kind is Operands.SECOND_NAME and len(ops) > 1:
        yield from _name(name, ops[1], spec.assigns, sets)
    elif kind is Operands.ARITH:
        for word in ops:
            yield from _arith(name, word)
    elif kind is Operands.ASSIGN:
        if opts.has("-f") or opts.has("-F"):
            return  # function names
        for word in ops:
            yield from _assign(name, word, opts, sets)


def _name(where: str, word: Word, assigns: bool, sets: list[str]) -> Iterable[Problem]:
    """A word bash reads as a variable name."""
    if not word.literal:
        yield Problem(
            FindingKind.EVALUATED_WORD,
            f"`{where}` evaluates {describe(word)} as a variable name, and its value is not known",
        )
        return
    text = word.text
    if not IDENTIFIER.match(text):
        what = (
            "its `[...]` subscript is evaluated arithmetically, which runs commands"
            if "[" in text else "it is not a plain identifier"
        )
        yield Problem(FindingKind.EVALUATED_WORD, f"`{where}` evaluates `{text}` as a variable name: {what}")
        return
    if assigns:
        if text in INTEGER_VARIABLES:
            yield Problem(
                FindingKind.EVALUATED_WORD,
                f"`{where}` assigns `{text}`, which has the integer attribute: the value is evaluated as arithmetic",
            )
        elif text in SHELL_VARIABLES:
            yield Problem(
                FindingKind.SHELL_CODE,
                f"`{where}` assigns `{text}`, a variable bash expands or uses to find programs",
            )
        sets.append(text)


def _arith(where: str, word: Word) -> Iterable[Problem]:
    """A word bash evaluates as an arithmetic expression."""
    if not word.literal:
        yield Problem(
            FindingKind.EVALUATED_WORD,
            f"`{where}` evaluates {describe(word)} as arithmetic, and its value is not known",
        )
    elif not _PURE_ARITH.match(_NUMBER_LITERAL.sub("0", word.text)):
        yield Problem(
            FindingKind.EVALUATED_WORD,
            f"`{where}` evaluates `{word.text}` as arithmetic: names in it are evaluated as "
            "expressions and `[...]` subscripts expand `$(...)`, which runs commands",
        )


def _assign(name: str, word: Word, opts: Options, sets: list[str]) -> Iterable[Problem]:
    """``NAME`` or ``NAME=VALUE`` / ``NAME+=VALUE`` given to declare, export, readonly, local."""
    if not word.literal and not word.pattern.split("=", 1)[0].isidentifier():
        yield Problem(
            FindingKind.EVALUATED_WORD,
            f"`{name}` evaluates {describe(word)} as a variable name, and its value is not known",
        )
        return
    target, eq, value = word.text.partition("=")
    target = target[:-1] if eq and target.endswith("+") else target
    assigns = bool(eq) and not opts.has("-p")
    yield from _name(name, Word(text=target, pattern=target), assigns, sets)
    if eq and value.startswith("("):
        # `declare -a 'a=([$(id)]=1)'`: declare parses a quoted compound value itself,
        # evaluating (and expanding) each subscript.
        yield Problem(
            FindingKind.EVALUATED_WORD,
            f"`{name}` parses `{word.text}` as a compound array assignment: it expands the "
            "elements again and evaluates the subscripts, which runs `$(...)` in them",
        )
