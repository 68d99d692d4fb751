"""The words of a bashlex tree: one shell word, the fields it splits into, redirections.

Each word is read again by sshwall's own scanner (``words.scan_word``) and compared with what
bashlex made of it; a disagreement is a finding. Substitutions inside a word are walked as
commands that run in a copy of the shell, and the values of unrolled loop variables are put
in (``substitute``). Functions of the ``Walker`` (``sshwall.analysis.walker``) they report to.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import bashlex.ast

from sshwall.analysis.model import FindingKind, Redirect, Word
from sshwall.analysis.substitute import substitute
from sshwall.analysis.words import scan_word
from sshwall.errors import WordError

if TYPE_CHECKING:
    from sshwall.analysis.walker import Walker

_WORD_KINDS = {
    "unsupported": FindingKind.UNSUPPORTED,
    "parse-error": FindingKind.PARSE_ERROR,
    "ansi-c-quote": FindingKind.ANSI_C_QUOTE,
    "hidden-substitution": FindingKind.HIDDEN_SUBSTITUTION,
    "evaluated-word": FindingKind.EVALUATED_WORD,
    "loop": FindingKind.LOOP,
}



def one_word(w: Walker, node: bashlex.ast.node, ctx: tuple[str, ...], split: bool = True) -> Word:
    """The one word ``node`` stands for (a redirection target, a list word, a name)."""
    fields = word_fields(w, node, ctx, split)
    if len(fields) == 1:
        return fields[0]
    raw = w.source[node.pos[0] : node.pos[1]]
    w.finding(
        FindingKind.LOOP,
        f"word {raw!r} expands to {len(fields)} words where bash needs one (an ambiguous redirect)",
        node.pos[0],
    )
    return Word(text=node.word, pattern="*", dynamic=True, split=True)


def word_fields(w: Walker, node: bashlex.ast.node, ctx: tuple[str, ...], split: bool = True) -> tuple[Word, ...]:
    """The words bash makes of ``node``: one, unless an unquoted loop variable splits."""
    start, end = node.pos
    raw = w.source[start:end]
    try:
        word = scan_word(raw)
    except WordError as err:
        w.finding(_WORD_KINDS.get(err.kind, FindingKind.PARSE_ERROR), err.detail, start + err.offset)
        word = Word(text=node.word, pattern="*", dynamic=True, split=True)
    unbound, bound = word_parts(w, node, ctx)
    if (unbound or bound) and not word.dynamic:
        # An expansion bashlex found but the scanner did not: its quoting is not known.
        return (replace(word, dynamic=True, split=True, pattern="*"),)
    if not word.dynamic and word.text != node.word and not _bashlex_dropped_backslashes(raw, word.text, node.word):
        w.finding(
            FindingKind.WORD_MISMATCH,
            f"word {raw!r} reads as {word.text!r} to sshwall but {node.word!r} to the parser",
            start,
        )
    if not (w.bindings and word.dynamic):
        return (word,)
    return substituted(w, raw, word, bound, unbound, split, start)


def substituted(w: Walker, raw: str, word: Word, bound: int, unbound: bool, split: bool, start: int) -> tuple[Word, ...]:
    """``raw`` with the loop variables' values in it, as the words bash makes of it."""
    try:
        done = substitute(raw, w.bindings, split)
        if done is None and not bound:
            return (word,)  # no loop variable in it (an operation on one raises above)
        if done is None or done.count != bound:
            raise WordError("word-mismatch", f"word {raw!r}: sshwall and the parser see different loop variables in it", 0)
        if word.brace and len(done.pieces) > 1:
            raise WordError("loop", f"word {raw!r}: a loop value split inside a brace expansion is not supported", 0)
        fields = tuple(scan_word(piece) for piece in done.pieces)
    except WordError as err:
        kind = FindingKind.WORD_MISMATCH if err.kind == "word-mismatch" else _WORD_KINDS.get(err.kind, FindingKind.PARSE_ERROR)
        w.finding(kind, err.detail, start + err.offset)
        return (word,)
    w.split_loop_values = w.split_loop_values or done.split
    if unbound and not any(f.dynamic for f in fields):
        return (replace(word, dynamic=True, split=True, pattern="*"),)
    return fields


def word_parts(w: Walker, node: bashlex.ast.node, ctx: tuple[str, ...]) -> tuple[bool, int]:
    """Visit substitutions inside a word: does it hold an expansion, and how many loop
    variables (bound by an enclosing unrolled ``for``) does it name?"""
    dynamic = False
    bound = 0
    for part in getattr(node, "parts", []):
        kind = part.kind
        if kind in ("commandsubstitution", "processsubstitution") and "\n" in w.source[part.pos[0] : part.pos[1]]:
            # bashlex keeps only the first command of a newline-separated list in there.
            w.finding(FindingKind.UNSUPPORTED, "a newline inside a substitution is not supported", part.pos[0])
        if kind == "commandsubstitution":
            w.substitutions.add("command")
            w._in_copy(part.command, ctx + ("substitution",))
            dynamic = True
        elif kind == "processsubstitution":
            w.substitutions.add("process")
            w._in_copy(part.command, ctx + ("substitution",))
            dynamic = True
        elif kind == "parameter" and part.value in w.bindings:
            bound += 1
        elif kind == "parameter":
            w.substitutions.add("parameter")
            dynamic = True
        elif kind == "tilde":
            continue
        else:
            w.finding(FindingKind.UNKNOWN_NODE, f"unknown word part '{kind}'", _pos(part))
            dynamic = True
    return dynamic, bound


def redirect(w: Walker, node: bashlex.ast.node, ctx: tuple[str, ...]) -> Redirect:
    op = node.type
    fd = node.input if isinstance(node.input, int) else None
    if getattr(node, "heredoc", None) is not None or op in ("<<", "<<-"):
        w.finding(FindingKind.HEREDOC, "here-documents are not supported", node.pos[0])
        return Redirect(op, fd, None)
    out = node.output
    if isinstance(out, (int, str)):
        return Redirect(op, fd, out, w.here)
    # A here-string is neither split nor globbed; other targets must stay one word.
    return Redirect(op, fd, one_word(w, out, ctx, split=op != "<<<"), w.here)

# -- simple commands --------------------------------------------------------------------


def assignment_value(w: Walker, node: bashlex.ast.node, start: int, ctx: tuple[str, ...]) -> Word:
    raw = w.source[start : node.pos[1]]
    try:
        value = scan_word(raw)
    except WordError as err:
        w.finding(_WORD_KINDS.get(err.kind, FindingKind.PARSE_ERROR), err.detail, start + err.offset)
        value = Word(text=raw, pattern="*", dynamic=True)
    unbound, bound = word_parts(w, node, ctx)
    if (unbound or bound) and not value.dynamic:
        value = replace(value, dynamic=True)  # bashlex found an expansion the scanner did not
    elif w.bindings and value.dynamic:
        # An assignment value is neither split nor globbed: one word, as if quoted.
        value = substituted(w, raw, value, bound, unbound, False, start)[0]
    return value


def _bashlex_dropped_backslashes(raw: str, ours: str, theirs: str) -> bool:
    """bashlex drops a backslash inside double quotes that bash keeps ("%s\\n" is `%s\\n` to
    bash, `%sn` to bashlex); such a word differs from ours by those backslashes alone."""
    return '"' in raw and "\\" in ours and ours.replace("\\", "") == theirs.replace("\\", "")


def _pos(node: bashlex.ast.node) -> int:
    pos = getattr(node, "pos", None)
    return pos[0] if pos else -1
