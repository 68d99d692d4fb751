"""The simple commands of a bashlex tree: argv, assignments and redirections, wrappers
unwrapped, builtins checked, ``sh -c`` scripts analysed again, ``find -exec`` commands.

Functions of the ``Walker`` (``sshwall.analysis.walker``): each adds the commands it finds to
the walker's list and its problems to the walker's findings.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

import bashlex.ast

from sshwall.analysis.builtins import check_builtin
from sshwall.analysis.folders import CD_NAMES, UNKNOWN, CdEffect, cd_effect, moved, within
from sshwall.analysis.model import Finding, FindingKind, Folder, Redirect, SimpleCommand, Word, WrapperUse
from sshwall.analysis.unroll import is_loop_exit
from sshwall.analysis.wordnodes import _pos, assignment_value, redirect, word_fields
from sshwall.analysis.wrappers import MAX_WRAPPERS, basename, find_exec_commands, unwrap_once
from sshwall.errors import WrapperError

if TYPE_CHECKING:
    from sshwall.analysis.walker import Walker


def command(w: Walker, node: bashlex.ast.node, ctx: tuple[str, ...], redirs: tuple[Redirect, ...]) -> None:
    assignments: list[tuple[str, Word]] = []
    words: list[Word] = []
    redirects = list(redirs)
    for i, part in enumerate(node.parts):
        kind = part.kind
        if kind == "word" and _named_fd(w.source, part, node.parts[i + 1 : i + 2]):
            # bash reads `{fd}>file` as a redirection that assigns the new descriptor to the
            # variable fd (`{a[i]}>` evaluates the subscript); bashlex reads an argument.
            raw = w.source[part.pos[0] : part.pos[1]]
            w.finding(
                FindingKind.EVALUATED_WORD,
                f"`{raw}` before a redirection assigns the file descriptor to a variable"
                + (" and evaluates its subscript, which runs commands" if "[" in raw else ""),
                part.pos[0],
            )
        if kind == "assignment":
            name = part.word.split("=", 1)[0].rstrip("+")
            start = part.pos[0] + part.word.index("=") + 1
            value = assignment_value(w, part, start, ctx)
            assignments.append((name, value))
        elif kind == "word":
            words.extend(word_fields(w, part, ctx))
        elif kind == "redirect":
            redirects.append(redirect(w, part, ctx))
        else:
            w.finding(FindingKind.UNKNOWN_NODE, f"unknown command part '{kind}'", _pos(part))
    if w.loop_depth and not assignments and is_loop_exit(words):
        # `break` / `continue` in an unrolled loop only skip what was checked anyway; the
        # loop's redirections are still opened, so they stay to be checked.
        if redirects:
            w.commands.append(SimpleCommand((), (), tuple(redirects), (), ctx, folder=w.here))
        return
    emit(w, tuple(words), tuple(assignments), tuple(redirects), ctx, (), False, node.pos[0])


def emit(
    w: Walker,
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
    folder = w.here if exec_after is None else UNKNOWN
    for _ in range(MAX_WRAPPERS):
        if argv and not name_ok(w, argv[0], pos):
            break
        try:
            layer = unwrap_once(argv)
        except WrapperError as err:
            w.finding(FindingKind.WRAPPER_SYNTAX, str(err), pos)
            break
        if layer is None:
            break
        wrappers = wrappers + (layer.wrapper,)
        folder = UNKNOWN if layer.moves else folder
        if layer.script is not None:
            run_script(w, layer.script, layer.wrapper, redirects, ctx, wrappers, pos, folder)
            return
        argv = layer.argv
        assignments = assignments + layer.assignments
        extra = extra or layer.extra_args
    else:
        w.finding(FindingKind.TOO_DEEP, "too many nested wrappers", pos)
    cmd = SimpleCommand(argv, assignments, redirects, wrappers, ctx, extra, folder=folder)
    if exec_after is None and argv and argv[0].literal and argv[0].text in CD_NAMES:
        # A builtin cd moves this shell where it succeeds; under a wrapper it is not followed.
        w.moves += 1
        effect = cd_effect(argv) if not wrappers else CdEffect(False)
        w.ok = moved(w.here, effect.step) if effect.modelled else UNKNOWN
    # Builtins that evaluate words (test -v, printf -v, declare, trap, ...) are checked on
    # the unwrapped command, where sshwall knows whether bash or a PATH program runs it.
    check = check_builtin(cmd, exec_after)
    for problem in check.problems:
        w.finding(problem.kind, problem.detail, pos)
    w.commands.append(replace(cmd, sets=check.sets) if check.sets else cmd)
    if argv and basename(argv[0]) == "find":
        for inner in find_exec_commands(argv):
            emit(w, inner, (), (), ctx + ("find-exec",), wrappers, False, pos, len(wrappers))


def name_ok(w: Walker, name: Word, pos: int) -> bool:
    if name.literal:
        return True
    what = (
        "an expansion" if name.dynamic
        else "a glob" if name.glob
        else "a brace expansion" if name.brace
        else "a tilde"
    )
    w.finding(
        FindingKind.DYNAMIC_COMMAND_NAME,
        f"command name {name.text!r} contains {what}: the program that runs is unknown",
        pos,
    )
    return False


def run_script(
    w: Walker,
    script: Word,
    shell: WrapperUse,
    redirects: tuple[Redirect, ...],
    ctx: tuple[str, ...],
    wrappers: tuple[WrapperUse, ...],
    pos: int,
    folder: Folder,
) -> None:
    if not script.literal:
        w.finding(
            FindingKind.DYNAMIC_COMMAND_NAME,
            f"{shell.name} -c script {script.text!r} is not a literal string",
            pos,
        )
        return
    inner = w.reanalyse(script.text, w.level + 1)
    w.findings.extend(
        Finding(f.kind, f"in {shell.name} -c: {f.detail}", pos) for f in inner.findings
    )
    w.operators |= inner.operators
    w.constructs |= inner.constructs
    w.substitutions |= inner.substitutions
    if not inner.commands:
        w.commands.append(SimpleCommand(shell.argv, (), redirects, wrappers[:-1], ctx, folder=folder))
    for cmd in inner.commands:
        # The script starts where its shell runs; the shell's own redirects keep their folder.
        w.commands.append(
            replace(
                cmd,
                redirects=redirects + tuple(replace(r, folder=within(folder, r.folder)) for r in cmd.redirects),
                wrappers=wrappers + cmd.wrappers,
                context=ctx + ("sh-c",) + cmd.context,
                folder=within(folder, cmd.folder),
            )
        )


_NAMED_FD = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*(?:\[.*\])?\}\Z", re.DOTALL)


def _named_fd(source: str, word: bashlex.ast.node, after: list[bashlex.ast.node]) -> bool:
    """Is ``word`` the ``{varname}`` of a redirection written right against it (``{fd}>x``)?"""
    if not after or after[0].kind != "redirect" or after[0].pos[0] != word.pos[1]:
        return False
    return _NAMED_FD.match(source[word.pos[0] : word.pos[1]]) is not None
