"""What travels through the stages: the frozen per-call context, the answer, the outcome.

Each stage's ``before`` returns a changed copy of the ``Call`` (``dataclasses.replace``); no
stage edits one in place, so what a later stage saw is what an earlier one left. A stage that
ends the call without forwarding it (a denial, an audit failure) sets ``answer``; the forward
stage sets it to the upstream's result. Once the call has an outcome, every stage that ran its
``before`` gets it in its ``after`` (``sshwall.proxy.stages.pipeline``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from sshwall.engine import Decision, Hit, Verdict
from sshwall.engine.keystrokes import Keystrokes
from sshwall.policy import Policy
from sshwall.policy.compiled import ToolPlan
from sshwall.proxy.caller import Caller
from sshwall.proxy.targetguard import Location

if TYPE_CHECKING:  # the limit guard (and the state under it) loads with the stages that use it
    from sshwall.proxy.limitguard import Admission

UNDECIDED = Verdict(Decision.DENY, (Hit("default", Decision.DENY, "no stage decided this call"),))
"""The verdict of a call no stage has decided yet: deny (fail closed)."""

AnswerKind = Literal["ok", "tool-error", "denied", "unaudited", "input-required"]
OutcomeKind = Literal["ok", "tool-error", "denied", "unaudited", "input-required", "upstream-error", "cancelled", "crashed"]


@dataclass(frozen=True)
class TerminalInput:
    """Keystrokes for a terminal session: replayed once, after the line typed so far."""

    session: str
    data: str
    typed: str
    keys: Keystrokes


@dataclass(frozen=True)
class Answer:
    """What goes back to the client, and what kind of answer it is."""

    result: Any
    kind: AnswerKind


@dataclass(frozen=True)
class Call:
    """One ``tools/call`` on its way through the stages (see the module doc).

    ``plan`` and ``interval_ms`` are worked out once, when the call arrives: the tool's
    compiled plan and the interval its scheduled work really runs at (the policy's or the
    profile's default included).
    """

    params: Mapping[str, Any]
    caller: Caller
    request_id: Any = None
    started: float = 0.0
    plan: ToolPlan | None = None
    interval_ms: int | None = None
    verdict: Verdict = UNDECIDED
    where: Location = field(default_factory=Location)
    terminal: TerminalInput | None = None
    outgoing: Mapping[str, Any] | None = None  # the params as forwarded; None: unchanged
    admission: Admission | None = None
    ref: int | None = None  # seq of the decision record (0 without a log); None: not written
    approval: str | None = None  # the approval request the call waited on (``sshwall.proxy.approvals``)
    decided: float | None = None  # perf_counter when the verdict was final (the stage ``decided``)
    answer: Answer | None = None

    @staticmethod
    def start(policy: Policy, params: Mapping[str, Any], caller: Caller, request_id: Any = None) -> Call:
        """The context of a call as it arrives."""
        name = params.get("name") if isinstance(params, Mapping) else None
        arguments = params.get("arguments") if isinstance(params, Mapping) else None
        plan = policy.plan.tool(name) if isinstance(name, str) else None
        interval = plan.interval_ms(arguments) if plan is not None and isinstance(arguments, Mapping) else None
        return Call(params if isinstance(params, Mapping) else {}, caller, request_id, time.perf_counter(),
                    plan, interval)

    @property
    def name(self) -> Any:
        """The tool name as the client sent it (maybe not a string)."""
        return self.params.get("name")

    @property
    def arguments(self) -> Any:
        """The arguments as the client sent them (maybe not an object)."""
        return self.params.get("arguments")

    @property
    def args(self) -> Mapping[str, Any]:
        """The arguments, or an empty mapping when they are not an object."""
        arguments = self.arguments
        return arguments if isinstance(arguments, Mapping) else {}

    @property
    def tool(self) -> str:
        """The tool name as text (``repr`` of a malformed one)."""
        name = self.name
        return name if isinstance(name, str) else repr(name)

    @property
    def allowed(self) -> bool:
        """Whether the verdict, as it stands, allows the call."""
        return self.verdict.decision == Decision.ALLOW

    @property
    def forwarded(self) -> Mapping[str, Any]:
        """The params to send upstream."""
        return self.outgoing if self.outgoing is not None else dict(self.params)

    def deny(self, rule: str, reason: str) -> Call:
        """This call with one more deny hit on its verdict."""
        return replace(self, verdict=self.verdict.with_deny(rule, reason))


@dataclass(frozen=True)
class Outcome:
    """How a call ended, handed to every ``after`` step.

    ``sent``: the call (maybe) reached the upstream; ``upstream``: the outcome as the audit log
    names it (``ok``, ``tool-error``, ``timeout``, ``cancelled``...); ``result``: the upstream's
    answer when there is one.
    """

    ANSWERED: ClassVar[frozenset[str]] = frozenset({"ok", "tool-error"})

    kind: OutcomeKind
    sent: bool
    result: Any = None
    upstream: str = ""
    detail: str | None = None

    @property
    def ok(self) -> bool:
        """The upstream answered and the answer is no tool error."""
        return self.kind == "ok"

    @property
    def answered(self) -> bool:
        """The upstream answered (a result or a tool error)."""
        return self.kind in self.ANSWERED

    @property
    def maybe_ran(self) -> bool:
        """Sent but no answer came: the upstream may have run the call (or be running it)."""
        return self.sent and not self.answered


__all__ = ["UNDECIDED", "Answer", "AnswerKind", "Call", "Outcome", "OutcomeKind", "TerminalInput"]
