"""PatternSet's prefilter for paths with globs or unknown folders never drops a true overlap."""

from __future__ import annotations

import random
from pathlib import Path

from sshwall.engine import paths as P
from sshwall.policy import load_policy

POLICY = load_policy(Path(__file__).resolve().parents[2] / "rules" / "readonly-ops.yaml")


def test_prefilter_agrees_with_overlap_on_the_shipped_catalogue() -> None:
    cs = POLICY.commands["diagnostics"]
    named = tuple((t, P.normalise(t, None)) for t in cs.protected_paths)
    patterns = P.PatternSet(named)
    pool = sorted({x for _, segs in named for x in segs} | {"*", "?", "x*", ".*", "*.key", "[a-z]*", "id_*"})
    rng = random.Random(20261201)
    checked = 0
    while checked < 600:
        path = tuple(rng.choice(pool + [P.ANY] * 3) for _ in range(rng.randint(1, 5)))
        if P.is_literal_path(path):
            continue  # literal paths take the regex index, not the prefilter
        assert patterns.matches(path) == [t for t, segs in named if P.overlap(path, segs)], path
        checked += 1
