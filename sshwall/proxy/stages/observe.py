"""Stage ``observe``: metrics and traces of every call (docs/metrics.md).

``Observe`` is first in the list, so its ``after`` runs for every call, first of the afters,
with the call as the last ``before`` left it and its outcome: it counts the decision (tool,
decision, deciding rule), the decision and upstream latencies, the upstream's outcome, rate-cap,
approval and state-backend denials (read from the verdict's rule ids), and writes the call's
span. ``Decided`` sits just before the forward stage and stamps when the verdict was final
(``Call.decided``): decision latency is arrival to then, upstream latency then to the outcome.
Neither changes the verdict, and neither is pure (``preview`` does not count). A failure here
is logged by the pipeline and never touches the call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sshwall.engine import Decision
from sshwall.proxy.stages.context import Call, Outcome
from sshwall.proxy.stages.pipeline import Stage

if TYPE_CHECKING:
    from sshwall.proxy.metrics import Metrics
    from sshwall.proxy.tracing import Tracing

OTHER_TOOL = "other"
NO_RULE = "none"
APPROVAL_RESULTS = frozenset({"granted", "reused", "denied", "timeout", "expired", "void", "used", "unknown",
                              "mismatch", "unreachable", "unavailable"})
"""The ``approval.RESULT`` rule ids the approval stage gives (``sshwall.proxy.approvals``)."""
STATE_RULES = {"state.unavailable": "limits", "state.error": "limits", "approval.unavailable": "approvals"}
"""Rules of a state backend that failed, and whose state it was."""


@dataclass(frozen=True)
class Observer:
    """Where the stage ``observe`` reports: metrics, traces, or both."""

    metrics: Metrics | None = None
    tracing: Tracing | None = None


def tool_label(call: Call) -> str:
    """The tool as a label: a tool the profile or the policy knows, else ``other``."""
    return call.tool if call.plan is not None else OTHER_TOOL


def decision_of(call: Call, outcome: Outcome) -> tuple[str, list[str]]:
    """What happened to the call (``allow``, ``deny``, ``would-deny`` in shadow mode,
    ``prompt`` while the client's user is asked, ``cancelled``, ``error``) and the deciding
    rule ids."""
    verdict = call.verdict
    if outcome.kind == "unaudited":
        return "deny", ["audit.unavailable"]
    if outcome.kind == "input-required":
        return "prompt", verdict.rules or [NO_RULE]
    if not outcome.sent and outcome.kind in ("cancelled", "crashed"):
        return ("cancelled" if outcome.kind == "cancelled" else "error"), verdict.rules or [NO_RULE]
    rules = verdict.rules or ["default"]
    if verdict.decision == Decision.ALLOW:
        return "allow", rules
    if verdict.decision == Decision.DENY and outcome.sent:
        return "would-deny", rules
    return ("deny" if verdict.decision == Decision.DENY else "prompt"), rules


def approval_result(call: Call, outcome: Outcome) -> str | None:
    """How the call's approval ended (``granted``, ``denied``, ``timeout``...; ``asked``: the
    client's user is being asked), or None when it needed none."""
    if outcome.kind == "input-required":
        return "asked"
    for hit in reversed(call.verdict.hits):
        if hit.rule.startswith("approval."):
            result = hit.rule[len("approval."):]
            return result if result in APPROVAL_RESULTS else "other"
    return None


class Observe(Stage):
    """Counts and traces the call once its outcome is known (see the module doc)."""

    name = "observe"

    def __init__(self, observer: Observer) -> None:
        self.metrics = observer.metrics
        self.tracing = observer.tracing

    async def before(self, call: Call) -> Call:
        if self.metrics is not None:
            self.metrics.in_flight.inc()
        return call

    async def after(self, call: Call, outcome: Outcome) -> None:
        now = time.perf_counter()
        tool = tool_label(call)
        decision, rules = decision_of(call, outcome)
        decided = call.decided if call.decided is not None else now
        upstream = (outcome.upstream or outcome.kind) if outcome.sent else None
        metrics = self.metrics
        if metrics is not None:
            metrics.in_flight.dec()
            metrics.call(tool, decision, rules[0], decided - call.started if call.started else None)
            if upstream is not None:
                metrics.upstream(tool, upstream, now - decided if call.decided is not None else None)
            self._denials(metrics, call, outcome, decision)
        if self.tracing is not None:
            wall = time.time_ns()
            self.tracing.call(tool, decision, rules, outcome.kind, upstream, _ns(wall, now, call.started),
                              _ns(wall, now, call.decided) if call.decided is not None else None, wall)

    @staticmethod
    def _denials(metrics: Metrics, call: Call, outcome: Outcome, decision: str) -> None:
        result = approval_result(call, outcome)
        if result is not None:
            metrics.approval(result)
        if decision not in ("deny", "would-deny"):
            return
        for rule in call.verdict.rules:
            if rule.startswith("limits."):
                metrics.rate_limit(rule[len("limits."):])
            component = STATE_RULES.get(rule)
            if component is not None:
                metrics.state_error(component)


class Decided(Stage):
    """Stamps when the verdict was final (just before the forward stage)."""

    name = "decided"

    async def before(self, call: Call) -> Call:
        return replace(call, decided=time.perf_counter())


def observe_stages(observer: Observer | None) -> tuple[Sequence[Stage], Sequence[Stage]]:
    """The stages to put first and just before the forward stage (none without an observer)."""
    if observer is None or (observer.metrics is None and observer.tracing is None):
        return (), ()
    return (Observe(observer),), (Decided(),)


def _ns(wall_ns: int, now: float, then: float) -> int:
    """The epoch time in ns of the ``perf_counter`` reading ``then`` (``now`` is ``wall_ns``)."""
    return wall_ns - int((now - then) * 1e9)


__all__ = ["Decided", "Observe", "Observer", "approval_result", "decision_of", "observe_stages", "tool_label"]
