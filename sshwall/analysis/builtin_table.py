"""Which words bash 5.2 builtins evaluate, as data: variable names, arithmetic, shell code.

Each entry was checked against the real bash 5.2 (see ``docs/builtins.md`` for the table and
how each row was verified; ``tests/analysis/test_builtins.py`` runs every dangerous row in bash
and proves it executes). Option strings follow bash's ``internal_getopt``: a letter followed by
``:`` takes a value, attached (``-vNAME``) or as the next word; letters cluster (``-rp PROMPT``);
``--`` ends the options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum


class Operands(str, Enum):
    """What a builtin does with the words after its options."""

    OTHER = "other"  # not evaluated as names, arithmetic or code
    NAMES = "names"  # every operand is a variable name (read, unset)
    ASSIGN = "assign"  # NAME or NAME=VALUE (declare, export, readonly, local)
    ARITH = "arith"  # every operand is an arithmetic expression (let)
    FIRST_NAME = "first-name"  # the first operand is an array name (mapfile)
    SECOND_NAME = "second-name"  # the second operand is a variable name (getopts)


@dataclass(frozen=True, slots=True)
class BuiltinSpec:
    """One builtin: its option grammar and which of its words bash evaluates.

    ``name_values``: options whose value is a variable name (``printf -v``); ``code_values``:
    options whose value runs as shell code, with what it does; ``refuse``: options that make the
    call shell code whatever the rest (``enable -f`` loads a shared object); ``assigns``: the
    names it takes are assigned (so ``PS4`` or ``PATH`` there is shell code too);
    ``expand_values``: options whose value bash expands again (``compgen -W '$(id)'`` runs
    ``id``). ``external_safe``: a program of the same name outside bash (coreutils ``test``, ``printf``)
    evaluates none of it, so a call that cannot reach the builtin is left to the policy.
    """

    options: str = ""
    plus: bool = False
    operands: Operands = Operands.OTHER
    name_values: str = ""
    code_values: Mapping[str, str] = field(default_factory=dict)
    refuse: Mapping[str, str] = field(default_factory=dict)
    assigns: bool = False
    external_safe: bool = False
    expand_values: str = ""


_DECLARE_OPTIONS = "aAfFgiIlnprtux"
# declare -n makes every later use of the name (including a plain `r=VALUE` or `for r in`)
# resolve VALUE as a name, subscript included; declare -i makes every later assignment to the
# name arithmetic. Both turn later, innocent-looking words into evaluated ones.
_DECLARE_REFUSE: Mapping[str, str] = {
    "-n": "makes the name a reference: later uses evaluate its value as a name, `[...]` subscripts included",
    "-i": "gives the name the integer attribute: every later assignment to it is evaluated as arithmetic",
}

BUILTINS: dict[str, BuiltinSpec] = {
    "printf": BuiltinSpec(options="v:", name_values="v", assigns=True, external_safe=True),
    "read": BuiltinSpec(options="ersa:d:i:n:N:p:t:u:", operands=Operands.NAMES, name_values="a", assigns=True),
    "mapfile": BuiltinSpec(
        options="d:n:O:s:tu:C:c:", operands=Operands.FIRST_NAME, assigns=True,
        code_values={"-C": "runs its value as a command every -c lines read"},
    ),
    "readarray": BuiltinSpec(
        options="d:n:O:s:tu:C:c:", operands=Operands.FIRST_NAME, assigns=True,
        code_values={"-C": "runs its value as a command every -c lines read"},
    ),
    "getopts": BuiltinSpec(operands=Operands.SECOND_NAME, assigns=True),
    "wait": BuiltinSpec(options="fnp:", name_values="p", assigns=True),
    "declare": BuiltinSpec(options=_DECLARE_OPTIONS, plus=True, operands=Operands.ASSIGN, refuse=_DECLARE_REFUSE, assigns=True),
    "typeset": BuiltinSpec(options=_DECLARE_OPTIONS, plus=True, operands=Operands.ASSIGN, refuse=_DECLARE_REFUSE, assigns=True),
    "local": BuiltinSpec(options=_DECLARE_OPTIONS, plus=True, operands=Operands.ASSIGN, refuse=_DECLARE_REFUSE, assigns=True),
    "export": BuiltinSpec(options="fnp", operands=Operands.ASSIGN, assigns=True),
    "readonly": BuiltinSpec(options="aAfp", operands=Operands.ASSIGN, assigns=True),
    "unset": BuiltinSpec(options="fnv", operands=Operands.NAMES),
    "let": BuiltinSpec(operands=Operands.ARITH),
    "hash": BuiltinSpec(
        options="dlp:rt",
        refuse={"-p": "makes a command name run any file it names"},
    ),
    "complete": BuiltinSpec(
        options="abcdefgjksuvprDEIo:A:G:W:F:C:X:P:S:",
        code_values={"-C": "runs its value as a command to generate completions",
                     "-F": "calls the shell function it names to generate completions"},
        expand_values="W",
    ),
    "compgen": BuiltinSpec(
        options="abcdefgjksuvo:A:G:W:F:C:X:P:S:",
        code_values={"-C": "runs its value as a command to generate completions",
                     "-F": "calls the shell function it names to generate completions"},
        expand_values="W",
    ),
}

# Builtins that run their operands (or a file they name) as shell code, whatever they are.
ALWAYS_CODE: dict[str, str] = {
    "eval": "runs its arguments as a shell command",
    "source": "runs the file it names as shell code",
    ".": "runs the file it names as shell code",
}

# Variables bash itself expands or runs (PS4 under `set -x`, PROMPT_COMMAND, BASH_ENV in child
# shells) or uses to find programs and libraries. Assigning one through a builtin's name
# operand (`printf -v PS4 ...`, `read PATH`) is shell code even though the name is plain.
SHELL_VARIABLES = frozenset({
    "PS0", "PS1", "PS2", "PS3", "PS4", "PROMPT_COMMAND", "BASH_ENV", "ENV", "PATH",
    "BASH_LOADABLES_PATH", "SHELLOPTS", "BASHOPTS", "IFS", "GLOBIGNORE", "CDPATH", "HISTFILE",
    "BASH_CMDS", "BASH_ALIASES", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "EXECIGNORE",
})

# Variables bash 5.2 creates with the integer attribute (`declare -p` in a clean shell): every
# value assigned to them, by `OPTIND=...`, `for OPTIND in ...`, `read RANDOM` or `printf -v`,
# is evaluated as arithmetic, so `OPTIND='a[$(id)]'` runs `id`.
INTEGER_VARIABLES = frozenset({"OPTIND", "RANDOM", "SRANDOM", "HISTCMD", "BASHPID", "EUID", "PPID", "UID"})

# `set` options that change how later words are read or make bash evaluate a variable:
# xtrace expands PS4 (a `$(...)` in it runs) before each command; keyword turns NAME=VALUE
# arguments anywhere on a command line into environment assignments the policy never sees as
# such; allexport exports every later assignment; braceexpand/histexpand/posix change how words
# are expanded. Everything else `set` does only makes bash stricter or chattier.
SET_UNSAFE_LETTERS = "xkaBHp"
SET_UNSAFE_NAMES = frozenset({
    "xtrace", "keyword", "allexport", "braceexpand", "histexpand", "history", "posix",
    "privileged", "vi", "emacs",
})
SET_LETTERS = "abefhkmnptuvxBCEHPT"
