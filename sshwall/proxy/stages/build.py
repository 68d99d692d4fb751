"""The firewall's stages in order (the table in ``sshwall.proxy.stages``), the pure ones among
them the very objects ``Firewall.preview`` runs."""

from __future__ import annotations

from sshwall.policy import Policy
from sshwall.proxy.approvals import ApprovalGuard
from sshwall.proxy.identityguard import IdentityGuard
from sshwall.proxy.limitguard import LimitGuard
from sshwall.proxy.stages import PureStages, pure_stages
from sshwall.proxy.stages.approve import Approve
from sshwall.proxy.stages.audit import Audit, Recorder
from sshwall.proxy.stages.bindings import Bind
from sshwall.proxy.stages.connect import ConnectCheck
from sshwall.proxy.stages.forward import Forward, Send
from sshwall.proxy.stages.limits import LimitCheck
from sshwall.proxy.stages.observe import Observer, observe_stages
from sshwall.proxy.stages.pipeline import PureStage, Stage
from sshwall.proxy.stages.probe import PasswordProbe
from sshwall.proxy.targetguard import TargetGuard


def build_stages(policy: Policy, send: Send, recorder: Recorder, targets: TargetGuard, identities: IdentityGuard,
                 limits: LimitGuard | None, upstream_home: str | None = None,
                 pure: PureStages | None = None, approvals: ApprovalGuard | None = None,
                 shadow: bool = False, observer: Observer | None = None) -> list[Stage]:
    """The firewall's stages, in order (see the module doc of ``sshwall.proxy.stages``);
    ``pure``: the firewall's pure stages, already built (default: new ones); ``approvals``: who
    is asked about ``prompt`` verdicts (None: they are denied); ``shadow``: shadow mode
    (docs/shadow-replay.md); ``observer``: where metrics and traces go (None: nowhere)."""
    p = pure if pure is not None else pure_stages(policy, targets, identities, upstream_home)
    first, decided = observe_stages(observer)
    stages: list[Stage] = [
        *first,
        p.locate,
        p.terminal,
        p.decide,
        p.identities,
        ConnectCheck(targets),
        p.runbound,
        Approve(approvals, shadow),
        LimitCheck(limits),
        Audit(policy, recorder, shadow),
        *decided,
        Forward(send, shadow),
        Bind(targets),
        PasswordProbe(targets, send, recorder),
    ]
    if [s for s in stages if isinstance(s, PureStage)] != list(p):  # preview runs what run runs
        raise ValueError("every pure stage belongs to PureStages, in pipeline order")
    return stages


__all__ = ["build_stages"]
