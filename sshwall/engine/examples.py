"""A policy is its own test suite: its embedded examples are decided when it loads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sshwall.engine.evaluate import evaluate
from sshwall.engine.verdict import ToolCall, Verdict
from sshwall.errors import PolicyError
from sshwall.policy import Example, Policy
from sshwall.policy.layers import LoadedPolicy
from sshwall.policy.load import load_policy_layers


@dataclass(frozen=True)
class ExampleResult:
    """One example and the verdict the policy gave it."""

    example: Example
    verdict: Verdict

    @property
    def passed(self) -> bool:
        """True when the verdict is what the example expects."""
        return self.verdict.decision == self.example.expect


def run_examples(policy: Policy, examples: tuple[Example, ...] | None = None) -> list[ExampleResult]:
    """Decide each example (the policy's own by default)."""
    cases = policy.examples if examples is None else examples
    return [ExampleResult(ex, evaluate(policy, ToolCall(ex.tool, ex.arguments))) for ex in cases]


def load_checked(path: str | Path) -> Policy:
    """Load a policy and refuse it when any of its own examples fails."""
    return load_checked_layers(path).policy


def load_checked_layers(path: str | Path) -> LoadedPolicy:
    """``load_checked`` with the files the policy came from (``load_policy_layers``).

    The examples of every layer are decided by the merged policy; a failure names the layer
    file the example came from when it is not ``path`` itself.
    """
    loaded = load_policy_layers(path)
    results = run_examples(loaded.policy)
    failed = [(r, origin) for r, origin in zip(results, loaded.example_layers, strict=True) if not r.passed]
    if failed:
        own = Path(path)
        lines = [
            f"  {r.example.tool} {r.example.arguments}: expected {r.example.expect.value}, "
            f"got {r.verdict.decision.value} ({'; '.join(r.verdict.reasons)})"
            + ("" if origin == own else f" [example of {origin}]")
            for r, origin in failed
        ]
        raise PolicyError(f"{path}: {len(failed)} example(s) fail:\n" + "\n".join(lines))
    return loaded
