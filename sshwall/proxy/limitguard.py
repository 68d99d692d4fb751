"""Stateful checks after the policy allowed a call: the limits (rate caps and background-task caps).

They can only make a verdict stricter. Any state backend failure denies (fail closed). The
limit guard also knows which background tasks it let through, keeps that registry in step with
``stopBackground`` / ``stopAllBackgroundTasks``, and stops tasks whose time to live has passed.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sshwall.engine import Decision, ToolCall, Verdict
from sshwall.engine.conditions import limit_amount
from sshwall.engine.grants import is_operator
from sshwall.errors import StateError
from sshwall.limits import BackgroundTask, LimitRequest, State, TaskCaps
from sshwall.policy import Limit, Policy
from sshwall.policy.durations import format_duration
from sshwall.profiles import Schedule
from sshwall.proxy.caller import Caller

log = logging.getLogger("sshwall.limitguard")

SETTLE_SLACK_MS = 10_000
"""Beyond a run's bound: time for the upstream to open a channel and set its timer."""
RESTOP_EVERY_MS = 5_000
"""How often a stop that may have reached no timer is sent again."""


@dataclass(frozen=True)
class Admission:
    """The verdict under the limits, and what to undo if the upstream then fails the call."""

    verdict: Verdict
    task: BackgroundTask | None = None



