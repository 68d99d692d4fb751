"""Stage ``locate``: where the call lands (its connection's binding, the host group's command
set and limits, what is known of the connection), before anything is decided."""

from __future__ import annotations

from dataclasses import replace

from sshwall.proxy.stages.context import Call
from sshwall.proxy.stages.pipeline import PureStage
from sshwall.proxy.targetguard import TargetGuard


class Locate(PureStage):
    """Looks up the binding behind the call's connection, session or tunnel id."""

    name = "locate"

    def __init__(self, targets: TargetGuard) -> None:
        self.targets = targets

    def check(self, call: Call) -> Call:
        return replace(call, where=self.targets.locate(call.tool, call.args))
