"""What reading one program's argv yields: the subcommand path, problems, and arguments to check.

``Use`` is an argument whose meaning needs more checks (a path, a URL, a script, a format),
which ``sshwall.engine.commands`` performs; ``Endless`` a problem saying the command runs until
killed (the command set decides whether that denies).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sshwall.analysis import Word
from sshwall.policy.commandsets import ProgramSpec, ValueRule
from sshwall.policy.flags import ArgKind

NUMERIC = "-NUM"


class Endless(str):
    """A problem saying the command runs until killed (the engine's ``endless`` notion).

    A ``str``, so it reads like any problem; its type lets the checker apply the command set's
    ``endless`` choice and the stricter rule of scheduled work.
    """

    __slots__ = ()


@dataclass(frozen=True)
class Use:
    """An argument whose value needs a semantic check (a path, a URL, a script)."""

    kind: ArgKind
    word: Word
    what: str
    rule: ValueRule | None = None
    recursive: bool = False


@dataclass
class ParsedArgs:
    """What ``parse_args`` found: the subcommand path, problems, and arguments to check."""

    path: list[str]
    spec: ProgramSpec
    flags: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)


__all__ = ["NUMERIC", "Endless", "ParsedArgs", "Use"]
