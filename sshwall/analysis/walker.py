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

from sshwall.analysis.model import (
    Analysis,
    Finding,
    FindingKind,
    Redirect,
    SimpleCommand,
    Word,
    WrapperUse,
)
from sshwall.analysis.builtin_table import INTEGER_VARIABLES
from sshwall.analysis.builtins import check_builtin
from sshwall.analysis.words import WordError, scan_word
from sshwall.analysis.wrappers import MAX_WRAPPERS, WrapperError, basename, find_exec_commands, unwrap_once

_LIST_OPS = {";": "sequence", "\n": "sequence", "&": "background", "&&": "and", "||": "or"}
_WORD_KINDS = {
    "unsupported": FindingKind.UNSUPPORTED,
    "parse-error": FindingKind.PARSE_ERROR,
    "ansi-c-quote": FindingKind.ANSI_C_QUOTE,
    "hidden-substitution": FindingKind.HIDDEN_SUBSTITUTION,
    "evaluated-word": FindingKind.EVALUATED_WORD,
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
        try:
            walker.visit(tree, (), ())
        except Exception as err:  # noqa: BLE001 - a walker bug must deny, never allow
            walker.finding(FindingKind.UNKNOWN_NODE, f"cannot walk the parse tree ({type(err).__name__}: {err})")
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

    def result(self) -> Analysis:
        """The collected ``Analysis``."""
        return Analysis(
            source=self.source,
            commands=tuple(self.commands),
            operators=frozenset(self.operators),
            constructs=frozenset(self.constructs),
            substitutions=frozenset(self.substitutions),
            findings=tuple(self.findings),
        )

    def finding(self, kind: FindingKind, detail: str, pos: int = -1) -> None:
        self.findings.append(Finding(kind, detail, pos))

    # -- structure -------------------------------------------------------------------------

    def visit(self, node: bashlex.ast.node, ctx: tuple[str, ...], redirs: tuple[Redirect, ...]) -> None:
        kind = node.kind
        if kind == "command":
            self._command(node, ctx, redirs)
        elif kind == "list":
            parts = node.parts
            for i, part in enumerate(parts):
                if part.kind == "operator":
                    self.operators.add(_LIST_OPS.get(part.op, "unknown:" + part.op))
                    continue
                nxt = parts[i + 1] if i + 1 < len(parts) else None
                bg = nxt is not None and nxt.kind == "operator" and nxt.op == "&"
                self.visit(part, ctx + ("background",) if bg else ctx, redirs)
        elif kind == "pipeline":
            for part in node.parts:
                if part.kind == "pipe":
                    self.operators.add("pipe")
                    continue
                if part.kind == "reservedword" and part.word == "!":
                    self.constructs.add("negation")
                    continue
                self.visit(part, ctx + ("pipeline",), redirs)
        elif kind == "compound" and self.source.startswith("((", node.pos[0]):
            # bash reads '((' as an arithmetic command (which expands variables as code);
            # bashlex reads two subshells.
            self.finding(FindingKind.UNSUPPORTED, "arithmetic command `((...))` is not supported", node.pos[0])
        elif kind == "compound":
            inner = redirs + tuple(self._redirect(r, ctx) for r in getattr(node, "redirects", []))
            for part in node.list:
                if part.kind == "reservedword":
                    if part.word == "(":
                        self.constructs.add("subshell")
                    elif part.word == "{":
                        self.constructs.add("group")
                    continue
                self.visit(part, ctx, inner)
        elif kind in ("if", "for", "while", "until"):
            self.constructs.add(kind)
            loop_name = kind == "for"
            for part in node.parts:
                if part.kind == "reservedword":
                    continue
                if part.kind == "word":
                    if loop_name and part.word in INTEGER_VARIABLES:
                        # `for OPTIND in 'a[$(id)]'` assigns each word to an integer variable,
                        # which evaluates it as arithmetic.
                        self.finding(
                            FindingKind.EVALUATED_WORD,
                            f"`for {part.word}` assigns each word to a variable with the integer "
                            "attribute, which evaluates it as arithmetic",
                            part.pos[0],
                        )
                    loop_name = False
                    self._word(part, ctx)
                else:
                    self.visit(part, ctx + (kind,), redirs)
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

    # -- words -----------------------------------------------------------------------------

    def _word(self, node: bashlex.ast.node, ctx: tuple[str, ...]) -> Word:
        start, end = node.pos
        raw = self.source[start:end]
        try:
            word = scan_word(raw)
        except WordError as err:
            self.finding(_WORD_KINDS.get(err.kind, FindingKind.PARSE_ERROR), err.detail, start + err.offset)
            word = Word(text=node.word, pattern="*", dynamic=True, split=True)
        if self._parts(node, ctx):
            # An expansion bashlex found but the scanner did not: its quoting is not known.
            split = word.split or not word.dynamic
            word = replace(word, dynamic=True, split=split, pattern="*" if not word.dynamic else word.pattern)
        elif not word.dynamic and word.text != node.word and not _bashlex_dropped_backslashes(raw, word.text, node.word):
            self.finding(
                FindingKind.WORD_MISMATCH,
                f"word {raw!r} reads as {word.text!r} to sshwall but {node.word!r} to the parser",
                start,
            )
        return word

    def _parts(self, node: bashlex.ast.node, ctx: tuple[str, ...]) -> bool:
        """Visit substitutions inside a word; True when it holds any expansion."""
        dynamic = False
        for part in getattr(node, "parts", []):
            kind = part.kind
            if kind in ("commandsubstitution", "processsubstitution") and "\n" in self.source[part.pos[0] : part.pos[1]]:
                # bashlex keeps only the first command of a newline-separated list in there.
                self.finding(FindingKind.UNSUPPORTED, "a newline inside a substitution is not supported", part.pos[0])
            if kind == "commandsubstitution":
                self.substitutions.add("command")
                self.visit(part.command, ctx + ("substitution",), ())
                dynamic = True
            elif kind == "processsubstitution":
                self.substitutions.add("process")
                self.visit(part.command, ctx + ("substitution",), ())
                dynamic = True
            elif kind == "parameter":
                self.substitutions.add("parameter")
                dynamic = True
            elif kind == "tilde":
                continue
            else:
                self.finding(FindingKind.UNKNOWN_NODE, f"unknown word part '{kind}'", _pos(part))
                dynamic = True
        return dynamic

    def _redirect(self, node: bashlex.ast.node, ctx: tuple[str, ...]) -> Redirect:
        op = node.type
        fd = node.input if isinstance(node.input, int) else None
        if getattr(node, "heredoc", None) is not None or op in ("<<", "<<-"):
            self.finding(FindingKind.HEREDOC, "here-documents are not supported", node.pos[0])
            return Redirect(op, fd, None)
        out = node.output
        if isinstance(out, int) or isinstance(out, str):
            return Redirect(op, fd, out)
        return Redirect(op, fd, self._word(out, ctx))

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
                words.append(self._word(part, ctx))
            elif kind == "redirect":
                redirects.append(self._redirect(part, ctx))
            else:
                self.finding(FindingKind.UNKNOWN_NODE, f"unknown command part '{kind}'", _pos(part))
        self._emit(tuple(words), tuple(assignments), tuple(redirects), ctx, (), False, node.pos[0])

    def _assignment_value(self, node: bashlex.ast.node, start: int, ctx: tuple[str, ...]) -> Word:
        raw = self.source[start : node.pos[1]]
        try:
            value = scan_word(raw)
        except WordError as err:
            self.finding(_WORD_KINDS.get(err.kind, FindingKind.PARSE_ERROR), err.detail, start + err.offset)
            value = Word(text=raw, pattern="*", dynamic=True)
        if self._parts(node, ctx):
            value = replace(value, dynamic=True)
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
            if layer.script is not None:
                self._script(layer.script, layer.wrapper, redirects, ctx, wrappers, pos)
                return
            argv = layer.argv
            assignments = assignments + layer.assignments
            extra = extra or layer.extra_args
        else:
            self.finding(FindingKind.TOO_DEEP, "too many nested wrappers", pos)
        cmd = SimpleCommand(argv, assignments, redirects, wrappers, ctx, extra)
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
            self.commands.append(SimpleCommand(shell.argv, (), redirects, wrappers[:-1], ctx))
        for cmd in inner.commands:
            self.commands.append(
                replace(
                    cmd,
                    redirects=redirects + cmd.redirects,
                    wrappers=wrappers + cmd.wrappers,
                    context=ctx + ("sh-c",) + cmd.context,
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
