"""The values the shell analyser produces: words, redirections, simple commands, findings.

Everything here is frozen. An ``Analysis`` is what the policy engine reads; it never sees a
bashlex node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class FindingKind(str, Enum):
    """Constructs the analyser cannot vouch for. Every finding denies, whatever the policy."""

    EMPTY = "empty"
    TOO_LONG = "too-long"
    TOO_DEEP = "too-deep"
    CONTROL_CHAR = "control-char"
    PARSE_ERROR = "parse-error"
    UNSUPPORTED = "unsupported-construct"
    UNKNOWN_NODE = "unknown-node"
    ANSI_C_QUOTE = "ansi-c-quote"
    HIDDEN_SUBSTITUTION = "hidden-substitution"
    HEREDOC = "unquoted-heredoc"
    DYNAMIC_COMMAND_NAME = "dynamic-command-name"
    FUNCTION_DEFINITION = "function-definition"
    WORD_MISMATCH = "word-mismatch"
    WRAPPER_SYNTAX = "wrapper-syntax"
    # A bash builtin (or a parameter expansion) evaluates a word as a variable name or as
    # arithmetic: `a[$(id)]` runs `id` there, even when it was written in single quotes.
    EVALUATED_WORD = "evaluated-word"
    # A bash builtin that runs a command string, a file or a shared object, or that changes
    # what later words mean (trap, eval, source, enable -f, hash -p, alias, declare -n, ...).
    SHELL_CODE = "shell-code"
    # A `for` loop sshwall cannot unroll: a word list that is not literal, a loop variable
    # reassigned in the body or unsafe to assign, an operation on it, or too many values.
    LOOP = "loop"


@dataclass(frozen=True, slots=True)
class Finding:
    """One construct the analyser refuses to vouch for, with where it stands."""

    kind: FindingKind
    detail: str
    position: int = -1

    def describe(self) -> str:
        """A sentence a person can act on."""
        where = f" at offset {self.position}" if self.position >= 0 else ""
        return f"{self.detail}{where}"


@dataclass(frozen=True, slots=True)
class Word:
    """One shell word after quote removal.

    ``text`` is the value with quotes removed. ``pattern`` is the same value as a glob in which
    only the characters the shell would expand are live (quoted ``*`` is written ``[*]``), so
    path rules can reason about every path the word could match. ``dynamic`` words contain a
    parameter expansion or a substitution: their value is not known before they run; ``split``
    ones hold such an expansion unquoted, so bash splits and globs its value into any number of
    words. ``home`` words start with ``$HOME`` (or ``${HOME}``), their only expansion: their
    value is the home folder followed by ``pattern[1:]``.
    """

    text: str
    pattern: str
    dynamic: bool = False
    glob: bool = False
    brace: bool = False
    tilde: bool = False
    split: bool = False
    home: bool = False

    @property
    def literal(self) -> bool:
        """True when the word's value is exactly ``text`` whatever the shell does."""
        return not (self.dynamic or self.glob or self.brace or self.tilde)


@dataclass(frozen=True, slots=True)
class Folder:
    """Where a command runs, relative to the folder its script started in.

    ``paths`` holds every possibility: the ``cd`` operands that ran before the command, in
    order (an empty tuple: the start folder itself; None stands for ``cd`` alone, the home).
    ``known`` is false when the script changed folder in a way sshwall does not follow
    (``cd -``, a ``cd`` inside a loop, ``env -C``, ``find -execdir``): the command may then run
    anywhere. See ``sshwall.analysis.folders``.
    """

    paths: frozenset[tuple[Word | None, ...]] = frozenset({()})
    known: bool = True


_START = Folder()


@dataclass(frozen=True, slots=True)
class Redirect:
    """A redirection: ``op`` as written (``>``, ``>>``, ``<``, ``>&``, ``&>``, ``<<<``, ...).

    ``target`` is a word, or an int for fd duplication (``2>&1``), or ``-`` for closing.
    """

    op: str
    fd: int | None
    target: Word | int | str | None
    folder: Folder = _START  # where the shell opens it (a compound's redirect: where the compound starts)


@dataclass(frozen=True, slots=True)
class WrapperUse:
    """A wrapper the real program runs under, e.g. ``sudo -n`` or ``timeout 5``.

    ``argv`` is the wrapper's own part of the command line: its name and its options, without
    the command it runs.
    """

    argv: tuple[Word, ...]

    @property
    def name(self) -> str:
        """The wrapper's name as written (may be a path)."""
        return self.argv[0].text


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    """One program invocation, wherever it stands in the script.

    ``argv`` is the innermost program after wrappers were unwrapped; ``wrappers`` lists the
    wrappers outside it, outermost first. ``context`` names the structures it sits in
    (``pipeline``, ``substitution``, ``subshell``, ``sh-c``, ``find-exec``, ...).
    ``extra_args`` is true when the program receives arguments sshwall cannot see (``xargs``).
    ``sets`` names the shell variables a bash builtin assigns by name (``printf -v NAME``,
    ``read NAME``, ``declare NAME=...``): assignments the policy may want to judge like
    ``NAME=value`` prefixes. ``folder`` is where it runs, relative to where the script started.
    """

    argv: tuple[Word, ...]
    assignments: tuple[tuple[str, Word], ...] = ()
    redirects: tuple[Redirect, ...] = ()
    wrappers: tuple[WrapperUse, ...] = ()
    context: tuple[str, ...] = ()
    extra_args: bool = False
    sets: tuple[str, ...] = ()
    folder: Folder = _START

    @property
    def name(self) -> str:
        """The program name as written (may be a path)."""
        return self.argv[0].text if self.argv else ""


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything a command string does, as far as the analyser can vouch for it.

    ``operators`` holds the list/pipe operators used (pipe, and, or, sequence, background);
    ``constructs`` the compound structures (subshell, group, if, for, while, until, function,
    negation); ``substitutions`` the kinds used (command, process, parameter, arithmetic).
    A ``for`` without a finding was unrolled: its body's commands stand in ``commands`` once per
    value, the loop variable replaced (``sshwall.analysis.unroll``).
    A non-empty ``findings`` means the input must be denied.
    """

    source: str
    commands: tuple[SimpleCommand, ...] = ()
    operators: frozenset[str] = field(default_factory=frozenset)
    constructs: frozenset[str] = field(default_factory=frozenset)
    substitutions: frozenset[str] = field(default_factory=frozenset)
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the analyser understood the whole input."""
        return not self.findings
