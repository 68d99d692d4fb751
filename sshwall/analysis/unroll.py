"""Unrolling `for NAME in WORD...; do BODY; done` for the walker.

The body is walked once per value with the variable bound (the walker substitutes it in every
word, see ``substitute``), so each run of the body becomes ordinary simple commands for the
engine. What cannot be unrolled honestly is a ``loop`` finding naming the construct: a word list
that is not literal (``$(ls)``, ``$x``, ``"$@"``, no ``in`` at all), a loop variable that is
unsafe to assign or that the body reassigns, a nested loop over the same name, or more than
``MAX_LOOP_COMMANDS`` unrolled commands. ``for ((...))`` and ``select`` never get here: bashlex
refuses them, which is a finding too.

After the loop the variable keeps its last value in bash; sshwall does not bind it there, so a
later ``$NAME`` is an ordinary parameter expansion of unknown value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sshwall.analysis.builtin_table import INTEGER_VARIABLES
from sshwall.analysis.loops import (
    MAX_LOOP_COMMANDS,
    LoopValue,
    assigns,
    body_size,
    describe_list_word,
    loop_values,
    name_problem,
)
from sshwall.analysis.model import FindingKind, Redirect, SimpleCommand, Word

if TYPE_CHECKING:
    import bashlex.ast

    from sshwall.analysis.walker import Walker


def is_loop_exit(words: list[Word]) -> bool:
    """Is this `break` / `continue` (with an optional literal count) and nothing else?"""
    if not words or not words[0].literal or words[0].text not in ("break", "continue"):
        return False
    if len(words) == 1:
        return True
    count = words[1].text
    return len(words) == 2 and words[1].literal and count.isascii() and count.isdigit() and int(count) >= 1


def unroll_for(w: Walker, node: bashlex.ast.node, ctx: tuple[str, ...], redirs: tuple[Redirect, ...]) -> None:
    """Walk one ``for`` node: its body once per value, or once unbound beside a finding."""
    w.constructs.add("for")
    pos = node.pos[0]
    name_node, words, body, has_in = _split(node)
    name = w.source[name_node.pos[0] : name_node.pos[1]]  # as written: `for 'f' in` is an error
    if name in INTEGER_VARIABLES:
        # `for OPTIND in 'a[$(id)]'` assigns each word to an integer variable, which evaluates it.
        w.finding(
            FindingKind.EVALUATED_WORD,
            f"`for {name}` assigns each word to a variable with the integer attribute, which evaluates it as arithmetic",
            name_node.pos[0],
        )
    problem = None if has_in else (
        f"`for {name}` without `in` loops over the positional parameters (`$@`), which sshwall does not know"
    )
    values: list[LoopValue] = []
    for word in words:
        raw = w.source[word.pos[0] : word.pos[1]]
        if word.kind != "word":
            w.finding(FindingKind.UNKNOWN_NODE, f"unknown part '{word.kind}' in a for word list", pos)
            problem = problem or f"`for {name} in`: the word list is not understood"
            continue
        for fld in w._fields(word, ctx):
            got = loop_values(fld)
            if isinstance(got, str):
                what = describe_list_word(raw) if fld.dynamic else got
                problem = problem or (
                    f"`for {name} in ... {raw} ...`: the word list holds {what}, whose words are not "
                    "known before it runs; sshwall only unrolls loops over literal words"
                )
            else:
                values.extend(got)
    problem = problem or name_problem(name)
    if problem is None and name in w.bindings:
        problem = f"a nested `for {name}` reassigns the variable of the loop around it"
    if problem is not None:
        w.finding(FindingKind.LOOP, problem, pos)
        _walk(w, body, ctx, redirs, {k: v for k, v in w.bindings.items() if k != name})
        return
    size = max(1, body_size(body))
    cost = len(values) * size
    if w.loop_commands + cost > MAX_LOOP_COMMANDS:
        w.finding(
            FindingKind.LOOP,
            f"`for {name}` unrolls into {cost} commands ({len(values)} values x {size}), and with the loops "
            f"before it over the cap of {MAX_LOOP_COMMANDS}",
            pos,
        )
        return
    w.loop_commands += cost
    if not values and redirs:
        w.commands.append(SimpleCommand((), (), redirs, (), ctx, folder=w.here))  # its redirections still open
    seen: set[SimpleCommand] = set()
    reassigned = False
    outer = w.bindings
    for value in values:
        mark = len(w.commands)
        _walk(w, body, ctx, redirs, {**outer, name: value})
        new = w.commands[mark:]
        del w.commands[mark:]
        for cmd in new:
            reassigned = reassigned or assigns(cmd, name)
            if cmd not in seen:  # a body that does not use the value repeats itself
                seen.add(cmd)
                w.commands.append(cmd)
    if reassigned:
        w.finding(
            FindingKind.LOOP,
            f"the body of `for {name}` assigns, exports or unsets `{name}`: the values sshwall "
            "substituted would not be the ones bash uses",
            pos,
        )


def _walk(
    w: Walker,
    body: list[bashlex.ast.node],
    ctx: tuple[str, ...],
    redirs: tuple[Redirect, ...],
    bindings: dict[str, LoopValue],
) -> None:
    outer = w.bindings
    w.bindings = bindings
    w.loop_depth += 1
    try:
        for part in body:
            w.visit(part, ctx + ("for",), redirs)
    finally:
        w.bindings = outer
        w.loop_depth -= 1


def _split(node: bashlex.ast.node) -> tuple[bashlex.ast.node, list[bashlex.ast.node], list[bashlex.ast.node], bool]:
    """(name, list words, body nodes, has `in`) of a ``for`` node."""
    parts = node.parts
    name = parts[1]
    words: list[bashlex.ast.node] = []
    body: list[bashlex.ast.node] = []
    has_in = in_body = False
    for part in parts[2:]:
        if part.kind == "reservedword":
            if part.word == "in" and not in_body and not words:
                has_in = True
            elif part.word in ("do", "{") and not in_body:
                in_body = True
            continue
        (body if in_body else words).append(part)
    return name, words, body, has_in
