"""``sshwall.analysis.parse`` gives the trees ``bashlex.parse`` gives, and the same errors."""

from __future__ import annotations

import json
from pathlib import Path

import bashlex
import pytest

from sshwall.analysis.parse import parse

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "readonly-ops.jsonl"
TRICKY = [
    "uptime",
    "ls -la /var/log && cat /etc/os-release | head -5; echo done &",
    "a; b\nc && d || e",
    "cat <<EOF\nhello $x\nEOF\necho after",
    "cat <<-'EOF' > /tmp/x\n\tbody\n\tEOF\nls",
    "echo $(ls; echo `id`) <(cat /x) >(wc -l)",
    "for f in a b; do echo $f; done; if true; then :; fi",
    "f() { echo; }; f",
    "echo 'unterminated",
    "(( 1 + 2 ))",
    "case x in a) ;; esac",
    "echo a\n\n\necho b\n",
    "echo hi # comment\nls",
    "",
    "   ",
    "# only a comment",
    "\n\n",
    "ls # x\n# y",
]


def _commands() -> list[str]:
    out = list(TRICKY)
    if CORPUS.is_file():
        for line in CORPUS.read_text(encoding="utf-8").splitlines():
            command = (json.loads(line).get("arguments") or {}).get("command")
            if isinstance(command, str) and len(command) < 2000:
                out.append(command)
    return out


def _outcome(fn: object, source: str) -> tuple[str, object]:
    try:
        trees = fn(source)  # type: ignore[operator]
    except Exception as err:  # noqa: BLE001 - the same failure, whatever its type
        return "error", (type(err).__name__, str(err))
    return "trees", [tree.dump() for tree in trees]


@pytest.mark.parametrize("source", _commands())
def test_same_trees_as_bashlex(source: str) -> None:
    assert _outcome(parse, source) == _outcome(bashlex.parse, source)
