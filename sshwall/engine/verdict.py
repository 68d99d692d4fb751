"""Verdicts: the decision, the rules that matched, and a reason for each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sshwall.policy.base import Decision


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One ``tools/call``: the tool's name and its arguments as the client sent them."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hit:
    """One rule that matched, what it decided, and why, in words a person can act on."""

    rule: str
    decision: Decision
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The strictest of the hits decides; no hit at all means deny."""

    decision: Decision
    hits: tuple[Hit, ...] = ()

    @staticmethod
    def of(hits: list[Hit] | tuple[Hit, ...]) -> Verdict:
        """The verdict of a list of hits: strictest wins, empty denies."""
        if not hits:
            return Verdict(Decision.DENY, (Hit("default", Decision.DENY, "no rule allowed this call"),))
        decision = max((h.decision for h in hits), key=lambda d: d.severity)
        return Verdict(decision, tuple(hits))

    def with_deny(self, rule: str, reason: str) -> Verdict:
        """This verdict with one more deny hit (so it denies): how a later check makes it stricter."""
        return Verdict.of([*self.hits, Hit(rule, Decision.DENY, reason)])

    @property
    def deciding(self) -> tuple[Hit, ...]:
        """The hits that carry the final decision (for a deny: the reasons to show)."""
        return tuple(h for h in self.hits if h.decision == self.decision)

    @property
    def rules(self) -> list[str]:
        """Rule ids of the deciding hits, without repeats, in order."""
        return list(dict.fromkeys(h.rule for h in self.deciding))

    @property
    def reasons(self) -> list[str]:
        """Reasons of the deciding hits, without repeats, in order."""
        return list(dict.fromkeys(h.reason for h in self.deciding))

    def to_json(self) -> dict[str, Any]:
        """The batch-output shape: decision, rules, reasons."""
        return {"decision": self.decision.value, "rules": self.rules, "reasons": self.reasons}
