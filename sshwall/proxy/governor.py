"""Stateful checks after the policy allowed a call: rate caps and background-task governance.

They can only make a verdict stricter. Any state backend failure denies (fail closed). The
governor also knows which background tasks it let through, keeps that registry in step with
``stopBackground`` / ``stopAllBackgroundTasks``, and stops tasks whose time to live has passed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sshwall.engine import Decision, Hit, ToolCall, Verdict, effective_interval
from sshwall.errors import StateError
from sshwall.limits import BackgroundTask, LimitRequest, State, TaskCaps
from sshwall.policy import Limit, Policy
from sshwall.policy.durations import format_duration

log = logging.getLogger("sshwall.governor")



@dataclass(frozen=True)
class Caller:
    """Who is calling: the identity whose grant applies, the MCP session, the bound host."""

    identity: str = "local"
    session: str = "stdio"
    host: str | None = None


@dataclass(frozen=True)
class Admission:
    """The governed verdict, and what to undo if the upstream then fails the call."""

    verdict: Verdict
    task: BackgroundTask | None = None


def _deny(verdict: Verdict, rule: str, reason: str) -> Verdict:
    return Verdict.of([*verdict.hits, Hit(rule, Decision.DENY, reason)])


class Governor:
    """Rate caps and background tasks for one gateway, on a shared ``State``."""

    def __init__(self, policy: Policy, state: State, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.state = state
        self.clock = clock
        # Connections whose task this gateway's upstream runs: replicas share the registry, but
        # each stops (and reaps) only its own.
        self.mine: set[str] = set()

    def now_ms(self) -> int:
        """The current time in ms, from the injected clock."""
        return int(self.clock() * 1000)

    def _limits(self, tool: str) -> list[Limit]:
        rule = self.policy.tools.get(tool)
        return [*(rule.limits if rule else ()), *self.policy.limits]

    def stop_tool(self) -> str | None:
        """The upstream's tool that stops one connection's background task."""
        return next((n for n, t in self.policy.profile.tools.items() if t.effect == "stop-background"), None)

    @staticmethod
    def _scope_value(limit: Limit, tool: str, arguments: Mapping[str, Any], who: Caller) -> str:
        if limit.scope == "grant":
            return who.identity
        if limit.scope == "session":
            return who.session
        if limit.scope == "connection":
            return str(arguments.get("connectionId", "-"))
        if limit.scope == "host":
            # A connection stands for its host until it is bound (the policy has no hosts).
            return who.host or str(arguments.get("connectionId", "-"))
        if limit.scope == "tool":
            return tool
        return "*"

    async def admit(self, call: ToolCall, verdict: Verdict, who: Caller, extra: tuple[Limit, ...] = ()) -> Admission:
        """Apply rate caps and background rules to ``verdict``; never loosens it.

        ``extra`` are further limits that apply here (a host group's).
        """
        identity = who.identity
        arguments = call.arguments if isinstance(call.arguments, Mapping) else {}
        limits = [*self._limits(call.name), *extra]
        admission = Admission(verdict)
        try:
            if verdict.decision == Decision.ALLOW:
                # The task caps first: a call they refuse must not use up a rate slot.
                admission = await self._background(call, verdict, arguments, identity)
            allowed = admission.verdict.decision == Decision.ALLOW
            wanted = [lim for lim in limits if allowed or lim.count == "attempts"]
            if wanted:
                requests = [LimitRequest.for_limit(lim, self._scope_value(lim, call.name, arguments, who)) for lim in wanted]
                result = await self.state.limiter.acquire(requests, self.now_ms())
                if not result.allowed and allowed:
                    await self.undo(admission)
                    return Admission(_deny(verdict, f"limits.{(result.key or '').split('|')[0]}", result.reason))
            return admission
        except StateError as err:
            await self.undo(admission)
            return Admission(_deny(verdict, "state.unavailable", f"state backend unavailable, so the call is refused: {err}"))

    async def _background(self, call: ToolCall, verdict: Verdict, arguments: Mapping[str, Any], identity: str) -> Admission:
        rule = self.policy.tools.get(call.name)
        interval = effective_interval(self.policy, call)
        if rule is None or interval is None or interval <= 0:
            return Admission(verdict)
        bg = rule.background
        ttl = bg.ttl if bg else None
        if bg and bg.max_runs and ttl and ttl // interval + 1 > bg.max_runs:
            return Admission(_deny(
                verdict, f"tools.{call.name}.background",
                f"a task every {format_duration(interval)} for {format_duration(ttl)} runs about "
                f"{ttl // interval + 1} times, over the cap of {bg.max_runs}",
            ))
        now = self.now_ms()
        task = BackgroundTask(
            connection_id=str(arguments.get("connectionId", "-")),
            identity=identity,
            command=str(arguments.get("command", "")),
            interval_ms=interval,
            started_ms=now,
            expires_ms=now + ttl if ttl else None,
        )
        started = await self.state.tasks.start(task, TaskCaps.from_rule(bg), now)
        if not started.started:
            return Admission(_deny(verdict, f"tools.{call.name}.background", started.reason))
        return Admission(verdict, task)

    def confirm(self, admission: Admission) -> None:
        """The upstream started the admitted task."""
        if admission.task is not None:
            self.mine.add(admission.task.connection_id)

    async def undo(self, admission: Admission) -> None:
        """Forget a task the upstream did not start."""
        if admission.task is not None:
            try:
                await self.state.tasks.stop(admission.task.connection_id)
            except StateError as err:
                log.warning("cannot forget background task %s: %s", admission.task.connection_id, err)

    async def after(self, call: ToolCall, ok: bool) -> None:
        """Keep the task registry in step with stop calls that went through."""
        prof = self.policy.profile.tools.get(call.name)
        if not ok or prof is None:
            return
        try:
            if prof.effect == "stop-background" and isinstance(call.arguments, Mapping):
                connection = str(call.arguments.get("connectionId", ""))
                await self.state.tasks.stop(connection)
                self.mine.discard(connection)
            elif prof.effect == "stop-all-background":
                # The upstream stopped its own tasks: the ones this gateway started.
                for connection in sorted(self.mine):
                    await self.state.tasks.stop(connection)
                self.mine.clear()
        except StateError as err:
            log.warning("task registry not updated after %s: %s", call.name, err)

    async def expired(self) -> list[BackgroundTask]:
        """This gateway's tasks whose time to live has passed (registered until stopped)."""
        return [t for t in await self.state.tasks.expired(self.now_ms()) if t.connection_id in self.mine]
