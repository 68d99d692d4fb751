"""Approval: a ``prompt`` verdict becomes allow or deny by a human's answer to that exact call.

``ApprovalGuard.settle`` (run by stage ``approve``, after every check that can deny and before
the limits) turns a call whose verdict is ``prompt`` into an allowed or a denied one:

1. The call's **key** (``sshwall.proxy.approvalcall.approval_key``): the caller's identity, the tool, its arguments as
   canonical JSON, the host, user, port and host-key fingerprint its connection is bound to, and
   the policy's revision. A yes is for that key only; any change of any part is another call.
2. A yes the policy lets be reused (``approval.reuse``) for the same key lets it go on at once.
3. Otherwise a request is stored (``sshwall.limits.approvals``), audited
   (``approval-requested``) and announced to the webhook; then the channels are tried in the
   policy's order: ``elicitation`` (the client's user is asked; needs the client's capability)
   and ``queue`` (the call waits for ``sshwall approvals approve ID`` or ``POST /approvals/ID``).
4. The answer is audited (``approval-approved`` / ``-denied`` / ``-expired`` / ``-withdrawn``),
   a yes is used (``used``: a replay is refused) and the verdict changes: allowed with rule
   ``approval.granted``, or denied with the reason. The decision record names the request.

A client that cancels while the call waits withdraws the request; a gateway that stops voids
the requests its calls wait on (``void_pending``), and its waiting calls are denied.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from sshwall.audit import notice_event
from sshwall.engine import Decision, Hit, Verdict
from sshwall.errors import ApprovalError, ClientCannotAsk, InputRequired, SshwallError
from sshwall.limits.approvals import ApprovalRequest, ApprovalStore
from sshwall.policy import Policy
from sshwall.proxy.approvalcall import (
    APPROVE_FIELD,
    SCHEMA,
    alive,
    approval_key,
    call_target,
    gateway_id,
    new_request,
    question_text,
)
from sshwall.proxy.caller import Question
from sshwall.proxy.stages.context import Answer, Call
from sshwall.proxy.targetguard import TargetGuard

log = logging.getLogger("sshwall.approvals")

Announce = Callable[[str, ApprovalRequest, str], Awaitable[str | None]]
"""Tells the webhook at a URL of a pending request (``sshwall.proxy.webhook.announce``)."""

Record = Callable[[Mapping[str, object]], Awaitable[int | None]]
"""Writes one audit event; its seq, or None when the log cannot be written."""


class ApprovalGuard:
    """Puts ``prompt`` calls to a human (see the module doc); one per gateway."""

    def __init__(self, policy: Policy, store: ApprovalStore, targets: TargetGuard, record: Record,
                 announce: Announce | None = None, queue_reachable: bool | None = None,
                 state_hint: str = "", clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.rule = policy.approval
        self.store = store
        self.targets = targets
        self.record = record
        self.announce = announce
        # Whether an operator can reach the queue: a shared backend (``sshwall approvals``), or
        # this gateway's HTTP listener (``/approvals``).
        self.queue_reachable = store.shared if queue_reachable is None else queue_reachable
        self.state_hint = state_hint  # `--state URL` for the approve command, when not the default
        self.clock = clock
        self.gateway = gateway_id()
        self._waiting: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()
        # 2026-07-28: requests whose question went back to the client, which no call waits on,
        # each with the timer that expires it at its deadline (``_expire_later``).
        self._asked_back: dict[str, asyncio.Task[None]] = {}

    def with_policy(self, policy: Policy, targets: TargetGuard, record: Record) -> ApprovalGuard:
        """This guard under another policy (a reload, ``sshwall.proxy.generation``): the same
        store, gateway id and requests in flight (shared, not copied); ``targets`` and
        ``record`` are the new policy's."""
        view = copy.copy(self)
        view.policy, view.rule, view.targets, view.record = policy, policy.approval, targets, record
        return view

    # -- the call -------------------------------------------------------------------------

    async def settle(self, call: Call) -> Call:
        """The call with its ``prompt`` verdict turned into allow or deny (others unchanged)."""
        if call.verdict.decision != Decision.PROMPT:
            return call
        where = call_target(call, self.policy, self.targets)
        key = approval_key(call.caller.identity, call.tool, call.arguments, where.host, where.user, where.port,
                           where.host_key, self.policy.revision)
        try:
            if call.caller.resume is not None:
                return await self._resume(call, key, call.caller.resume)
            if self.rule.reuse > 0:
                reused = await self._reuse(call, key)
                if reused is not None:
                    return reused
            request = new_request(call, key, where, self.policy, self.gateway, self.clock())
            await self.store.create(request)
        except SshwallError as err:  # the state backend failed: nobody can approve, deny
            return self._deny(call, "approval.unavailable", f"approval requests cannot be stored: {err}", None)
        self._waiting.add(request.id)
        try:
            if await self._event("approval-requested", request, tool=call.tool, key=key, reasons=list(request.reasons),
                                 command=request.command, host=request.host, user=request.user) is None:
                await self.store.end(request.id, "void", "the audit log cannot be written")
                return self._deny(call, "audit.unavailable", "the audit log cannot be written, so nothing is approved",
                                  request.id)
            self._announce(request)
            return await self._ask(call, request, key)
        except asyncio.CancelledError:
            await asyncio.shield(self._withdraw(request))
            raise
        finally:
            self._waiting.discard(request.id)

    async def _ask(self, call: Call, request: ApprovalRequest, key: str) -> Call:
        """Try the channels in order; the call as the answer leaves it."""
        unreachable: list[str] = []
        for channel in self.rule.channels:
            if channel == "elicitation":
                if call.caller.ask is None:
                    unreachable.append("elicitation: the client did not declare the capability")
                    continue
                try:
                    return await self._elicit(call, request, key)
                except ClientCannotAsk as err:
                    unreachable.append(f"elicitation: {err}")
                    continue
            if channel == "queue":
                if not self.queue_reachable:
                    unreachable.append(f"queue: the state backend ({self.store.where}) is visible to this process only "
                                       "and no HTTP listener serves /approvals")
                    continue
                return await self._queue(call, request, key)
        await self.store.end(request.id, "void", "no channel reached anyone")
        await self._event("approval-unreachable", request, detail="; ".join(unreachable))
        return self._deny(call, "approval.unreachable",
                          f"approval required: no approval channel reaches anyone ({'; '.join(unreachable) or 'no channels'});"
                          " a client that answers elicitation, or a queue an operator can reach (`sshwall serve --state"
                          " sqlite:///PATH` or `redis://...`, then `sshwall approvals approve ID`), would unlock it", request.id)

    def _unlock_hint(self, request: ApprovalRequest) -> str:
        return f"ask an operator to run `{self.approve_command(request.id)}` while the call waits"

    def approve_command(self, request_id: str) -> str:
        """The command line that approves request ``request_id``."""
        state = f" --state {self.state_hint}" if self.state_hint else ""
        return f"sshwall approvals approve {request_id}{state}"

    async def _elicit(self, call: Call, request: ApprovalRequest, key: str) -> Call:
        ask = call.caller.ask
        assert ask is not None
        question = Question(request.id, question_text(request, self.rule.reuse), SCHEMA)
        left = request.expires - self.clock()
        try:
            reply = await asyncio.wait_for(ask(question), max(left, 0.001))
        except TimeoutError:
            return await self._expired(call, request, key, "elicitation")
        except InputRequired as pending:  # 2026-07-28: the question goes back as the call's result
            self._expire_later(request)
            return replace(call, answer=Answer(pending.result, "input-required"))
        return await self._elicited(call, request, key, reply)

    async def _elicited(self, call: Call, request: ApprovalRequest, key: str, reply: Any) -> Call:
        """The client's answer: accept with ``approve: true`` approves; decline, cancel, a no and a
        malformed answer deny."""
        action = reply.get("action") if isinstance(reply, Mapping) else None
        content = reply.get("content") if isinstance(reply, Mapping) else None
        yes = action == "accept" and isinstance(content, Mapping) and content.get(APPROVE_FIELD) is True
        note: str | None
        if action not in ("accept", "decline", "cancel"):
            note = f"malformed answer to the approval question: {str(reply)[:200]}"
        elif action == "accept" and not (isinstance(content, Mapping) and isinstance(content.get(APPROVE_FIELD), bool)):
            note = "the client's answer has no yes/no"
        else:
            note = None if yes else f"the client's user chose {action}" + ("" if action != "accept" else " with approve: false")
        by = f"{call.caller.identity}'s client user"
        try:
            answered = await self.store.answer(request.id, yes, by, "elicitation", self.clock(), note, check=False)
        except ApprovalError as err:
            return self._deny(call, "approval.denied", str(err), request.id)
        return await self._settled(call, answered, key)

    async def _queue(self, call: Call, request: ApprovalRequest, key: str) -> Call:
        log.warning("approval %s pending for %s (%s on %s@%s): %s", request.id, call.caller.identity, call.tool,
                    request.user, request.host, self.approve_command(request.id))
        try:
            current = await self.store.wait(request.id, max(request.expires - self.clock(), 0.0))
        except SshwallError as err:
            return self._deny(call, "approval.unavailable", f"approval request {request.id} cannot be read: {err}", request.id)
        if current is None:
            return self._deny(call, "approval.unavailable", f"approval request {request.id} is gone from the queue", request.id)
        if current.state == "pending":
            return await self._expired(call, request, key, "queue")
        return await self._settled(call, current, key)

    async def _expired(self, call: Call, request: ApprovalRequest, key: str, channel: str) -> Call:
        ended = await self.store.end(request.id, "expired", f"nobody answered within {self.rule.timeout:g} s")
        if ended is None:  # answered at the last moment: the answer stands
            current = await self.store.get(request.id)
            if current is not None:
                return await self._settled(call, current, key)
        await self._event("approval-expired", request, channel=channel)
        return self._deny(call, "approval.timeout",
                          f"approval required: nobody answered approval request {request.id} within {self.rule.timeout:g} s"
                          f" ({channel}); {self._unlock_hint(request)}", request.id)

    async def _settled(self, call: Call, request: ApprovalRequest, key: str) -> Call:
        """Audit the answer; a yes is used and allows, anything else denies."""
        if request.state == "approved":
            await self._event("approval-approved", request, approver=request.by, channel=request.channel, note=request.note)
            return await self._use(call, request, key, "approval.granted")
        if request.state == "denied":
            await self._event("approval-denied", request, approver=request.by, channel=request.channel, note=request.note)
            why = f": {request.note}" if request.note else ""
            return self._deny(call, "approval.denied", f"{request.by} declined approval request {request.id}"
                              f" through {request.channel}{why}", request.id)
        await self._event(f"approval-{request.state}", request, note=request.note)
        return self._deny(call, f"approval.{request.state}", f"approval request {request.id} is {request.state}"
                          + (f": {request.note}" if request.note else ""), request.id)

    async def _use(self, call: Call, request: ApprovalRequest, key: str, rule: str) -> Call:
        try:
            done = await self.store.use(request.id, key, self.clock())
        except SshwallError as err:
            return self._deny(call, "approval.used", str(err), request.id)
        return self._granted(call, done, rule)

    @staticmethod
    def _granted(call: Call, done: ApprovalRequest, rule: str) -> Call:
        reason = f"approved by {done.by} through {done.channel} (approval {done.id})"
        if done.reuse_until is not None:
            reason += f", reusable for this exact call until {time.strftime('%H:%M:%SZ', time.gmtime(done.reuse_until))}"
        # The prompt hits stay, as allowed ones: the record still says what needed approval.
        hits = [h if h.decision != Decision.PROMPT else Hit(h.rule, Decision.ALLOW, f"{h.reason} (approved)")
                for h in call.verdict.hits]
        return replace(call, verdict=Verdict.of([*hits, Hit(rule, Decision.ALLOW, reason)]), approval=done.id)

    async def _reuse(self, call: Call, key: str) -> Call | None:
        """A yes the policy lets be reused for this exact call, if one stands."""
        found = await self.store.reusable(key, self.clock())
        if found is None:
            return None
        try:
            done = await self.store.use(found.id, key, self.clock())
        except ApprovalError:  # its time ran out meanwhile: ask again
            return None
        await self._event("approval-reused", done, approver=done.by, channel=done.channel, uses=done.uses)
        return self._granted(call, done, "approval.reused")

    def _expire_later(self, request: ApprovalRequest) -> None:
        """2026-07-28: no call waits on a request whose question went back to the client; unless
        the client's retry (or an operator) answers it first, it expires at its deadline."""
        if request.id in self._asked_back:
            return

        async def expire() -> None:
            await asyncio.sleep(max(request.expires - self.clock(), 0.0))
            self._asked_back.pop(request.id, None)
            try:
                ended = await self.store.end(request.id, "expired", f"nobody answered within {self.rule.timeout:g} s")
            except SshwallError as err:
                log.warning("cannot expire approval request %s: %s", request.id, err)
                return
            if ended is not None:
                await self._event("approval-expired", request, channel="elicitation")

        task = asyncio.ensure_future(expire())
        self._asked_back[request.id] = task
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _resume(self, call: Call, key: str, request_id: str) -> Call:
        """2026-07-28 era: the client calls again with its user's answer to request ``request_id``."""
        request = await self.store.get(request_id)
        if request is None:
            return self._deny(call, "approval.unknown", f"there is no approval request {request_id}", request_id)
        if request.key != key:
            return self._deny(call, "approval.mismatch",
                              f"approval request {request_id} was asked for another call (tool, arguments, host,"
                              " identity or policy differ)", request_id)
        if request.state != "pending":
            return await self._settled(call, request, key)
        if self.clock() >= request.expires:
            return await self._expired(call, request, key, "elicitation")
        return await self._ask(call, request, key)

    async def _withdraw(self, request: ApprovalRequest) -> None:
        try:
            ended = await self.store.end(request.id, "withdrawn", "the client cancelled the call")
        except SshwallError as err:
            log.warning("cannot withdraw approval request %s: %s", request.id, err)
            return
        if ended is not None:
            await self._event("approval-withdrawn", request, note="the client cancelled the call")

    async def void_pending(self) -> int:
        """The gateway is stopping: every request a call of it waits on becomes ``void`` (and
        every 2026-07-28 request whose question went back to the client)."""
        count = 0
        for timer in self._asked_back.values():
            timer.cancel()
        for request_id in dict.fromkeys([*self._waiting, *self._asked_back]):
            try:
                ended = await self.store.end(request_id, "void", "the gateway stopped")
            except SshwallError:
                continue
            if ended is not None:
                count += 1
                await self._event("approval-void", ended, note="the gateway stopped")
        return count

    async def void_stale(self) -> int:
        """At start: the pending requests of a gateway on this machine that is gone (it stopped
        without voiding them, or crashed) become ``void``: no call waits on them any more."""
        here = socket.gethostname() + ":"
        count = 0
        for request in await self.store.list(("pending",)):
            host_pid = request.gateway
            if not host_pid.startswith(here) or host_pid == self.gateway or alive(host_pid[len(here):]):
                continue
            ended = await self.store.end(request.id, "void", f"its gateway ({host_pid}) is gone")
            if ended is not None:
                count += 1
                await self._event("approval-void", ended, note=ended.note)
        return count

    # -- what is recorded ---------------------------------------------------------------------

    async def _event(self, kind: str, request: ApprovalRequest, detail: str | None = None, **fields: object) -> int | None:
        return await self.record(notice_event(kind, detail=detail, approval=request.id, identity=request.identity, **fields))

    def _announce(self, request: ApprovalRequest) -> None:
        url = self.rule.webhook
        if url is None or self.announce is None:
            return
        announce = self.announce

        async def tell() -> None:
            failure = await announce(url, request, self.approve_command(request.id))
            if failure is not None:
                log.warning("approval webhook %s: %s", url, failure)
                await self._event("approval-webhook-failed", request, detail=failure)

        task = asyncio.ensure_future(tell())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    def _deny(call: Call, rule: str, reason: str, request_id: str | None) -> Call:
        return replace(call.deny(rule, reason), approval=request_id)


__all__ = ["ApprovalGuard"]
