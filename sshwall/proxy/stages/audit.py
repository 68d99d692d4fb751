"""Stage ``audit``: the decision record before anything is forwarded, the outcome record after.

Writes go to the audit log's one writer thread (``AuditLog.submit``), so the event loop
never waits on a flock or an ``fsync``; the records keep their order. A decision record that
cannot be written answers the call ``audit.unavailable``: the pipeline sends nothing without
it. A forwarded call gets its outcome record (``ok``, ``tool-error``, ``timeout``,
``cancelled``...) once the upstream answered or failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from sshwall.audit import AuditLog, AuditRecord, decision_event, outcome_event, secret_argument_names
from sshwall.errors import SshwallError
from sshwall.policy import Policy
from sshwall.proxy.stages.context import Call, Outcome
from sshwall.proxy.stages.forward import forwards
from sshwall.proxy.stages.pipeline import Stage, unaudited

log = logging.getLogger("sshwall.firewall")


class Recorder:
    """The firewall's way into the audit log (none: every write succeeds as seq 0).

    ``revision``: the policy revision every record written through this recorder names in its
    ``policy`` field (an event that names one already keeps it); each policy generation has
    its own recorder on the same log (``sshwall.proxy.generation``). ``mode``: ``shadow``
    puts ``mode: shadow`` on every record (docs/shadow-replay.md); None writes no mode."""

    def __init__(self, audit: AuditLog | None, revision: str | None = None, mode: str | None = None) -> None:
        self.audit = audit
        self.revision = revision
        self.mode = mode
        self._later: set[asyncio.Task[None]] = set()

    def submit(self, event: Mapping[str, object]) -> Future[AuditRecord] | None:
        """Queue ``event`` on the writer thread; None without a log. Raises ``AuditError``
        when the log is closed."""
        if self.audit is None:
            return None
        if self.revision is not None and "policy" not in event:
            event = {**event, "policy": self.revision}
        if self.mode is not None:
            event = {**event, "mode": self.mode}
        return self.audit.submit(event)

    async def record(self, event: Mapping[str, object]) -> int | None:
        """Write ``event``; its seq, 0 without a log, None when writing failed."""
        try:
            return await self.wait(self.submit(event))
        except SshwallError as err:
            log.error("audit log write failed: %s", err)
            return None

    @staticmethod
    async def wait(pending: Future[AuditRecord] | None) -> int | None:
        """The seq of a submitted write (0 without a log, None when it failed); a cancelled
        waiter does not stop the write."""
        if pending is None:
            return 0
        try:
            return int((await asyncio.shield(asyncio.wrap_future(pending))).seq)
        except (SshwallError, OSError) as err:
            log.error("audit log write failed: %s", err)
            return None

    def notice(self, event: Mapping[str, object]) -> None:
        """Write ``event`` without waiting for it (in order with every other record)."""
        try:
            pending = self.submit(event)
        except SshwallError as err:
            log.error("audit log write failed: %s", err)
            return
        if pending is not None:
            pending.add_done_callback(_log_failure)

    def later(self, work: Any) -> None:
        """Run ``work`` (a coroutine) in the background, kept alive until it ends."""
        task = asyncio.ensure_future(work)
        self._later.add(task)
        task.add_done_callback(self._later.discard)


def _log_failure(done: Future[AuditRecord]) -> None:
    err = done.exception()
    if err is not None:
        log.error("audit log write failed: %s", err)


class Audit(Stage):
    """The decision record (``before``) and the outcome record (``after``)."""

    name = "audit"
    audits = True

    def __init__(self, policy: Policy, recorder: Recorder, shadow: bool = False) -> None:
        self.policy = policy
        self.recorder = recorder
        # Shadow mode: a denied call that is forwarded all the same is recorded `would-deny`.
        self.shadow = shadow

    def _secrets(self, tool: str) -> set[str]:
        plan = self.policy.plan.tool(tool)
        return secret_argument_names(plan.profile if plan is not None else None)

    async def before(self, call: Call) -> Call:
        forwarded = forwards(call, self.shadow)
        outgoing = call.forwarded.get("arguments")
        arguments = call.arguments
        event = decision_event(
            tool=call.tool,
            arguments=arguments if isinstance(arguments, Mapping) else {"(arguments)": arguments},
            decision=call.verdict.decision.value,
            rules=call.verdict.rules,
            reasons=call.verdict.reasons,
            identity=call.caller.identity,
            latency_ms=round((time.perf_counter() - call.started) * 1000, 3),
            upstream="pending" if forwarded else "not-forwarded",
            secret_names=self._secrets(call.tool),
            request_id=call.request_id,
            forwarded=outgoing if forwarded and outgoing != arguments else None,
            approval=call.approval,
        )
        if forwarded and not call.allowed:  # shadow mode: forwarded though the verdict says no
            event = {**event, "would": f"would-{call.verdict.decision.value}"}
        try:
            pending = self.recorder.submit(event)
        except SshwallError as err:
            log.error("audit log write failed: %s", err)
            return replace(call, answer=unaudited())
        try:
            ref = await self.recorder.wait(pending)
        except asyncio.CancelledError:
            if forwarded and pending is not None:
                # Cancelled before it was sent: the record says pending, so its outcome follows.
                self.recorder.later(self._cancelled_early(pending, call))
            raise
        return replace(call, answer=unaudited()) if ref is None else replace(call, ref=ref)

    async def _cancelled_early(self, pending: Future[AuditRecord], call: Call) -> None:
        ref = await self.recorder.wait(pending)
        if ref:
            await self._outcome(replace(call, ref=ref), "cancelled", "cancelled by the client before it was forwarded")

    async def after(self, call: Call, outcome: Outcome) -> None:
        if call.ref is not None and outcome.sent:
            await self._outcome(call, outcome.upstream, outcome.detail)

    async def _outcome(self, call: Call, upstream: str, detail: str | None) -> None:
        if self.recorder.audit is None or call.ref is None:
            return
        await self.recorder.record(outcome_event(
            ref=call.ref,
            tool=call.tool,
            upstream=upstream,
            latency_ms=round((time.perf_counter() - call.started) * 1000, 3),
            detail=detail,
            identity=call.caller.identity,
            request_id=call.request_id,
        ))
