"""The path of one ``tools/call`` through the firewall, as a list of single-concern stages.

``before`` steps run top to bottom (until sshwall itself answers: a denial); then every stage that ran gets the
outcome in its ``after`` step, top to bottom (``pipeline``):

==========  ==============================================  ====================================
stage       before                                          after
==========  ==============================================  ====================================
locate      where the call lands (binding, host group)      -
terminal    the line typed so far, keystrokes replayed      the line as this call leaves it
decide      the policy's verdict (engine, grant, location)  -
identities  the ids it names are the caller's               -
connect     a connect's host rules and host key             -
runbound    what is forwarded (run bound, default interval) -
governor    task caps and rate caps                         confirm, undo, or keep as maybe run
audit       the decision record (or deny: unavailable)      the outcome record
forward     the denial, or the call sent upstream           -
bindings    -                                               bind what the reply opened
probe       -                                               key-only connect: holds a password?
==========  ==============================================  ====================================

The first five and ``runbound`` are pure (``PureStage``): ``Firewall.preview`` runs just those.
A new concern (approval, shadow mode, metrics) is one new ``Stage`` in ``build_stages``.
"""

from __future__ import annotations

from sshwall.policy import Policy
from sshwall.proxy.governor import Governor
from sshwall.proxy.identities import IdentityGuard
from sshwall.proxy.stages.audit import Audit, Recorder
from sshwall.proxy.stages.bindings import Bind
from sshwall.proxy.stages.connect import ConnectCheck
from sshwall.proxy.stages.context import Answer, Call, Outcome, TerminalInput
from sshwall.proxy.stages.decide import Decide, decide
from sshwall.proxy.stages.forward import Forward, Send, denial_text
from sshwall.proxy.stages.governor import Govern
from sshwall.proxy.stages.identities import IdentityCheck
from sshwall.proxy.stages.locate import Locate
from sshwall.proxy.stages.pipeline import Pipeline, PureStage, Stage
from sshwall.proxy.stages.probe import PasswordProbe
from sshwall.proxy.stages.runbound import RunBound
from sshwall.proxy.stages.terminal import TerminalLine
from sshwall.proxy.targetguard import TargetGuard


def build_stages(policy: Policy, send: Send, recorder: Recorder, targets: TargetGuard, identities: IdentityGuard,
                 governor: Governor | None, upstream_home: str | None = None) -> list[Stage]:
    """The firewall's stages, in order (see the module doc)."""
    return [
        Locate(targets),
        TerminalLine(),
        Decide(policy, upstream_home),
        IdentityCheck(identities),
        ConnectCheck(targets),
        RunBound(policy),
        Govern(governor),
        Audit(policy, recorder),
        Forward(send),
        Bind(targets),
        PasswordProbe(targets, send, recorder),
    ]


__all__ = [
    "Answer", "Audit", "Bind", "Call", "ConnectCheck", "Decide", "Forward", "Govern", "IdentityCheck", "Locate",
    "Outcome", "PasswordProbe", "Pipeline", "PureStage", "Recorder", "RunBound", "Send", "Stage", "TerminalInput",
    "TerminalLine", "build_stages", "decide", "denial_text",
]
