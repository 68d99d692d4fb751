"""`for NAME in WORD...` over literal words: the values a loop takes and what its body may not do.

The walker unrolls such a loop: it walks the body once per value with ``$NAME`` / ``${NAME}``
replaced by that value (see ``substitute``), so the engine sees ordinary simple commands. This
module says which word lists can be unrolled (literal words, brace expansions of them, and
globs, whose value is "a file name the glob matched"), which loop variable names are safe to
assign, and which body commands reassign the loop variable (then the substituted value would be
wrong, so the loop is refused).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from sshwall.analysis.builtin_table import INTEGER_VARIABLES, SHELL_VARIABLES
from sshwall.analysis.model import SimpleCommand, Word
from sshwall.analysis.words import expand_braces

# Unrolled body commands per command string (values x commands in the body, nested loops
# multiplied): above it the loop is refused rather than analysed.
MAX_LOOP_COMMANDS = 256

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Lower-case variables that programs read from the environment anyway (curl, wget, git, pip):
# POSIX leaves lower-case names to applications, and these are the ones in common use.
_LOWER_ENV = frozenset({"http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy"})
# Builtins that take variable names as operands without assigning a value (`export f`,
# `unset f`, `readonly f`): they change what later iterations or programs see.
_NAME_BUILTINS = frozenset({"unset", "export", "readonly", "declare", "typeset", "local"})


@dataclass(frozen=True, slots=True)
class LoopValue:
    """One value a loop variable takes.

    ``text`` is the value; ``pattern`` the same as a glob with only live characters unescaped.
    A ``glob`` value is not known exactly: it is any file name ``pattern`` matches (or the
    pattern itself, when nothing matches), and ``text`` is the glob as written.
    """

    text: str
    pattern: str
    glob: bool = False


def loop_values(word: Word) -> tuple[LoopValue, ...] | str:
    """The values one word of a ``for`` list gives, or why sshwall cannot know them."""
    if word.dynamic:
        return "an expansion"
    if word.tilde:
        return "a `~` (the home folder is not known here)"
    alternatives = expand_braces(word.pattern) if word.brace else (word.pattern,)
    if alternatives is None:
        return "a brace expansion with too many words"
    values: list[LoopValue] = []
    for alt in alternatives:
        if word.brace and alt.startswith("~"):  # (a quoted `~` too: the pattern cannot tell)
            return "a `~` after brace expansion (the home folder is not known here)"
        values.append(LoopValue(unescape(alt), alt, glob=has_live_glob(alt)))
    return tuple(values)


def unescape(pattern: str) -> str:
    """The text a pattern (backslash-escaped specials) stands for."""
    return re.sub(r"\\(.)", r"\1", pattern, flags=re.DOTALL)


def has_live_glob(pattern: str) -> bool:
    """Does ``pattern`` hold an unescaped ``*``, ``?`` or a ``[`` with a ``]`` after it?"""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "*?" or (ch == "[" and "]" in pattern[i + 1 :]):
            return True
        i += 1
    return False


def name_problem(name: str) -> str | None:
    """Why assigning the loop variable ``name`` is not harmless, or None."""
    if not IDENTIFIER.match(name):
        return f"`{name}` is not a valid variable name"
    if name in SHELL_VARIABLES:
        return f"`for {name}` assigns `{name}`, a variable bash expands or uses to find programs"
    if name in _LOWER_ENV:
        return f"`for {name}` assigns `{name}`, which programs read from the environment"
    if not any(c.islower() for c in name):
        # Upper-case names are the environment's (PATH, LANG, PAGER, GIT_*, ...): an inherited
        # one stays exported, so the loop would hand every program a new value.
        return (
            f"`for {name}`: an upper-case loop variable may be an exported environment variable "
            "that programs read; use a lower-case name"
        )
    if name in INTEGER_VARIABLES:  # all upper case today; kept should one ever be lower case
        return f"`for {name}` assigns a variable with the integer attribute"
    return None


def assigns(cmd: SimpleCommand, name: str) -> bool:
    """Does ``cmd`` assign, export, unset or otherwise change the variable ``name``?"""
    if any(n == name for n, _ in cmd.assignments) or name in cmd.sets:
        return True
    if cmd.argv and cmd.argv[0].text.rsplit("/", 1)[-1] in _NAME_BUILTINS:
        for word in cmd.argv[1:]:
            target = word.text.split("=", 1)[0]
            if target.rstrip("+") == name or not word.literal:
                return True
    return False


class _Node(Protocol):
    kind: str


def body_size(nodes: list[_Node]) -> int:
    """How many simple commands the body's text holds (nested loop bodies counted once)."""
    count = 0
    todo = list(nodes)
    while todo:
        node = todo.pop()
        if node.kind == "command":
            count += 1
        for attr in ("parts", "list"):
            todo.extend(getattr(node, attr, None) or [])
        for attr in ("command", "body"):
            child = getattr(node, attr, None)
            if child is not None and hasattr(child, "kind"):
                todo.append(child)
    return count


def describe_list_word(raw: str) -> str:
    """What makes a ``for`` list word's value unknown, in words."""
    if "$(" in raw or "`" in raw:
        return "a command substitution"
    if "<(" in raw or ">(" in raw:
        return "a process substitution"
    if re.search(r"\$\{?[@*]", raw):
        return "the positional parameters"
    if re.search(r"\$\{?[0-9#?$!-]", raw):
        return "a special parameter"
    return "a variable"
