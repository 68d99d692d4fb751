"""The decision engine: ``evaluate(policy, call) -> Verdict``, pure and deterministic."""

from __future__ import annotations

from sshwall.engine.commandset import prepare
from sshwall.engine.evaluate import effective_interval, evaluate
from sshwall.engine.examples import ExampleResult, load_checked, run_examples
from sshwall.engine.verdict import Hit, ToolCall, Verdict
from sshwall.policy.base import Decision

__all__ = [
    "Decision",
    "ExampleResult",
    "Hit",
    "ToolCall",
    "Verdict",
    "effective_interval",
    "evaluate",
    "load_checked",
    "prepare",
    "run_examples",
]
