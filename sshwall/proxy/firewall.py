"""The firewall between a client and an upstream: decide, audit, then forward or refuse.

Transport-free: the frontends (the stdio relay, the SDK frontend for HTTP and the 2026-07-28
era) hand it decoded ``tools/call`` params and get the result dict to send back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

from sshwall.audit import AuditLog, decision_event, notice_event, outcome_event, secret_argument_names
from sshwall.engine import Decision, Hit, ToolCall, Verdict, evaluate
from sshwall.engine.grants import narrow
from sshwall.engine.rewrites import ConnectionFacts
from sshwall.engine.terminal import replay
from sshwall.engine.workdir import Workdir
from sshwall.errors import SshwallError, UpstreamError
from sshwall.policy import Policy
from sshwall.proxy.governor import Admission, Caller, Governor
from sshwall.proxy.identities import IdentityGuard
from sshwall.proxy.runbound import bound_runs
from sshwall.proxy.targetguard import Location, TargetGuard
from sshwall.proxy.jsonrpc import tool_error

log = logging.getLogger("sshwall.firewall")

class Forward(Protocol):
    """Sends one request upstream; ``client_id`` lets a client's cancellation follow it."""

    def __call__(self, method: str, params: Any, *, client_id: Any = None) -> Awaitable[Any]: ...


def denial_text(verdict: Verdict) -> str:
    """The text a denied call returns: first line ``sshwall: denied (rule ID): reason``."""
    hits = verdict.deciding or (Hit("default", Decision.DENY, "denied"),)
    what = "denied" if verdict.decision == Decision.DENY else "denied: approval required"
    lines = [f"sshwall: {what} (rule {hits[0].rule}): {hits[0].reason}"]
    lines += [f"also (rule {h.rule}): {h.reason}" for h in hits[1:]]
    return "\n".join(lines)