class LimitGuard:
    """The limits of one gateway (rate caps, background-task caps), on a shared ``State``."""

    def __init__(self, policy: Policy, state: State, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.state = state
        self.clock = clock
        # Connections whose task this gateway's upstream runs: replicas share the registry, but
        # each stops (and reaps) only its own.
        self.mine: set[str] = set()
        # Local facts about this gateway's own upstream (see docs/limits.md, "Background tasks"):
        # a start in flight (connection -> admitted at), a start whose answer never came
        # (connection -> until when the upstream may still set its timer; None: no bound), and
        # stops to send again because they may have reached no timer (connection -> due at).
        self.starting: dict[str, int] = {}
        self.unsettled: dict[str, int | None] = {}
        self.restop: dict[str, int] = {}

    def with_policy(self, policy: Policy) -> LimitGuard:
        """This guard under another policy (a reload, ``sshwall.proxy.generation``): the same
        state backend (rate counters, task registry) and the same local task facts (shared,
        not copied)."""
        view = copy.copy(self)
        view.policy = policy
        return view

    def now_ms(self) -> int:
        """The current time in ms, from the injected clock."""
        return int(self.clock() * 1000)

    def _limits(self, tool: str) -> list[Limit]:
        plan = self.policy.plan.tool(tool)
        rule = plan.rule if plan is not None else None
        return [*(rule.limits if rule else ()), *self.policy.limits]

    def _schedule(self, tool: str) -> Schedule | None:
        plan = self.policy.plan.tool(tool)
        return plan.schedule if plan is not None else None

    def _effect(self, tool: str) -> str | None:
        plan = self.policy.plan.tool(tool)
        return plan.effect if plan is not None else None

    def stop_tool(self) -> str | None:
        """The upstream's tool that stops one connection's background task."""
        return self.policy.plan.stop_tool

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

    async def admit(self, call: ToolCall, verdict: Verdict, who: Caller, extra: tuple[Limit, ...] = (),
                    *, interval_ms: int | None = None) -> Admission:
        """Apply rate caps and background rules to ``verdict``; never loosens it.

        ``extra`` are further limits that apply here (a host group's); ``interval_ms`` the
        interval the call runs at, as the firewall worked it out once (None: worked out here).
        """
        identity = who.identity
        arguments = call.arguments if isinstance(call.arguments, Mapping) else {}
        limits = [*self._limits(call.name), *extra]
        admission = Admission(verdict)
        try:
            if verdict.decision == Decision.ALLOW:
                refused = await self._task_owner(call, arguments, identity)
                if refused is not None:
                    return Admission(verdict.with_deny("identity.task-owner", refused))
                # The task caps first: a call they refuse must not use up a rate slot.
                admission = await self._background(call, verdict, arguments, identity, interval_ms)
            allowed = admission.verdict.decision == Decision.ALLOW
            wanted = [lim for lim in limits if allowed or lim.count == "attempts"]
            if wanted:
                requests = []
                for lim in wanted:
                    amount, problem = limit_amount(lim, arguments)
                    if problem is not None:
                        await self.undo(admission)
                        return Admission(verdict.with_deny(f"limits.{lim.counter}", problem))
                    requests.append(LimitRequest.for_limit(lim, self._scope_value(lim, call.name, arguments, who), amount))
                result = await self.state.limiter.acquire(requests, self.now_ms())
                if not result.allowed and allowed:
                    await self.undo(admission)
                    own = next((lim.reason for lim, r in zip(wanted, requests) if r.key == result.key and lim.reason), None)
                    return Admission(verdict.with_deny(f"limits.{(result.key or '').split('|')[0]}", own or result.reason))
            return admission
        except StateError as err:
            await self.undo(admission)
            return Admission(verdict.with_deny("state.unavailable", f"state backend unavailable, so the call is refused: {err}"))
        except Exception as err:  # fail closed: a bug on the state path never allows
            log.exception("the state check of %s failed unexpectedly", call.name)
            try:
                await self.undo(admission)
            except Exception:  # already denying; the registry may keep a stale task
                log.exception("cannot forget the task of a call the state check failed")
            return Admission(verdict.with_deny("state.error",
                                   f"the state check failed unexpectedly, so the call is refused: {type(err).__name__}: {err}"))

    async def _task_owner(self, call: ToolCall, arguments: Mapping[str, Any], identity: str) -> str | None:
        """Why ``identity`` may not stop the registered task on this connection (None: it may):
        a task is stopped by the identity that started it, or by an operator."""
        if self._effect(call.name) != "stop-background" or is_operator(self.policy, identity):
            return None
        connection = str(arguments.get("connectionId", "-"))
        for task in await self.state.tasks.active():
            if task.connection_id == connection and task.identity != identity:
                return (f"the background task on connection {connection} was started by another identity, not by "
                        f"`{identity}`; only its owner or an operator identity (grants: {{NAME: {{operator: true}}}}) may stop it")
        return None

    async def _background(self, call: ToolCall, verdict: Verdict, arguments: Mapping[str, Any], identity: str,
                          interval_ms: int | None) -> Admission:
        plan = self.policy.plan.tool(call.name)
        rule = plan.rule if plan is not None else None
        interval = interval_ms if interval_ms is not None or plan is None else plan.interval_ms(arguments)
        if rule is None or interval is None or interval <= 0:
            return Admission(verdict)
        bg = rule.background
        ttl = bg.ttl if bg else None
        if bg and bg.max_runs and ttl and ttl // interval + 1 > bg.max_runs:
            return Admission(verdict.with_deny(f"tools.{call.name}.background",
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
        caps = TaskCaps.from_rule(bg)
        schedule = self._schedule(call.name)
        if schedule is not None and schedule.per_connection == "orphans-concurrent":
            caps = caps.exclusive()
        started = await self.state.tasks.start(task, caps, now)
        if not started.started:
            reason = started.reason
            if started.cap == "one_per_connection":
                reason = self._second_start(task.connection_id)
            return Admission(verdict.with_deny(f"tools.{call.name}.background", reason))
        self.starting[task.connection_id] = now
        return Admission(verdict, task)

    def _second_start(self, connection: str) -> str:
        """Why a second task on one connection is refused (the upstream orphans a timer)."""
        if connection in self.starting:
            state = "a task still starting (its first run has not answered)"
        elif connection in self.unsettled:
            state = ("a task that may have started (its first run outlasted the gateway's timeout; "
                     "the upstream starts the timer when that run ends)")
        else:
            state = "a background task"
        return (f"connection {connection} already has {state}: the upstream keeps one timer per connection "
                "and a second start while another is registered or starting leaves an orphan timer that "
                "no stop reaches; stop the task first (stopBackground)")

    def confirm(self, admission: Admission) -> None:
        """The upstream started the admitted task."""
        if admission.task is not None:
            self.mine.add(admission.task.connection_id)
            self.starting.pop(admission.task.connection_id, None)

    def unsure(self, admission: Admission, call: ToolCall) -> None:
        """The start was forwarded but no answer came (timeout, lost connection): the upstream may
        still start the task, so it stays registered (it counts, it gets its TTL stop) as maybe
        started until a stop is known to have reached its timer."""
        if admission.task is None:
            return
        connection = admission.task.connection_id
        admitted = self.starting.pop(connection, admission.task.started_ms)
        plan = self.policy.plan.tool(call.name)
        rule = plan.rule if plan is not None else None
        bound = rule.background.run_bound if rule is not None and rule.background is not None else None
        self.unsettled[connection] = None if bound is None else admitted + bound + SETTLE_SLACK_MS
        self.mine.add(connection)
        log.warning("background task on %s may have started (no answer from the upstream); it stays registered",
                    connection)

    async def undo(self, admission: Admission) -> None:
        """Forget a task the upstream did not start."""
        if admission.task is not None:
            connection = admission.task.connection_id
            self.starting.pop(connection, None)
            self.restop.pop(connection, None)
            try:
                await self.state.tasks.stop(connection)
            except StateError as err:
                log.warning("cannot forget background task %s: %s", connection, err)

    async def after(self, call: ToolCall, ok: bool, reply: Any = None, reached: bool = True) -> None:
        """Keep the task registry in step with stop calls that went through.

        ``reply`` is the stop's result, ``reached`` false when it got no answer. A task is
        forgotten only when the stop surely reached its timer: not while its start is in
        flight, and for a maybe-started task only once the reply says it stopped one or the
        first run's bound has passed; otherwise the stop is sent again later.
        """
        effect = self._effect(call.name)
        if not ok or effect is None:
            return
        try:
            if effect == "stop-background" and isinstance(call.arguments, Mapping):
                await self._stopped(str(call.arguments.get("connectionId", "")), reply, reached)
            elif effect == "stop-all-background":
                # The upstream stopped its own tasks: the ones this gateway started. Its reply
                # names none of them, so maybe-started ones are stopped one by one later.
                for connection in sorted(self.mine | set(self.starting)):
                    await self._stopped(connection, None, reached)
        except StateError as err:
            log.warning("task registry not updated after %s: %s", call.name, err)

    async def _stopped(self, connection: str, reply: Any, reached: bool) -> None:
        now = self.now_ms()
        if connection in self.starting or (connection in self.mine and not reached):
            self.restop[connection] = now if connection in self.starting else now + RESTOP_EVERY_MS
            return
        if connection in self.unsettled:
            until = self.unsettled[connection]
            pattern = self.policy.plan.stopped_reply
            said = pattern is not None and pattern.fullmatch(_reply_text(reply)) is not None
            if not said and (until is None or now < until):
                self.restop[connection] = now + RESTOP_EVERY_MS
                log.info("stop of maybe-started task on %s may have reached no timer; sent again later", connection)
                return
        await self.state.tasks.stop(connection)
        self.mine.discard(connection)
        self.unsettled.pop(connection, None)
        self.restop.pop(connection, None)

    async def expired(self) -> list[BackgroundTask]:
        """This gateway's tasks to stop now: their time to live has passed (registered until
        stopped), or an earlier stop may have reached no timer and is due again."""
        now = self.now_ms()
        due = {c for c, at in self.restop.items() if at <= now}
        tasks = await self.state.tasks.expired(now)
        if due:
            tasks += [t for t in await self.state.tasks.active() if t.connection_id in due]
        out: dict[str, BackgroundTask] = {}
        for t in tasks:
            if t.connection_id in self.mine and self.restop.get(t.connection_id, now) <= now:
                out.setdefault(t.connection_id, t)
        return list(out.values())


def _reply_text(reply: Any) -> str:
    """The text of a tool result (its text items joined), '' when there is none."""
    if not isinstance(reply, Mapping):
        return ""
    content = reply.get("content")
    if not isinstance(content, list):
        return ""
    return "\n".join(str(c.get("text", "")) for c in content if isinstance(c, Mapping) and c.get("type") == "text")
