"""bashlex tree -> simple commands: the walk over the tree's structure.

Every node kind is handled explicitly; a kind this walker does not know is a finding, so a new
bashlex release can only make sshwall stricter, never let something through unseen. The walker
follows lists, pipelines, compounds and loops, and where the shell's folder is
(``folders``); words are read in ``wordnodes``, simple commands in ``simple``, ``for`` loops
unrolled in ``unroll``. bashlex is imported in ``sshwall.analysis`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import bashlex.ast

from sshwall.analysis.folders import START, UNKNOWN, union, walk_list
from sshwall.analysis.loops import LoopValue
from sshwall.analysis.model import (
    Analysis,
    Finding,
    FindingKind,
    Folder,
    Redirect,
    SimpleCommand,
    Word,
)
from sshwall.analysis.parse import parse
from sshwall.analysis.simple import command
from sshwall.analysis.unroll import unroll_for
from sshwall.analysis.wordnodes import _pos, one_word, redirect, word_fields

Reanalyse = Callable[[str, int], Analysis]


def walk(source: str, level: int, reanalyse: Reanalyse) -> Analysis:
    """Parse ``source`` with bashlex and collect its commands.

    Any exception bashlex raises (ParsingError, NotImplementedError, AttributeError on odd
    input, RecursionError, ...) becomes a finding: the input is not understood, so it is denied.
    """
    walker = Walker(source, level, reanalyse)
    try:
        trees = parse(source)
    except NotImplementedError as err:
        walker.finding(FindingKind.UNSUPPORTED, f"unsupported shell construct: {_first_line(err)}")
        return walker.result()
    except Exception as err:  # noqa: BLE001 - every parser failure must deny, whatever its type
        walker.finding(FindingKind.PARSE_ERROR, f"cannot parse ({type(err).__name__}: {_first_line(err)})")
        return walker.result()
    if len(trees) > 1:
        walker.operators.add("sequence")
    for tree in trees:
        walker.here = union(walker.ok, walker.fail)
        try:
            walker.visit(tree, (), ())
        except Exception as err:  # noqa: BLE001 - a walker bug must deny, never allow
            walker.finding(FindingKind.UNKNOWN_NODE, f"cannot walk the parse tree ({type(err).__name__}: {err})")
    if walker.split_loop_values and any(n == "IFS" for c in walker.commands for n, _ in c.assignments):
        # Unrolled loops split unquoted values at blanks, the default IFS; here it may differ.
        walker.finding(FindingKind.LOOP, "the command assigns IFS, so how bash splits an unquoted loop variable is not known")
    return walker.result()


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else "no detail"


@dataclass
class Walker:
    """Collects the simple commands and structure of one parsed command string."""

    source: str
    level: int
    reanalyse: Reanalyse
    commands: list[SimpleCommand] = field(default_factory=list)
    operators: set[str] = field(default_factory=set)
    constructs: set[str] = field(default_factory=set)
    substitutions: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    # The values of the `for` variables whose body is being walked (see unroll.py).
    bindings: dict[str, LoopValue] = field(default_factory=dict)
    loop_commands: int = 0  # unrolled body commands so far, against MAX_LOOP_COMMANDS
    loop_depth: int = 0
    split_loop_values: bool = False
    # The shell's folder relative to the script's start (``sshwall.analysis.folders``): where
    # the node being visited starts, and after it, where the shell is if it succeeded / failed.
    here: Folder = START
    ok: Folder = START
    fail: Folder = START
    moves: int = 0  # builtin cd-like commands walked so far

    def result(self) -> Analysis:
        """The collected ``Analysis``."""
        return Analysis(
            source=self.source,
            commands=tuple(self.commands),
            operators=frozenset(self.operators),
            constructs=frozenset(self.constructs),
            substitutions=frozenset(self.substitutions),
            findings=tuple(dict.fromkeys(self.findings)),  # an unrolled body repeats its own
        )

    def finding(self, kind: FindingKind, detail: str, pos: int = -1) -> None:
        self.findings.append(Finding(kind, detail, pos))

    # -- structure -------------------------------------------------------------------------

    def visit(self, node: bashlex.ast.node, ctx: tuple[str, ...], redirs: tuple[Redirect, ...]) -> None:
        kind = node.kind
        start = self.here
        self.ok = self.fail = start  # a node that changes no folder; a cd in it says otherwise
        if kind == "command":
            command(self, node, ctx, redirs)
        elif kind == "list":
            walk_list(self, node, ctx, redirs)
        elif kind == "pipeline":
            elements, negated = 0, False
            for part in node.parts:
                if part.kind == "pipe":
                    self.operators.add("pipe")
                    continue
                if part.kind == "reservedword" and part.word == "!":
                    self.constructs.add("negation")
                    negated = True
                    continue
                elements += 1
                self.here = start
                self.visit(part, ctx + ("pipeline",), redirs)
            # `! CMD` runs CMD in this shell, its outcome inverted; each part of a real pipeline
            # runs in a copy of the shell (no lastpipe).
            self.ok, self.fail = ((self.fail, self.ok) if negated else (self.ok, self.fail)) if elements == 1 else (start, start)
        elif kind == "compound" and self.source.startswith("((", node.pos[0]):
            # bash reads '((' as an arithmetic command (which expands variables as code);
            # bashlex reads two subshells.
            self.finding(FindingKind.UNSUPPORTED, "arithmetic command `((...))` is not supported", node.pos[0])
        elif kind == "compound":
            inner = redirs + tuple(redirect(self, r, ctx) for r in getattr(node, "redirects", []))
            subshell, outcome = False, (start, start)
            for part in node.list:
                if part.kind == "reservedword":
                    if part.word == "(":
                        self.constructs.add("subshell")
                        subshell = True
                    elif part.word == "{":
                        self.constructs.add("group")
                    continue
                self.here = union(*outcome)
                self.visit(part, ctx, inner)
                outcome = (self.ok, self.fail)
            # A subshell's cd ends with it; a group's is the shell's own.
            self.ok, self.fail = (start, start) if subshell else outcome
        elif kind == "for":
            first, moves = len(self.commands), self.moves
            unroll_for(self, node, ctx, redirs)
            self._settle(start, first, moves)
        elif kind in ("if", "while", "until"):
            self.constructs.add(kind)
            first, moves = len(self.commands), self.moves
            for part in node.parts:
                if part.kind == "reservedword":
                    continue
                if part.kind == "word":
                    one_word(self, part, ctx)
                else:
                    self.visit(part, ctx + (kind,), redirs)
            self._settle(start, first, moves)
        elif kind == "function":
            name = node.name.word
            self.constructs.add("function")
            self.finding(
                FindingKind.FUNCTION_DEFINITION,
                f"function definition '{name}' may shadow any program name",
                node.pos[0],
            )
            self.visit(node.body, ctx + ("function",), redirs)
        else:
            self.finding(FindingKind.UNKNOWN_NODE, f"unknown shell construct '{kind}'", _pos(node))

    def _settle(self, start: Folder, first: int, moves: int) -> None:
        """After ``if``/``for``/``while``/``until``: a cd in there (whose body may run any
        number of times) makes the folder unknown in it and after it."""
        if self.moves == moves:
            self.ok = self.fail = start
            return
        for k in range(first, len(self.commands)):
            c = self.commands[k]
            self.commands[k] = replace(c, folder=UNKNOWN, redirects=tuple(replace(r, folder=UNKNOWN) for r in c.redirects))
        self.ok = self.fail = UNKNOWN

    def _in_copy(self, node: bashlex.ast.node, ctx: tuple[str, ...]) -> None:
        """Visit a substitution's command: it runs in a copy of the shell, so its cd's end there."""
        saved = (self.here, self.ok, self.fail)
        self.visit(node, ctx, ())
        self.here, self.ok, self.fail = saved

    # -- words -----------------------------------------------------------------------------

    def _fields(self, node: bashlex.ast.node, ctx: tuple[str, ...], split: bool = True) -> tuple[Word, ...]:
        """The words bash makes of ``node`` (for ``unroll``): see ``wordnodes.word_fields``."""
        return word_fields(self, node, ctx, split)