class Firewall:
    """Decides each tool call under a policy, writes the audit record, forwards allowed calls."""

    def __init__(
        self,
        policy: Policy,
        forward: Forward,
        audit: AuditLog | None = None,
        governor: Governor | None = None,
        targets: TargetGuard | None = None,
        upstream_home: str | None = None,
    ) -> None:
        self.policy = policy
        # The upstream process's home folder (its default local paths lie there), if known.
        self.upstream_home = upstream_home
        self.forward = forward
        self.audit = audit
        self.governor = governor
        self.targets = targets or TargetGuard(policy)
        # Whose ids are whose (docs/identities.md); ``identities.shared`` is set by a frontend
        # that serves several identities.
        self.identities = IdentityGuard(policy, self.targets)
        self._typed: dict[str, str] = {}  # terminal session -> text typed on its current line

    def decide(self, name: Any, arguments: Any, command_set: str | None = None, typed: str = "",
               connection: ConnectionFacts | None = None, workdir: Workdir | None = None,
               identity: str | None = None) -> Verdict:
        """The policy's verdict on one call (pure); ``workdir``: the connection's folder and home;
        ``identity``: whose grant narrows it (``sshwall.engine.grants``)."""
        if not isinstance(name, str) or not name:
            return Verdict.of([Hit("input.malformed", Decision.DENY, "tools/call without a tool name")])
        if arguments is None:
            arguments = {}
        call = ToolCall(name, arguments)

        def under(commands: str | None) -> Verdict:
            return evaluate(self.policy, call, command_set=commands or command_set, typed=typed, connection=connection,
                            upstream_home=self.upstream_home, workdir=workdir)

        verdict = under(None)
        return verdict if identity is None else narrow(self.policy, identity, call, verdict, under)

    def _terminal(self, tool: str, args: Mapping[str, Any]) -> tuple[str, str, Any] | None:
        """(session id, keystrokes, allowed keys) of a terminal-input call, else None."""
        prof = self.policy.profile.tools.get(tool)
        rule = self.policy.tools.get(tool)
        if prof is None or rule is None or rule.terminal is None:
            return None
        sessions, inputs = prof.args_of_kind("session"), prof.args_of_kind("terminal-input")
        session = args.get(sessions[0]) if sessions else None
        data = args.get(inputs[0]) if inputs else None
        if not isinstance(session, str) or not isinstance(data, str):
            return None
        return session, data, rule.terminal.allow_control

    async def call_tool(self, params: Mapping[str, Any], caller: Caller, request_id: Any = None) -> Any:
        """Decide, audit, and forward one ``tools/call``; returns the result to send back."""
        started = time.perf_counter()
        name = params.get("name") if isinstance(params, Mapping) else None
        arguments = params.get("arguments") if isinstance(params, Mapping) else None
        args = arguments if isinstance(arguments, Mapping) else {}
        tool = name if isinstance(name, str) else repr(name)
        where = self.targets.locate(tool, args)
        terminal = self._terminal(tool, args)
        typed = self._typed.get(terminal[0], "") if terminal else ""
        verdict = self.decide(name, arguments, where.command_set, typed, where.facts,
                              where.binding.workdir if where.binding else None, caller.identity)
        if where.problem is not None:
            verdict = Verdict.of([*verdict.hits, Hit(where.rule, Decision.DENY, where.problem)])
        refusal = self.identities.check(tool, args, caller.identity)
        if refusal is not None:
            verdict = Verdict.of([*verdict.hits, Hit(refusal.rule, Decision.DENY, refusal.reason)])
        if verdict.decision == Decision.ALLOW:
            verdict = await self.targets.check_connect(tool, args, verdict, caller.identity)
        bounded = bound_runs(self.policy, tool, args)  # scheduled work: each run in sshwall's timeout
        if bounded.problem is not None:
            verdict = Verdict.of([*verdict.hits, Hit(bounded.rule, Decision.DENY, bounded.problem)])
        admission = Admission(verdict)
        if self.governor is not None and isinstance(name, str):
            who = Caller(caller.identity, caller.session, where.binding.host if where.binding else None)
            admission = await self.governor.admit(ToolCall(name, args), verdict, who, where.limits)
            verdict = admission.verdict
        decided_ms = (time.perf_counter() - started) * 1000
        forwarded = verdict.decision == Decision.ALLOW
        outgoing = self._with_defaults(tool, dict(params) if bounded.arguments is None else {**params, "arguments": bounded.arguments})
        ref = self._record(
            decision_event(
                tool=tool,
                arguments=arguments if isinstance(arguments, Mapping) else {"(arguments)": arguments},
                decision=verdict.decision.value,
                rules=verdict.rules,
                reasons=verdict.reasons,
                identity=caller.identity,
                latency_ms=round(decided_ms, 3),
                upstream="pending" if forwarded else "not-forwarded",
                secret_names=self._secrets(tool),
                request_id=request_id,
                forwarded=outgoing.get("arguments") if forwarded and outgoing.get("arguments") != arguments else None,
            )
        )
        if ref is None:
            await self._undo(admission)
            return tool_error("sshwall: denied (rule audit.unavailable): the audit log cannot be written, so nothing is forwarded")
        if not forwarded:
            return tool_error(denial_text(verdict), {"sshwall": verdict.to_json()})
        try:
            result = await self.forward("tools/call", outgoing, client_id=request_id)
        except UpstreamError as err:
            # No answer: the upstream may still start a background task (its reply waits for
            # the first run), so it stays registered as maybe started.
            if self.governor is not None:
                self.governor.unsure(admission, ToolCall(tool, args))
            self._outcome(ref, tool, err.outcome, started, str(err), caller, request_id)
            raise
        except asyncio.CancelledError:
            # The client cancelled (notifications/cancelled, a closed response stream). The call
            # may have run in part, so a background task it started stays registered (stricter);
            # the upstream was told to cancel by the upstream client.
            if self.governor is not None:
                self.governor.unsure(admission, ToolCall(tool, args))
            self._outcome(ref, tool, "cancelled", started, "cancelled by the client", caller, request_id)
            raise
        # What the answer teaches (bindings, typed text, the task registry) is learnt even if the
        # client cancels now: shielded, so state never lags behind what the upstream did.
        settle = self._settle(result, ref, tool, args, where, terminal, typed, admission, started, caller, request_id)
        return await asyncio.shield(settle)

    async def _settle(self, result: Any, ref: int, tool: str, args: Mapping[str, Any], where: Location,
                      terminal: tuple[str, str, Any] | None, typed: str, admission: Admission,
                      started: float, caller: Caller, request_id: Any) -> Any:
        """After the upstream answered: update the state, write the outcome record."""
        failed = isinstance(result, Mapping) and bool(result.get("isError"))
        if failed:
            await self._undo(admission)
        elif self.governor is not None:
            self.governor.confirm(admission)
        if not failed:
            await self.targets.remember(tool, args, result, where, caller.identity)
            probe = self.targets.password_probe(tool, args)
            if probe is not None:
                await self._probe_password(*probe)
            if terminal is not None:
                # The line being typed continues in the next call on this session.
                self._typed[terminal[0]] = replay(terminal[1], terminal[2], typed).pending
        if self.governor is not None:
            await self.governor.after(ToolCall(tool, args), not failed, result)
        self._outcome(ref, tool, "tool-error" if failed else "ok", started, None, caller, request_id)
        return result

    async def _probe_password(self, tool: str, args: dict[str, Any]) -> None:
        """Ask the upstream whether a connection bound as key-only holds a password after all."""
        try:
            result = await self.forward("tools/call", {"name": tool, "arguments": args})
        except UpstreamError as err:
            result = None
            log.warning("password probe %s failed (%s); the connection counts as holding a password", tool, err)
        found = self.targets.learn_password(tool, args, result)
        self._record(notice_event("password-probe", detail="holds a password" if found else "no password",
                                  tool=tool, **args))

    def _with_defaults(self, tool: str, params: dict[str, Any]) -> dict[str, Any]:
        """Inject the policy's default interval into a call that gives none."""
        rule = self.policy.tools.get(tool)
        prof = self.policy.profile.tools.get(tool)
        arguments = params.get("arguments")
        if rule is None or rule.interval is None or rule.interval.default is None or prof is None:
            return params
        if not isinstance(arguments, Mapping):
            return params
        for name in prof.args_of_kind("interval"):
            if arguments.get(name) is None:
                unit = 1000 if prof.arguments[name].unit == "s" else 1
                params["arguments"] = {**arguments, name: rule.interval.default // unit}
        return params

    async def _undo(self, admission: Admission) -> None:
        if self.governor is not None:
            await self.governor.undo(admission)

    async def reap_expired(self) -> int:
        """Stop the background tasks this gateway started whose time to live has passed."""
        if self.governor is None:
            return 0
        stopped = 0
        try:
            expired = await self.governor.expired()
        except SshwallError as err:
            log.warning("cannot read expired background tasks: %s", err)
            return 0
        stop_tool = self.governor.stop_tool()
        for task in expired:
            if stop_tool is None:
                break
            result: Any = None
            try:
                result = await self.forward("tools/call", {"name": stop_tool, "arguments": {"connectionId": task.connection_id}})
                detail = "stopped"
                if isinstance(result, Mapping) and result.get("isError"):
                    detail = "upstream refused the stop (task may already be gone)"
            except UpstreamError as err:
                detail = f"stop failed: {err} (sent again later)"
            await self.governor.after(ToolCall(stop_tool, {"connectionId": task.connection_id}), True, result,
                                      reached=result is not None)
            stopped += 1
            self._record(notice_event("ttl-stop", detail=detail, connection_id=task.connection_id,
                                      identity=task.identity, command=task.command, interval_ms=task.interval_ms))
        return stopped

    def visible_tools(self, tools: list[Any], identity: str | None = None) -> list[Any]:
        """The upstream's tool list minus what the policy hides (and, with ``hide_denied_tools``,
        the tools outside ``identity``'s grant)."""
        out = []
        grant = self.policy.grants.get(identity) if identity is not None else None
        for tool in tools:
            name = tool.get("name") if isinstance(tool, Mapping) else None
            rule = self.policy.tools.get(name) if isinstance(name, str) else None
            if rule is not None and rule.decision == "hide":
                continue
            hidden_by_default = rule is None and self.policy.default == Decision.DENY
            if self.policy.hide_denied_tools and (hidden_by_default or (rule is not None and rule.decision == "deny")):
                continue
            if self.policy.hide_denied_tools and grant is not None and grant.tools is not None and name not in grant.tools:
                continue
            out.append(tool)
        return out

    def notice(self, kind: str, detail: str) -> None:
        """Record something the gateway did on its own (``upstream-killed``, ``upstream-restart``)."""
        self._record(notice_event(kind, detail=detail))

    def _secrets(self, tool: str) -> set[str]:
        return secret_argument_names(self.policy.profile.tools.get(tool))

    def _record(self, event: Mapping[str, object]) -> int | None:
        """Append to the audit log; the record's seq, 0 without a log, None when writing failed."""
        if self.audit is None:
            return 0
        try:
            return int(self.audit.append(event).seq)
        except (SshwallError, OSError) as err:
            log.error("audit log write failed: %s", err)
            return None

    def _outcome(self, ref: int, tool: str, upstream: str, started: float, detail: str | None, caller: Caller, request_id: Any) -> None:
        if self.audit is None:
            return
        self._record(
            outcome_event(
                ref=ref,
                tool=tool,
                upstream=upstream,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                detail=detail,
                identity=caller.identity,
                request_id=request_id,
            )
        )
