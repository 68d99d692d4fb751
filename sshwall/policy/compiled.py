"""The policy compiled once, when it loads: per tool, which argument means what.

Every stage of a call asks the same questions of the profile: which argument is the
connection, the session, the command, the interval (in which unit, with which default), the
host, the user, the port; which rule governs the tool; does the upstream repeat it, rewrite it,
type a password into it. ``Policy.plan`` answers them from one index built the first time it is
read (once per policy object; a ``model_copy`` builds its own), so the hot path only looks up::

    plan = policy.plan.tool("executeCommand")   # ToolPlan, or None for a tool nobody knows
    if plan is not None:
        conn = plan.value("connection", arguments)  # the first connection argument's value
        names = plan.args("command")                 # every command argument, in order
        rule = plan.rule                             # the policy's ToolRule, or None
        interval = plan.interval_ms(arguments)       # the interval it will run at, default included

``PolicyPlan`` also holds the facts about the whole profile that stages ask for (does some tool
paste the password into commands, which tool stops background work, ...). Everything here is
frozen and derived only from the policy: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sshwall.profiles import (
    ArgKind,
    ArgSpec,
    Effect,
    Role,
    Schedule,
    SudoPasswordRewrite,
    TerminalAutoPassword,
    TmuxFollowups,
    ToolProfile,
)

if TYPE_CHECKING:
    from sshwall.policy.model import Policy
    from sshwall.policy.tools import ToolRule

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class IntervalArg:
    """One interval argument: its name, unit factor (to ms) and the profile's default (in its unit)."""

    name: str
    factor: int
    default: int | None

    def ms(self, value: Any) -> int | None:
        """``value`` (in the argument's unit) as whole ms, or None when it is not a finite number.

        Node truncates a fractional timer; the floor is the shortest it can really be.
        """
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return math.floor(value * self.factor)
        return None


@dataclass(frozen=True)
class ToolPlan:
    """What one tool's arguments mean, and the rule that governs it, indexed once.

    ``profile`` is None for a tool the policy lists but the profile does not know, ``rule``
    None for a tool the profile knows but the policy does not list.
    """

    name: str
    profile: ToolProfile | None
    rule: ToolRule | None
    kinds: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    roles: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    intervals: tuple[IntervalArg, ...] = ()
    sudo: Mapping[str, SudoPasswordRewrite] = field(default_factory=lambda: _EMPTY)
    tmux: tuple[TmuxFollowups, ...] = ()
    auto_password: tuple[TerminalAutoPassword, ...] = ()

    @property
    def arguments(self) -> Mapping[str, ArgSpec]:
        """The profile's arguments of the tool (none for a tool the profile does not know)."""
        return self.profile.arguments if self.profile is not None else _EMPTY

    @property
    def effect(self) -> Effect | None:
        """What a successful call changes (``ToolProfile.effect``)."""
        return self.profile.effect if self.profile is not None else None

    @property
    def schedule(self) -> Schedule | None:
        """How the upstream runs the tool's scheduled work, if it is scheduled work."""
        return self.profile.schedule if self.profile is not None else None

    @property
    def scheduled(self) -> bool:
        """Whether the upstream repeats this tool's command (it has a schedule or an interval)."""
        return self.schedule is not None or bool(self.intervals)

    def args(self, kind: ArgKind) -> tuple[str, ...]:
        """Names of the arguments of one kind, in declaration order."""
        return self.kinds.get(kind, ())

    def first(self, kind: ArgKind) -> str | None:
        """The first argument of one kind, or None."""
        names = self.kinds.get(kind)
        return names[0] if names else None

    def role(self, role: Role) -> str | None:
        """The argument with this role (``password``, ``workdir``, ...), or None."""
        return self.roles.get(role)

    def value(self, kind: ArgKind, arguments: Mapping[str, Any]) -> Any:
        """The value the call gives its first argument of ``kind`` (None when absent)."""
        name = self.first(kind)
        return arguments.get(name) if name is not None else None

    def default(self, name: str) -> Any:
        """The profile's default for argument ``name`` (None without one)."""
        spec = self.arguments.get(name)
        return spec.default if spec is not None else None

    @property
    def interval_default(self) -> int | None:
        """The policy's default interval (ms) for a call that gives none (``interval.default``)."""
        bounds = self.rule.interval if self.rule is not None else None
        return bounds.default if bounds is not None else None

    def interval_ms(self, arguments: Mapping[str, Any]) -> int | None:
        """The interval (ms) the call will really run at, the policy's or profile's default included."""
        for arg in self.intervals:
            value = arguments.get(arg.name)
            if value is None:
                if self.interval_default is not None:
                    return self.interval_default
                value = arg.default
            ms = arg.ms(value)
            if ms is not None:
                return ms
        return None


@dataclass(frozen=True)
class PolicyPlan:
    """Every tool's ``ToolPlan`` and the profile-wide facts, built once per policy."""

    tools: Mapping[str, ToolPlan]
    rewrites_password: bool
    saved_fallback: bool
    stop_tool: str | None
    stopped_reply: re.Pattern[str] | None
    password_probe: tuple[str, str] | None

    def tool(self, name: str) -> ToolPlan | None:
        """The plan of tool ``name``, or None when neither the policy nor the profile knows it."""
        return self.tools.get(name)


def _tool_plan(name: str, prof: ToolProfile | None, rule: ToolRule | None) -> ToolPlan:
    if prof is None:
        return ToolPlan(name, None, rule)
    kinds = prof.kind_index
    intervals = tuple(
        IntervalArg(n, 1000 if prof.arguments[n].unit == "s" else 1,
                    d if isinstance(d := prof.arguments[n].default, int) and not isinstance(d, bool) else None)
        for n in kinds.get("interval", ())
    )
    sudo: dict[str, SudoPasswordRewrite] = {}
    for rw in prof.rewrites:
        if isinstance(rw, SudoPasswordRewrite):
            sudo.setdefault(rw.argument, rw)
    return ToolPlan(
        name, prof, rule,
        kinds=MappingProxyType(dict(kinds)),
        roles=MappingProxyType(dict(prof.role_index)),
        intervals=intervals,
        sudo=MappingProxyType(sudo),
        tmux=tuple(rw for rw in prof.rewrites if isinstance(rw, TmuxFollowups)),
        auto_password=tuple(rw for rw in prof.rewrites if isinstance(rw, TerminalAutoPassword)),
    )


def build_plan(policy: Policy) -> PolicyPlan:
    """Index ``policy`` (use ``policy.plan``, which builds this once)."""
    profile = policy.profile.tools
    names = [*profile, *(t for t in policy.tools if t not in profile)]
    tools = {n: _tool_plan(n, profile.get(n), policy.tools.get(n)) for n in names}
    rewrites = [rw for t in profile.values() for rw in t.rewrites]
    stopped = [t.schedule.stopped_reply for t in profile.values() if t.schedule is not None and t.schedule.stopped_reply]
    probe = next(((n, t.args("connection")[0]) for n, t in tools.items()
                  if t.profile is not None and t.args("connection") and any(f.binds == "password" for f in t.profile.replies)),
                 None)
    return PolicyPlan(
        tools=MappingProxyType(tools),
        rewrites_password=any(rw.kind == "sudo-password" for rw in rewrites),
        saved_fallback=any(getattr(rw, "saved_password_fallback", False) for rw in rewrites),
        stop_tool=next((n for n, t in profile.items() if t.effect == "stop-background"), None),
        stopped_reply=re.compile(stopped[0]) if stopped else None,
        password_probe=probe,
    )


__all__ = ["IntervalArg", "PolicyPlan", "ToolPlan", "build_plan"]
