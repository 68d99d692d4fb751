"""Errors of the parsers under ``load_policy`` come out as ``PolicyError``, never as their own types.

PyYAML's safe constructor builds dates and tagged numbers with Python's constructors (which
raise ``ValueError``), and both parsers recurse on nesting (``RecursionError``): a policy file
that trips either is a bad policy (exit 2), not a crash.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sshwall.errors import PolicyError
from sshwall.policy import load_policy

HEAD = "version: 1\ndefault: deny\n"


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("date.yaml", HEAD + "tools:\n  executeCommand: 2026-02-30\n", "day is out of range"),
        ("month.yaml", HEAD + "tools:\n  executeCommand: 2026-13-01\n", "month must be in"),
        ("int.yaml", HEAD + "tools:\n  executeCommand: !!int many\n", "invalid literal"),
        ("float.yaml", HEAD + "tools:\n  executeCommand: !!float lots\n", "could not convert"),
        ("deep.yaml", HEAD + "tools: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ("deep.json", '{"version": "1", "tools": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
)
def test_parser_errors_are_policy_errors(tmp_path: Path, name: str, text: str, says: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PolicyError, match=says) as caught:
        load_policy(path)
    assert str(path) in str(caught.value)
