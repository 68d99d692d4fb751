"""Stage ``runbound``: the arguments as sshwall forwards them.

Each run of scheduled work goes inside sshwall's own timeout (``sshwall.proxy.runbound``; a
command the wrapper would change the meaning of is denied), and a call that gives no interval
gets the policy's default one (``interval.default``), in the argument's unit. The decision was
made on the client's arguments; the audit record shows both when they differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sshwall.policy import Policy
from sshwall.proxy.runbound import bound_runs
from sshwall.proxy.stages.context import Call
from sshwall.proxy.stages.pipeline import PureStage


class RunBound(PureStage):
    """Works out ``Call.outgoing``: bounded runs, default interval."""

    name = "runbound"

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def check(self, call: Call) -> Call:
        bounded = bound_runs(self.policy, call.tool, call.args)
        if bounded.problem is not None:
            call = call.deny(bounded.rule, bounded.problem)
        params = dict(call.params) if bounded.arguments is None else {**call.params, "arguments": bounded.arguments}
        return replace(call, outgoing=_with_default_interval(call, params))


def _with_default_interval(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Inject the policy's default interval into a call that gives none."""
    plan = call.plan
    arguments = params.get("arguments")
    default = plan.interval_default if plan is not None else None
    if plan is None or default is None or not isinstance(arguments, Mapping):
        return params
    for arg in plan.intervals:
        if arguments.get(arg.name) is None:
            arguments = {**arguments, arg.name: default // arg.factor}
            params["arguments"] = arguments
    return params
