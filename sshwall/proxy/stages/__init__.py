"""The path of one ``tools/call`` through the firewall, as a list of single-concern stages.

``before`` steps run top to bottom (until sshwall itself answers: a denial); then every stage that ran gets the
outcome in its ``after`` step, top to bottom (``pipeline``):

==========  ==============================================  ====================================
stage       before                                          after
==========  ==============================================  ====================================
observe     (calls in flight)                               metrics and trace of the call
locate      where the call lands (binding, host group)      -
terminal    the line typed so far, keystrokes replayed      the line as this call leaves it
decide      the policy's verdict (engine, grant, location)  -
identities  the ids it names are the caller's               -
connect     a connect's host rules and host key             -
runbound    what is forwarded (run bound, default interval) -
approve     prompt: a human's yes or no to the exact call   -
limits      rate caps and background-task caps              confirm, undo, or keep as maybe run
audit       the decision record (or deny: unavailable)      the outcome record
decided     when the verdict was final (latency)            -
forward     the denial, or the call sent upstream           -
bindings    -                                               bind what the reply opened
probe       -                                               key-only connect: holds a password?
==========  ==============================================  ====================================

``locate``, ``terminal``, ``decide``, ``identities`` and ``runbound`` are pure (``PureStage``): ``Firewall.preview`` runs just those
(``pure_stages``, built with the firewall; the others, and the audit, limit guard and state
modules they import, load with the first call that needs them, so ``sshwall check`` never
loads them). A new concern is one new ``Stage`` in
``build_stages`` (``sshwall.proxy.stages.build``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, NamedTuple

from sshwall.policy import Policy
from sshwall.proxy.identityguard import IdentityGuard
from sshwall.proxy.stages.context import Answer, Call, Outcome, TerminalInput
from sshwall.proxy.stages.decide import Decide, decide
from sshwall.proxy.stages.identities import IdentityCheck
from sshwall.proxy.stages.locate import Locate
from sshwall.proxy.stages.pipeline import Pipeline, PureStage, Stage
from sshwall.proxy.stages.runbound import RunBound
from sshwall.proxy.stages.terminal import TerminalLine
from sshwall.proxy.targetguard import TargetGuard

if TYPE_CHECKING:
    from sshwall.proxy.stages.approve import Approve
    from sshwall.proxy.stages.audit import Audit, Recorder
    from sshwall.proxy.stages.bindings import Bind
    from sshwall.proxy.stages.build import build_stages
    from sshwall.proxy.stages.connect import ConnectCheck
    from sshwall.proxy.stages.forward import Forward, Send, denial_text
    from sshwall.proxy.stages.limits import LimitCheck
    from sshwall.proxy.stages.probe import PasswordProbe


class PureStages(NamedTuple):
    """One firewall's pure stages, in pipeline order: what ``preview`` runs, and the very
    objects ``build_stages`` places in the full list (the terminal stage keeps each session's
    line, which both must see)."""

    locate: Locate
    terminal: TerminalLine
    decide: Decide
    identities: IdentityCheck
    runbound: RunBound


def pure_stages(policy: Policy, targets: TargetGuard, identities: IdentityGuard,
                upstream_home: str | None = None, terminal: TerminalLine | None = None) -> PureStages:
    """The pure stages of a firewall (see ``PureStages``); ``terminal``: the terminal lines to
    keep (a reload keeps them; default: new ones)."""
    return PureStages(Locate(targets), terminal or TerminalLine(), Decide(policy, upstream_home),
                      IdentityCheck(identities), RunBound(policy))


_STATEFUL = {
    "Approve": "approve", "Audit": "audit", "Recorder": "audit", "Bind": "bindings", "build_stages": "build", "ConnectCheck": "connect",
    "Forward": "forward", "Send": "forward", "denial_text": "forward", "LimitCheck": "limits",
    "PasswordProbe": "probe",
}


def __getattr__(name: str) -> Any:
    """The stateful stages' names, each imported from its module when first asked for."""
    module = _STATEFUL.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Answer", "Approve", "Audit", "Bind", "Call", "ConnectCheck", "Decide", "Forward", "LimitCheck", "IdentityCheck", "Locate",
    "Outcome", "PasswordProbe", "Pipeline", "PureStage", "PureStages", "Recorder", "RunBound", "Send", "Stage",
    "TerminalInput", "TerminalLine", "build_stages", "decide", "denial_text", "pure_stages",
]
