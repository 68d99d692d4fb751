"""One policy in force and what is built from it: a firewall's *generation*.

A call takes its generation once, when it arrives (``Firewall.call_tool``), and runs through
that generation's pipeline to the end, so a call in flight finishes under the policy it started
with, whatever a reload does meanwhile. A reload (``sshwall.proxy.reload``) builds the next
generation (``successor``) and swaps it in with one assignment (``Firewall.current``).

Rebuilt for each policy (objects that hold only the policy): the pure stages ``locate``,
``decide``, ``identities`` and ``runbound``, the stateful stages of the pipeline, the identity
guard, and the recorder, which stamps ``policy: <revision>`` on every record written through it.

Carried over (objects that hold state): the ``terminal`` stage itself (the lines typed so far),
and, through ``with_policy`` views that share their containers rather than copy them, the
target guard's bindings, fetched keys and password probes; the limit guard's state backend
(rate counters, the task registry) and its local task facts; the approval guard's store,
gateway id and requests in flight. The audit log, the upstream and the identity guard's
``shared`` flag are the firewall's, the same for every generation.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from sshwall.policy import Policy
from sshwall.proxy.identityguard import IdentityGuard
from sshwall.proxy.stages import Pipeline, PureStages, pure_stages
from sshwall.proxy.targetguard import TargetGuard

if TYPE_CHECKING:  # loaded with the first stateful call (``preview`` needs none of them)
    from sshwall.audit import AuditLog
    from sshwall.proxy.approvals import ApprovalGuard
    from sshwall.proxy.limitguard import LimitGuard
    from sshwall.proxy.stages.audit import Recorder

MakeApprovals = Callable[["Generation"], "ApprovalGuard"]
MakePipeline = Callable[["Generation"], Pipeline]


class Generation:
    """A policy and the objects built from it (see the module doc). The pipeline, the
    approval guard and the recorder are built when first needed (``sshwall check`` loads no
    audit or state modules)."""

    def __init__(self, policy: Policy, targets: TargetGuard, identities: IdentityGuard, limits: LimitGuard | None,
                 audit: AuditLog | None, make_approvals: MakeApprovals, make_pipeline: MakePipeline,
                 upstream_home: str | None = None, pure: PureStages | None = None, mode: str | None = None) -> None:
        self.policy = policy
        self.mode = mode  # ``shadow``: every record says so (docs/shadow-replay.md)
        self.targets = targets
        self.identities = identities
        self.limits = limits
        self.audit = audit
        self.upstream_home = upstream_home
        self._make_approvals = make_approvals
        self._make_pipeline = make_pipeline
        self.pure = pure if pure is not None else pure_stages(policy, targets, identities, upstream_home)
        self.preview = Pipeline(self.pure)

    @property
    def revision(self) -> str:
        """The revision of this generation's policy (``Policy.revision``)."""
        return self.policy.revision

    @cached_property
    def recorder(self) -> Recorder:
        """The way into the audit log; every record names this generation's revision."""
        from sshwall.proxy.stages.audit import Recorder

        return Recorder(self.audit, self.revision, self.mode)

    @cached_property
    def approvals(self) -> ApprovalGuard:
        """Who is asked about ``prompt`` verdicts under this policy."""
        return self._make_approvals(self)

    @cached_property
    def pipeline(self) -> Pipeline:
        """Every stage of a call under this policy, in order."""
        return self._make_pipeline(self)

    def built(self, part: str) -> bool:
        """Whether the lazily built ``part`` (``approvals``, ``pipeline``...) exists yet."""
        return part in self.__dict__

    def successor(self, policy: Policy) -> Generation:
        """The next generation: built from ``policy``, sharing this one's state."""
        targets = self.targets.with_policy(policy)
        identities = IdentityGuard(policy, targets, shared=self.identities.shared)
        limits = self.limits.with_policy(policy) if self.limits is not None else None
        pure = pure_stages(policy, targets, identities, self.upstream_home, terminal=self.pure.terminal)
        nxt = Generation(policy, targets, identities, limits, self.audit, self._make_approvals,
                         self._make_pipeline, self.upstream_home, pure, self.mode)
        if self.built("approvals"):  # the requests in flight and the store carry over
            nxt.__dict__["approvals"] = self.approvals.with_policy(policy, targets, nxt.recorder.record)
        return nxt


__all__ = ["Generation"]
