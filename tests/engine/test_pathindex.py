"""The pattern tree (``sshwall.engine.pathindex``) gives ``overlap``'s answer for every pattern.

``PatternSet`` walks the tree for paths with globs or unknown folders; each result is checked
here against ``paths.overlap`` tried pattern by pattern, on random pattern sets written with
every kind of segment (``**``, escapes, brackets, classes, leading dots), on the shipped
catalogue's folder prefixes, and the regular expressions the tree uses for plain names against
``segment_overlap``.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from sshwall.engine import paths as P
from sshwall.policy import load_policy

POLICY = load_policy(Path(__file__).resolve().parents[2] / "rules" / "readonly-ops.yaml")
ATOMS = ["a", "b", "x", "ab", ".", "..x", ".a", "*", "?", "[ab]", "[!a]", "[^.]", "\\*", "\\.a", "a\\[", "[",
         "]", "[]a]", "[[:alpha:]]", "*a", "a*", "a?b", ".*", "*.key", "id_*", "[a-z]*", "-", "\\\\"]


def _segment(rng: random.Random) -> str:
    return "".join(rng.choice(ATOMS) for _ in range(rng.randint(1, 3)))


def _path(rng: random.Random, pool: list[str]) -> P.Segments:
    out: list[str] = []
    for _ in range(rng.randint(0, 5)):
        seg = rng.choice(pool) if rng.random() < 0.6 else P.ANY if rng.random() < 0.3 else _segment(rng)
        if not (seg == P.ANY and out and out[-1] == P.ANY):  # normalise folds `**/**`
            out.append(seg)
    return tuple(out)


def _agree(named: tuple[tuple[str, P.Segments], ...], rng: random.Random, tries: int) -> int:
    patterns = P.PatternSet(named)
    pool = sorted({x for _, segs in named for x in segs} | {"*", "?", "x*", ".*", "*.key", "[a-z]*", "id_*"})
    checked = 0
    for _ in range(tries):
        path = _path(rng, pool)
        if P.is_literal_path(path):
            continue  # literal paths take the regex index
        expected = [t for t, segs in named if P.overlap(path, segs)]
        assert patterns.matches(path) == expected, path
        assert patterns.first(path) == (expected[0] if expected else None), path
        checked += 1
    return checked


def test_tree_agrees_with_overlap_on_random_pattern_sets() -> None:
    rng = random.Random(20261202)
    checked = 0
    for _ in range(4):
        pool = [_segment(rng) for _ in range(12)] + [P.ANY]
        named = tuple((f"p{i}", _path(rng, pool)) for i in range(120))
        checked += _agree(named, rng, 300)
    assert checked > 600


def test_tree_agrees_with_overlap_on_the_catalogue_folders() -> None:
    cs = POLICY.commands["diagnostics"]
    named = tuple((t, P.normalise(t, None)) for t in cs.protected_paths)
    folders = tuple((t, p) for t, segs in named for p in P.ancestor_prefixes(segs))
    assert _agree(folders, random.Random(7), 400) > 200


def test_segment_regex_agrees_with_segment_overlap_on_plain_names() -> None:
    rng = random.Random(11)
    names = ["a", "b", "ab", ".a", "x", "a.key", "id_rsa", "[", "]", "-", "ba", "aab", ".", "..x", "é"]
    for _ in range(3000):
        glob = _segment(rng)
        name = "".join(rng.choice(names) for _ in range(rng.randint(1, 3)))
        P.segment_overlap.cache_clear()
        assert (re.fullmatch(P._segment_regex(glob), name) is not None) == P.segment_overlap(name, glob), (glob, name)
