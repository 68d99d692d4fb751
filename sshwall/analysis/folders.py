"""Where each command of a script runs, relative to the folder the script started in.

The walker follows ``cd`` through the script's control flow as bash runs it with its default
options (``bash -c``: no ``lastpipe``, no ``cdable_vars``, no ``autocd``):

- ``A && B`` runs B only where A succeeded, ``A || B`` only where it failed, ``A; B`` either way
  (a ``cd`` that fails leaves the folder as it was);
- a subshell ``( ... )``, a command or process substitution, every part of a pipeline of two or
  more commands, a backgrounded list (``... &``) and an ``sh -c`` script run in a copy of the
  shell: a ``cd`` in there ends with them;
- a ``cd`` inside ``if``/``for``/``while``/``until`` (whose bodies may run any number of times),
  ``cd -``, ``popd``, a ``cd`` with options or operands sshwall does not model, a ``cd`` under a
  wrapper (``command cd``, ``env cd``), and a wrapper that changes folder itself (``env -C``,
  ``sudo -D``/``-i``, ``chroot``, a login or interactive shell) make the folder unknown.

The result is a ``Folder`` per command: the ``cd`` operands that may have run before it, each
possibility one sequence, from the start. The engine resolves them against what it knows of the
start folder and the home (nothing: every relative path may be anywhere, as before).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sshwall.analysis.model import Folder, Redirect, Word

MAX_PATHS = 16  # more possibilities than this: the folder is unknown
MAX_STEPS = 16  # a longer chain of cd's: unknown
CD_NAMES = frozenset({"cd", "pushd", "popd"})
_CD_FLAGS = frozenset({"-L", "-P", "-e"})

START = Folder()
UNKNOWN = Folder(paths=frozenset(), known=False)


def union(a: Folder, b: Folder) -> Folder:
    """Either folder (a command that runs after one of two paths)."""
    if a is b:
        return a
    if not a.known or not b.known:
        return UNKNOWN
    paths = a.paths | b.paths
    return Folder(paths) if len(paths) <= MAX_PATHS else UNKNOWN


def moved(a: Folder, step: Word | None) -> Folder:
    """``a`` after a ``cd`` to ``step`` (None: ``cd`` alone, the home) succeeded."""
    if not a.known or any(len(p) >= MAX_STEPS for p in a.paths):
        return UNKNOWN
    return Folder(frozenset(p + (step,) for p in a.paths))


def within(outer: Folder, inner: Folder) -> Folder:
    """A folder relative to a script's start, where that script started in ``outer``."""
    if not outer.known or not inner.known:
        return UNKNOWN
    paths = frozenset(o + i for o in outer.paths for i in inner.paths)
    if len(paths) > MAX_PATHS or any(len(p) > MAX_STEPS for p in paths):
        return UNKNOWN
    return Folder(paths)


@dataclass(frozen=True, slots=True)
class CdEffect:
    """What one builtin ``cd``-like command does to the shell's folder.

    ``step`` is the operand (None: the home) when ``modelled``; otherwise the folder becomes
    unknown wherever the command may have succeeded.
    """

    modelled: bool
    step: Word | None = None


def cd_effect(argv: tuple[Word, ...]) -> CdEffect:
    """How ``cd DIR`` / ``pushd DIR`` / ``popd`` (argv as written, no wrapper) moves the shell."""
    name = argv[0].text
    if name == "popd":
        return CdEffect(False)
    words = list(argv[1:])
    if name == "cd":
        while words and words[0].literal and words[0].text in _CD_FLAGS:
            words.pop(0)
    if words and words[0].literal and words[0].text == "--":
        words.pop(0)
    if not words:
        # `cd` alone goes home; `pushd` alone swaps the top two folders of the stack.
        return CdEffect(name == "cd")
    if len(words) != 1:
        return CdEffect(False)
    word = words[0]
    text = word.text
    if not text or (word.literal and (text == "-" or (name == "pushd" and text[:1] in "+-"))):
        # `cd -` is $OLDPWD; `pushd +N`/`-N` rotate the stack; an empty operand varies by version.
        return CdEffect(False)
    if word.literal and text.startswith("-"):
        return CdEffect(False)  # an option sshwall does not model
    return CdEffect(True, word)




# -- walking a list: `A && B || C; D & E` ------------------------------------------------------

_LIST_OPS = {";": "sequence", "\n": "sequence", "&": "background", "&&": "and", "||": "or"}


class FlowWalker(Protocol):
    """What ``walk_list`` needs of the walker: its folder state and a way to visit a node."""

    here: Folder
    ok: Folder
    fail: Folder
    operators: set[str]

    def visit(self, node: Any, ctx: tuple[str, ...], redirs: tuple[Redirect, ...]) -> None: ...


def walk_list(walker: FlowWalker, node: Any, ctx: tuple[str, ...], redirs: tuple[Redirect, ...]) -> None:
    """Visit a bashlex list node, each part from the folder the ones before it leave.

    ``&&`` and ``||`` bind tighter than ``;`` and ``&``; a chain ended by ``&`` ran in a
    background copy of the shell, so the next one starts where that chain started.
    """
    parts = node.parts
    chain_start = walker.here
    ok: Folder | None = None  # where the and-or chain so far may leave the shell
    fail: Folder = chain_start
    joiner = ""
    for i, part in enumerate(parts):
        if part.kind == "operator":
            walker.operators.add(_LIST_OPS.get(part.op, "unknown:" + part.op))
            if part.op in ("&&", "||"):
                joiner = part.op
            elif ok is not None:
                chain_start = chain_start if part.op == "&" else union(ok, fail)
                ok, fail, joiner = None, chain_start, ""
            continue
        nxt = parts[i + 1] if i + 1 < len(parts) else None
        bg = nxt is not None and nxt.kind == "operator" and nxt.op == "&"
        walker.here = chain_start if ok is None else fail if joiner == "||" else ok
        walker.visit(part, ctx + ("background",) if bg else ctx, redirs)
        if ok is None:
            ok, fail = walker.ok, walker.fail
        elif joiner == "||":
            ok, fail = union(ok, walker.ok), walker.fail
        else:
            ok, fail = walker.ok, union(fail, walker.fail)
    walker.ok, walker.fail = (chain_start, chain_start) if ok is None else (ok, fail)
    walker.here = union(walker.ok, walker.fail)


__all__ = ["CD_NAMES", "START", "UNKNOWN", "CdEffect", "FlowWalker", "cd_effect", "moved", "union", "walk_list", "within"]
