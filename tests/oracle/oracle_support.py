"""Shared helpers of the oracle tests: one Oracle per module, CI-strict availability.

Under ``CI=true`` an oracle that cannot run is a failure (the suite must prove what it claims);
elsewhere the tests skip with the reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sshwall.oracle import Oracle, unavailable
from sshwall.oracle.report import programs_of

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("SSHWALL_CORPUS", REPO.parent / "shared" / "corpus" / "readonly-ops.jsonl"))
COMMAND_TOOLS = ("executeCommand", "backgroundExecute")

__all__ = ["CORPUS", "corpus_allowed", "oracle_or_skip", "programs_of"]


def require_oracle() -> None:
    """Fail (CI) or skip (locally) when the oracle cannot run here."""
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the oracle is unavailable: {reason}", pytrace=False)
    pytest.skip(f"oracle unavailable: {reason}")


def oracle_or_skip(**kwargs: float) -> Iterator[Oracle]:
    """Body of a module-scoped fixture: an entered Oracle, closed after the module."""
    require_oracle()
    with Oracle(**kwargs) as oracle:  # type: ignore[arg-type]
        yield oracle


def corpus_allowed(path: Path = CORPUS) -> list[str]:
    """The commands of a corpus's expect=allow cases of the command tools, in order, once each."""
    if not path.exists():
        return []
    out: list[str] = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        case = json.loads(line)
        if case.get("expect") == "allow" and case.get("tool") in COMMAND_TOOLS:
            command = case.get("arguments", {}).get("command")
            if isinstance(command, str):
                out.append(command)
    return list(dict.fromkeys(out))
