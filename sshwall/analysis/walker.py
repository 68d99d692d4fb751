"""bashlex tree -> simple commands. The only module of sshwall that imports bashlex.

Every node kind is handled explicitly; a kind this walker does not know is a finding, so a new
bashlex release can only make sshwall stricter, never let something through unseen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Callable

import bashlex
import bashlex.ast

from sshwall.analysis.folders import CD_NAMES, START, UNKNOWN, CdEffect, cd_effect, moved, union, walk_list, within
from sshwall.analysis.model import (
    Analysis,
    Finding,
    FindingKind,
    Folder,
    Redirect,
    SimpleCommand,
    Word,
    WrapperUse,
)
from sshwall.analysis.builtins import check_builtin
from sshwall.analysis.loops import LoopValue
from sshwall.analysis.substitute import substitute
from sshwall.analysis.unroll import is_loop_exit, unroll_for
from sshwall.analysis.words import WordError, scan_word
from sshwall.analysis.wrappers import MAX_WRAPPERS, WrapperError, basename, find_exec_commands, unwrap_once

_WORD_KINDS = {
    "unsupported": FindingKind.UNSUPPORTED,
    "parse-error": FindingKind.PARSE_ERROR,
    "ansi-c-quote": FindingKind.ANSI_C_QUOTE,
    "hidden-substitution": FindingKind.HIDDEN_SUBSTITUTION,
    "evaluated-word": FindingKind.EVALUATED_WORD,
    "loop": FindingKind.LOOP,
}

# Re-analyses a ``sh -c`` script; injected by the entry point so prechecks apply to it too.
Reanalyse = Callable[[str, int], Analysis]


def walk(source: str, level: int, reanalyse: Reanalyse) -> Analysis:
    """Parse ``source`` with bashlex and collect its commands.

    Any exception bashlex raises (ParsingError, NotImplementedError, AttributeError on odd
    input, RecursionError, ...) becomes a finding: the input is not understood, so it is denied.
    """
    walker = Walker(source, level, reanalyse)
    try:
        trees = bashlex.parse(source)
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
            self._command(node, ctx, redirs)
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
            inner = redirs + tuple(self._redirect(r, ctx) for r in getattr(node, "redirects", []))
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
                    self._word(part, ctx)
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

    def _word(self, node: bashlex.ast.node, ctx: tuple[str, ...], split: bool = True) -> Word:
        """The one word ``node`` stands for (a redirection target, a list word, a name)."""
        fields = self._fields(node, ctx, split)
        if len(fields) == 1:
            return fields[0]
        raw = self.source[node.pos[0] : node.pos[1]]
        self.finding(
            FindingKind.LOOP,
            f"word {raw!r} expands to {len(fields)} words where bash needs one (an ambiguous redirect)",
            node.pos[0],
        )
        return Word(text=node.word, pattern="*", dynamic=True, split=True)

    def _fields(self, node: bashlex.ast.node, ctx: tuple[str, ...], split: bool = True) -> tuple[Word, ...]:
        """The words bash makes of ``node``: one, unless an unquoted loop variable splits."""
        start, end = node.pos
        raw = self.source[start:end]
        try:
            word = scan_word(raw)
        except WordError as err:
            self.finding(_WORD_KINDS.get(err.kind, FindingKind.PARSE_ERROR), err.detail, start + err.offset)
            word = Word(text=node.word, pattern="*", dynamic=True, split=True)
        unbound, bound = self._parts(node, ctx)
        if (unbound or bound) and not word.dynamic:
            # An expansion bashlex found but the scanner did not: its quoting is not known.
            return (replace(word, dynamic=True, split=True, pattern="*"),)
        if not word.dynamic and word.text != node.word and not _bashlex_dropped_backslashes(raw, word.text, node.word):
            self.finding(
                FindingKind.WORD_MISMATCH,
                f"word {raw!r} reads as {word.text!r} to sshwall but {node.word!r} to the parser",
                start,
            )
        if not (self.bindings and word.dynamic):
            return (word,)
        return self._substituted(raw, word, bound, unbound, split, start)

    def _substituted(self, raw: str, word: Word, bound: int, unbound: bool, split: bool, start: int) -> tuple[Word, ...]:
        """``raw`` with the loop variables' values in it, as the words bash makes of it."""
        try:
            done = substitute(raw, self.bindings, split)
            if done is None and not bound:
                return (word,)  # no loop variable in it (an operation on one raises above)
            if done is None or done.count != bound:
                raise WordError("word-mismatch", f"word {raw!r}: sshwall and the parser see different loop variables in it", 0)
            if word.brace and len(done.pieces) > 1:
                raise WordError("loop", f"word {raw!r}: a loop value split inside a brace expansion is not supported", 0)
            fields = tuple(scan_word(piece) for piece in done.pieces)
        except WordError as err:
            kind = FindingKind.WORD_MISMATCH if err.kind == "word-mismatch" else _WORD_KINDS.get(err.kind, FindingKind.PARSE_ERROR)
            self.finding(kind, err.detail, start + err.offset)
            return (word,)
        self.split_loop_values = self.split_loop_values or done.split
        if unbound and not any(f.dynamic for f in fields):
            return (replace(word, dynamic=True, split=True, pattern="*"),)
        return fields

    def _parts(self, node: bashlex.ast.node, ctx: tuple[str, ...]) -> tuple[bool, int]:
        """Visit substitutions inside a word: does it hold an expansion, and how many loop
        variables (bound by an enclosing unrolled ``for``) does it name?"""
        dynamic = False
        bound = 0
        for part in getattr(node, "parts", []):
            kind = part.kind
            if kind in ("commandsubstitution", "processsubstitution") and "\n" in self.source[part.pos[0] : part.pos[1]]:
                # bashlex keeps only the first command of a newline-separated list in there.
                self.finding(FindingKind.UNSUPPORTED, "a newline inside a substitution is not supported", part.pos[0])
            if kind == "commandsubstitution":
                self.substitutions.add("command")
                self._in_copy(part.command, ctx + ("substitution",))
                dynamic = True
            elif kind == "processsubstitution":
                self.substitutions.add("process")
                self._in_copy(part.command, ctx + ("substitution",))
                dynamic = True
            elif kind == "parameter" and part.value in self.bindings:
                bound += 1
            elif kind == "parameter":
                self.substitutions.add("parameter")
                dynamic = True
            elif kind == "tilde":
                continue
            else:
                self.finding(FindingKind.UNKNOWN_NODE, f"unknown word part '{kind}'", _pos(part))
                dynamic = True
        return dynamic, bound

    def _redirect(self, node: bashlex.ast.node, ctx: tuple[str, ...]) -> Redirect:
        op = node.type
        fd = node.input if isinstance(node.input, int) else None
        if getattr(node, "heredoc", None) is not None or op in ("<<", "<<-"):
            self.finding(FindingKind.HEREDOC, "here-documents are not supported", node.pos[0])
            return Redirect(op, fd, None)
        out = node.output
        if isinstance(out, int) or isinstance(out, str):
            return Redirect(op, fd, out, self.here)
        # A here-string is neither split nor globbed; other targets must stay one word.
        return Redirect(op, fd, self._word(out, ctx, split=op != "<<<"), self.here)

    # -- simple commands --------------------------------------------------------------------

    def _command(self, node: bashlex.ast.node, ctx: tuple[str, ...], redirs: tuple[Redirect, ...]) -> None:
        assignments: list[tuple[str, Word]] = []
        words: list[Word] = []
        redirects = list(redirs)
        for i, part in enumerate(node.parts):
            kind = part.kind
            if kind == "word" and _named_fd(self.source, part, node.parts[i + 1 : i + 2]):
                # bash reads `{fd}>file` as a redirection that assigns the new descriptor to the
                # variable fd (`{a[i]}>` evaluates the subscript); bashlex reads an argument.
                raw = self.source[part.pos[0] : part.pos[1]]
                self.finding(
                    FindingKind.EVALUATED_WORD,
                    f"`{raw}` before a redirection assigns the file descriptor to a variable"
                    + (" and evaluates its subscript, which runs commands" if "[" in raw else ""),
                    part.pos[0],
                )
            if kind == "assignment":
                name = part.word.split("=", 1)[0].rstrip("+")
                start = part.pos[0] + part.word.index("=") + 1
                value = self._assignment_value(part, start, ctx)
                assignments.append((name, value))
            elif kind == "word":
                words.extend(self._fields(part, ctx))
            elif kind == "redirect":
                redirects.append(self._redirect(part, ctx))
            else:
                self.finding(FindingKind.UNKNOWN_NODE, f"unknown command part '{kind}'", _pos(part))
        if self.loop_depth and not assignments and is_loop_exit(words):
            # `break` / `continue` in an unrolled loop only skip what was checked anyway; the
            # loop's redirections are still opened, so they stay to be checked.
            if redirects:
                self.commands.append(SimpleCommand((), (), tuple(redirects), (), ctx, folder=self.here))
            return
        self._emit(tuple(words), tuple(assignments), tuple(redirects), ctx, (), False, node.pos[0])

    def _assignment_value(self, node: bashlex.ast.node, start: int, ctx: tuple[str, ...]) -> Word:
        raw = self.source[start : node.pos[1]]
        try:
            value = scan_word(raw)
        except WordError as err:
            self.finding(_WORD_KINDS.get(err.kind, FindingKind.PARSE_ERROR), err.detail, start + err.offset)
            value = Word(text=raw, pattern="*", dynamic=True)
        unbound, bound = self._parts(node, ctx)
        if (unbound or bound) and not value.dynamic:
            value = replace(value, dynamic=True)  # bashlex found an expansion the scanner did not
        elif self.bindings and value.dynamic:
            # An assignment value is neither split nor globbed: one word, as if quoted.
            value = self._substituted(raw, value, bound, unbound, False, start)[0]
        return value

    def _emit(
        self,
        argv: tuple[Word, ...],
        assignments: tuple[tuple[str, Word], ...],
        redirects: tuple[Redirect, ...],
        ctx: tuple[str, ...],
        wrappers: tuple[WrapperUse, ...],
        extra: bool,
        pos: int,
        exec_after: int | None = None,
    ) -> None:
        # find -exec runs its command in find's folder, -execdir in each file's: left unknown.
        folder = self.here if exec_after is None else UNKNOWN
        for _ in range(MAX_WRAPPERS):
            if argv and not self._name_ok(argv[0], pos):
                break
            try:
                layer = unwrap_once(argv)
            except WrapperError as err:
                self.finding(FindingKind.WRAPPER_SYNTAX, str(err), pos)
                break
            if layer is None:
                break
            wrappers = wrappers + (layer.wrapper,)
            folder = UNKNOWN if layer.moves else folder
            if layer.script is not None:
                self._script(layer.script, layer.wrapper, redirects, ctx, wrappers, pos, folder)
                return
            argv = layer.argv
            assignments = assignments + layer.assignments
            extra = extra or layer.extra_args
        else:
            self.finding(FindingKind.TOO_DEEP, "too many nested wrappers", pos)
        cmd = SimpleCommand(argv, assignments, redirects, wrappers, ctx, extra, folder=folder)
        if exec_after is None and argv and argv[0].literal and argv[0].text in CD_NAMES:
            # A builtin cd moves this shell where it succeeds; under a wrapper it is not followed.
            self.moves += 1
            effect = cd_effect(argv) if not wrappers else CdEffect(False)
            self.ok = moved(self.here, effect.step) if effect.modelled else UNKNOWN
        # Builtins that evaluate words (test -v, printf -v, declare, trap, ...) are checked on
        # the unwrapped command, where sshwall knows whether bash or a PATH program runs it.
        check = check_builtin(cmd, exec_after)
        for problem in check.problems:
            self.finding(problem.kind, problem.detail, pos)
        self.commands.append(replace(cmd, sets=check.sets) if check.sets else cmd)
        if argv and basename(argv[0]) == "find":
            for inner in find_exec_commands(argv):
                self._emit(inner, (), (), ctx + ("find-exec",), wrappers, False, pos, len(wrappers))

    def _name_ok(self, name: Word, pos: int) -> bool:
        if name.literal:
            return True
        what = (
            "an expansion" if name.dynamic
            else "a glob" if name.glob
            else "a brace expansion" if name.brace
            else "a tilde"
        )
        self.finding(
            FindingKind.DYNAMIC_COMMAND_NAME,
            f"command name {name.text!r} contains {what}: the program that runs is unknown",
            pos,
        )
        return False

    def _script(
        self,
        script: Word,
        shell: WrapperUse,
        redirects: tuple[Redirect, ...],
        ctx: tuple[str, ...],
        wrappers: tuple[WrapperUse, ...],
        pos: int,
        folder: Folder,
    ) -> None:
        if not script.literal:
            self.finding(
                FindingKind.DYNAMIC_COMMAND_NAME,
                f"{shell.name} -c script {script.text!r} is not a literal string",
                pos,
            )
            return
        inner = self.reanalyse(script.text, self.level + 1)
        self.findings.extend(
            Finding(f.kind, f"in {shell.name} -c: {f.detail}", pos) for f in inner.findings
        )
        self.operators |= inner.operators
        self.constructs |= inner.constructs
        self.substitutions |= inner.substitutions
        if not inner.commands:
            self.commands.append(SimpleCommand(shell.argv, (), redirects, wrappers[:-1], ctx, folder=folder))
        for cmd in inner.commands:
            # The script starts where its shell runs; the shell's own redirects keep their folder.
            self.commands.append(
                replace(
                    cmd,
                    redirects=redirects + tuple(replace(r, folder=within(folder, r.folder)) for r in cmd.redirects),
                    wrappers=wrappers + cmd.wrappers,
                    context=ctx + ("sh-c",) + cmd.context,
                    folder=within(folder, cmd.folder),
                )
            )


def _bashlex_dropped_backslashes(raw: str, ours: str, theirs: str) -> bool:
    """bashlex drops a backslash inside double quotes that bash keeps ("%s\\n" is `%s\\n` to
    bash, `%sn` to bashlex); such a word differs from ours by those backslashes alone."""
    return '"' in raw and "\\" in ours and ours.replace("\\", "") == theirs.replace("\\", "")


_NAMED_FD = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*(?:\[.*\])?\}\Z", re.DOTALL)


def _named_fd(source: str, word: bashlex.ast.node, after: list[bashlex.ast.node]) -> bool:
    """Is ``word`` the ``{varname}`` of a redirection written right against it (``{fd}>x``)?"""
    if not after or after[0].kind != "redirect" or after[0].pos[0] != word.pos[1]:
        return False
    return _NAMED_FD.match(source[word.pos[0] : word.pos[1]]) is not None


def _pos(node: bashlex.ast.node) -> int:
    pos = getattr(node, "pos", None)
    return pos[0] if pos else -1
