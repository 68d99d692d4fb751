"""Command sets: which programs a tool's shell commands may run, and how.

A command set is an allowlist of programs, each with an argument spec (flags, values, operands,
subcommands), plus rules for operators, redirections, substitutions, assignments and protected
paths.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property
from typing import Any, Literal, TypeVar

from pydantic import Field, field_validator

from sshwall.policy.base import Decision, Frozen
from sshwall.policy.flags import ArgKind, Family, FlagTable, build_table
from sshwall.profiles import checked_regex

_T = TypeVar("_T")

Operator = Literal["pipe", "and", "or", "sequence", "background"]
Construct = Literal["subshell", "group", "if", "for", "while", "until", "negation"]
RedirectKind = Literal["devnull", "fd-dup", "fd-close", "read", "write", "herestring"]


class ValueRule(Frozen):
    """Constraints on one flag value or operand."""

    kind: ArgKind = "opaque"
    min: float | None = None
    max: float | None = None
    enum: tuple[str, ...] | None = None
    match: str | None = Field(default=None, description="regular expression the whole value must match")
    deny_match: str | None = Field(default=None, description="regular expression no part may match")
    schemes: tuple[str, ...] = ("http", "https")
    hosts: tuple[str, ...] = ()
    format: Literal["curl"] | None = Field(
        default=None, description="a format language whose directives are checked (curl's --write-out)"
    )
    greedy: str | None = Field(
        default=None,
        description="an optional value that is not attached takes the next word when it fully matches"
        " this regular expression (journalctl -n 50, top -w 100)",
    )

    @field_validator("match", "deny_match", "greedy")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return checked_regex(value)

    @cached_property
    def patterns(self) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None, re.Pattern[str] | None]:
        """``match``, ``deny_match`` and ``greedy`` compiled once (None where not given)."""
        return tuple(None if rx is None else re.compile(rx) for rx in (self.match, self.deny_match, self.greedy))  # type: ignore[return-value]


class EndlessRule(Frozen):
    """How a program can run until killed: a read-only diagnostic must end on its own."""

    flags: tuple[str, ...] = Field(default=(), description="any of these makes it run until killed")
    operand_counts: tuple[int, ...] = Field(default=(), description="with this many operands it never ends")
    unless: tuple[str, ...] = Field(default=(), description="it runs until killed unless one of these is given")
    flags_unless: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="flag -> flags that bound it (free -s N runs forever unless -c N)"
    )


class ProgramSpec(Frozen):
    """How one program may be called: its option family, flags, operands and subcommands.

    ``flags`` is a closed list: entries ``-v`` (switch), ``-n=`` / ``-f=read`` (required value,
    of a kind), ``--color[=]`` (optional value, only ever attached), ``-NUM``. A flag not listed
    is denied; ``flags: any`` (every flag not in ``deny_flags``) still loads for hand-written
    policies, never in a shipped one. Long options must be written whole: getopt's prefix
    matching is refused, so an abbreviation can never mean a flag nobody listed. See
    docs/option-grammar.md for the families.
    """

    decision: Decision = Decision.ALLOW
    reason: str | None = None
    wrapper: bool = False
    family: Family = "gnu"
    permute: bool | None = Field(
        default=None,
        description="may options follow operands? (default: yes, except family posix); false where"
        " options end at the first operand, as for awk",
    )
    cluster_values: Literal["rest", "next"] = Field(
        default="rest",
        description="a value letter in a cluster takes the rest of the word (getopt) or the next"
        " unused word while the cluster goes on (tree's own parser)",
    )
    unknown_flags: Literal["deny", "operand"] = Field(
        default="deny",
        description="a word that is not made of listed flags is denied, or is an operand (bash's echo)",
    )
    reparse_safe: tuple[str, ...] = Field(
        default=(),
        description="ps family: value flags whose value the BSD re-reading parses the same way (formats, pids)",
    )
    bounded_by: tuple[str, ...] = Field(
        default=(), description="flags that bound how much it reads (head -c N), so endless inputs end"
    )
    runs: tuple[str, ...] = Field(
        default=(), description="fixed helper programs it runs itself (zcat runs gzip); for the oracle"
    )
    state_writes: tuple[str, ...] = Field(
        default=(),
        description="files it maintains itself (top's ~/.config/procps, kubectl's cache), as fnmatch"
        " globs; the oracle accepts writes there and flags every other",
    )
    network: Literal["loopback", "any"] = Field(
        default="loopback", description="where it may connect (ping, dig: any); the oracle flags the rest"
    )
    names: tuple[str, ...] = Field(default=(), description="other names of a subcommand")
    flags: Literal["any"] | tuple[str, ...] = "any"
    deny_flags: tuple[str, ...] = ()
    require_flags: tuple[str, ...] = Field(default=(), description="each entry: 'a' or 'a|b' alternatives")
    value_flags: tuple[str, ...] = ()
    aliases: dict[str, str] = Field(default_factory=dict)
    values: dict[str, ValueRule] = Field(default_factory=dict)
    operands: ArgKind | tuple[ArgKind, ...] = "opaque"
    operand_rule: ValueRule | None = None
    first_operand_flags: tuple[str, ...] = Field(
        default=(), description="flags that supply what the first operand would (grep -e, sed -e)"
    )
    min_operands: int = 0
    max_operands: int | None = None
    recursive_flags: tuple[str, ...] = ()
    recursive: bool = False
    long_single_dash: bool = Field(default=False, description="-name is one flag, as in find (family: find)")
    old_style: bool = Field(default=False, description="a first word without '-' is a flag cluster (family: tar)")
    endless: EndlessRule | None = None
    script: Literal["sed", "awk"] | None = None
    subcommands: dict[str, ProgramSpec] = Field(default_factory=dict)
    inherit_flags: bool = Field(
        default=True, description="do this program's flag rules still apply after a subcommand?"
    )
    bare: bool = Field(default=False, description="with subcommands: may it run without one?")

    def model_post_init(self, context: Any, /) -> None:
        """Compile the flag table at load, so contradictory entries are rejected there."""
        _ = self.table

    @cached_property
    def table(self) -> FlagTable:
        """The compiled flags (name -> arity, kind, denied; in the spec's order), built once.

        A ``cached_property``, not a pydantic private attribute: the engine reads it for every
        flag of every command, and a private attribute is read through pydantic's slow path.
        """
        named = set(self.aliases.values()) | set(self.recursive_flags) | set(self.first_operand_flags)
        named |= {f for req in self.require_flags for f in req.split("|")}
        if self.endless is not None:
            named |= set(self.endless.flags) | set(self.endless.unless)
        return build_table(
            None if self.flags == "any" else self.flags,
            self.value_flags,
            self.deny_flags,
            tuple(self.values),
            tuple(sorted(named)),
        )

    @cached_property
    def required(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """``require_flags`` read once: each entry with its alternatives, aliases resolved."""
        return tuple((req, tuple(self.aliases.get(o, o) for o in req.split("|"))) for req in self.require_flags)

    @property
    def operand_kinds(self) -> tuple[ArgKind, ...]:
        """Operand kinds by position; the last one repeats."""
        return (self.operands,) if isinstance(self.operands, str) else self.operands

    @property
    def parse_family(self) -> Family:
        """The family the parser follows (the older ``long_single_dash``/``old_style`` switches map to one)."""
        if self.long_single_dash and self.family == "gnu":
            return "find"
        if self.old_style and self.family == "gnu":
            return "tar"
        return self.family


class CommandSet(Frozen):
    """What shell commands a tool may run."""

    operators: tuple[Operator, ...] = ("pipe", "and", "or", "sequence")
    constructs: tuple[Construct, ...] = ()
    redirects: tuple[RedirectKind, ...] = ("devnull", "fd-dup")
    substitutions: Literal["allow", "deny"] = "deny"
    parameters: Literal["allow", "deny"] = "deny"
    assignments: tuple[str, ...] = ()
    programs: dict[str, ProgramSpec] = Field(default_factory=dict)
    deny_programs: dict[str, str] = Field(
        default_factory=dict, description="program name glob -> reason shown when it is used"
    )
    program_dirs: tuple[str, ...] = (
        "/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin",
    )
    protected_catalogue: tuple[str, ...] = Field(
        default=(),
        description="groups of rules/protected-paths.yaml (or 'all'); load_policy adds their"
        " paths and exceptions to protected_paths / protected_exceptions",
    )
    protected_paths: tuple[str, ...] = ()
    protected_exceptions: tuple[str, ...] = ()
    writable_paths: tuple[str, ...] = ()
    endless: Literal["deny", "allow"] = Field(
        default="deny",
        description="commands that run until killed (programs' endless rules, endless_paths): 'allow' accepts"
        " them (executeCommand under its timeout); scheduled work (backgroundExecute) denies them always",
    )
    endless_paths: tuple[str, ...] = Field(
        default=(), description="files whose reading never ends (/dev/zero, /proc/kmsg): denied unless bounded_by"
    )
    max_length: int = Field(default=64 * 1024, gt=0, le=1024 * 1024)
    max_depth: int = Field(default=32, gt=0, le=100)

    def derived(self, build: Callable[[CommandSet], _T]) -> _T:
        """What ``build`` derives from this set, built on first use and kept with the set.

        For the layers above the policy (the engine's compiled path patterns and denied-program
        globs: ``sshwall.engine.commandset``), which this module may not import: the set is
        frozen, so a pure ``build`` gives the same result every time, and it is made once per
        set (a ``model_copy`` starts afresh). ``build`` is the key: pass the same function.
        """
        memo = self._derived
        found = memo.get(build)
        if found is None:
            found = memo[build] = build(self)
        return found

    @cached_property
    def _derived(self) -> dict[Callable[[CommandSet], Any], Any]:
        return {}
