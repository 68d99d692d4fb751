"""bashlex's ``parse``, as sshwall calls it on every command.

``bashlex.parse`` defines a visitor class on every call (unused, it is a leftover) and walks
each parsed tree once more to find where a here-document ends. This is the same loop over the
same parser, with bashlex's module-level ``_endfinder`` and that walk skipped when the text
holds no ``<<`` (a here-document needs one), so the trees are the same, bit for bit
(``tests/analysis/test_parse.py`` compares them). Where a bashlex release lacks the private
names used here, ``bashlex.parse`` itself is called.
"""

from __future__ import annotations

import bashlex
import bashlex.ast
import bashlex.parser

_parser = getattr(bashlex.parser, "_parser", None)
_endfinder = getattr(bashlex.parser, "_endfinder", None)


def parse(source: str) -> list[bashlex.ast.node]:
    """The trees of ``source``, as ``bashlex.parse(source)`` returns them (it may raise)."""
    if _parser is None or _endfinder is None:
        return list(bashlex.parse(source))
    heredocs = "<<" in source
    parts = [_parser(source).parse()]
    index = _end(parts[-1], heredocs) + 1
    while index < len(source):
        part = _parser(source[index:]).parse()
        if not isinstance(part, bashlex.ast.node):
            break
        bashlex.ast.posshifter(index).visit(part)
        parts.append(part)
        index = _end(parts[-1], heredocs) + 1
    return parts


def _end(tree: bashlex.ast.node, heredocs: bool) -> int:
    """Where ``tree`` ends in the text, its here-documents' bodies included."""
    if not heredocs and isinstance(tree, bashlex.ast.node):
        return int(tree.pos[1])
    # (Not a node: the walk fails as in ``bashlex.parse``, with the same error.)
    finder = _endfinder()  # type: ignore[misc]
    finder.visit(tree)
    return int(max(tree.pos[1], finder.end))


__all__ = ["parse"]
