"""The firewall between a client and an upstream: decide, audit, then forward or refuse.

Transport-free: the frontends (the stdio relay, the SDK frontend for HTTP and the 2026-07-28
era) hand it decoded ``tools/call`` params and get the result dict to send back. The path of a
call is a list of single-concern stages (``sshwall.proxy.stages``); this class builds them
once per policy (a generation, ``sshwall.proxy.generation``, swapped whole by ``reload``) and
answers what the frontends ask besides (the tool list, notices, expired tasks).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sshwall.engine import Decision, ToolCall, Verdict
from sshwall.engine.rewrites import ConnectionFacts
from sshwall.engine.workdir import Workdir
from sshwall.errors import SshwallError, UpstreamError
from sshwall.policy import Policy
from sshwall.proxy.caller import Caller
from sshwall.proxy.generation import Generation
from sshwall.proxy.identityguard import IdentityGuard
from sshwall.proxy.stages import Call, Pipeline, PureStages, decide
from sshwall.proxy.stages.forward import Send, denial_text
from sshwall.proxy.targetguard import TargetGuard

if TYPE_CHECKING:  # loaded with the first stateful call (``preview`` needs none of them)
    from sshwall.audit import AuditLog
    from sshwall.limits.approvals import ApprovalStore
    from sshwall.proxy.approvals import ApprovalGuard
    from sshwall.proxy.limitguard import LimitGuard
    from sshwall.proxy.stages.audit import Recorder
    from sshwall.proxy.stages.observe import Observer

log = logging.getLogger("sshwall.firewall")

__all__ = ["Caller", "Firewall", "Send", "denial_text"]


class Firewall:
    """Decides each tool call under a policy, writes the audit record, forwards allowed calls."""

    def __init__(
        self,
        policy: Policy,
        forward: Send,
        audit: AuditLog | None = None,
        limits: LimitGuard | None = None,
        targets: TargetGuard | None = None,
        upstream_home: str | None = None,
        approvals: ApprovalStore | None = None,
        state_url: str = "memory://",
        mode: str = "enforce",
    ) -> None:
        # ``shadow``: every call decided and audited, denied ones forwarded too (docs/shadow-replay.md).
        self.mode = _checked_mode(mode, policy)
        # Where approval requests wait (``sshwall.proxy.approvals``); None: in this process only.
        self.approvals = approvals
        self.state_url = state_url
        # The upstream process's home folder (its default local paths lie there), if known.
        self.upstream_home = upstream_home
        self.forward = forward
        self.audit = audit
        # Where the stage ``observe`` counts and traces calls (docs/metrics.md); set before the first call.
        self.observer: Observer | None = None
        # The policy in force and what is built from it (``sshwall.proxy.generation``), swapped
        # whole by ``reload``. Its pure stages now (``preview`` runs them); the others, and the
        # audit, limit guard and rate-cap modules they import, with the first call that needs
        # them: ``sshwall check`` never loads those. Whose ids are whose (docs/identities.md):
        # ``identities.shared`` is set by a frontend that serves several identities.
        targets = targets or TargetGuard(policy)
        self.current = Generation(policy, targets, IdentityGuard(policy, targets), limits, audit,
                                  self._approvals_for, self._pipeline_for, upstream_home,
                                  mode="shadow" if self.mode == "shadow" else None)

    @property
    def policy(self) -> Policy:
        """The policy in force (the current generation's)."""
        return self.current.policy

    @property
    def targets(self) -> TargetGuard:
        """Host rules and bindings under the policy in force (the bindings are every generation's)."""
        return self.current.targets

    @property
    def identities(self) -> IdentityGuard:
        """Whose ids are whose, under the policy in force."""
        return self.current.identities

    @property
    def limits(self) -> LimitGuard | None:
        """The limit guard under the policy in force (its state is every generation's)."""
        return self.current.limits

    @property
    def pure(self) -> PureStages:
        """The current generation's pure stages (what ``preview`` runs)."""
        return self.current.pure

    @property
    def recorder(self) -> Recorder:
        """The firewall's way into its audit log (records name the policy in force)."""
        return self.current.recorder

    @property
    def approval_guard(self) -> ApprovalGuard:
        """Who is asked about ``prompt`` verdicts, and how (``sshwall.proxy.approvals``)."""
        return self.current.approvals

    @property
    def pipeline(self) -> Pipeline:
        """Every stage of a call under the policy in force, in order (``sshwall.proxy.stages``)."""
        return self.current.pipeline

    def reload(self, policy: Policy) -> Generation:
        """Put ``policy`` in force (one assignment); returns the generation it replaced. Calls
        already running finish under theirs; the state carries over (``sshwall.proxy.generation``)."""
        old = self.current
        if self.mode == "shadow" and policy.shadow == "never":
            from sshwall.errors import PolicyError

            raise PolicyError("the policy says `shadow: never`, and this gateway runs in shadow mode: not reloaded")
        self.current = old.successor(policy)
        return old

    def _approvals_for(self, gen: Generation) -> ApprovalGuard:
        from sshwall.limits.approvals import MemoryApprovals
        from sshwall.proxy.approvals import ApprovalGuard
        from sshwall.proxy.webhook import announce

        store = self.approvals if self.approvals is not None else MemoryApprovals()
        hint = "" if self.state_url == "memory://" else _public_url(self.state_url)
        return ApprovalGuard(gen.policy, store, gen.targets, gen.recorder.record, announce, state_hint=hint)

    def _pipeline_for(self, gen: Generation) -> Pipeline:
        from sshwall.proxy.stages.build import build_stages

        return Pipeline(build_stages(gen.policy, self._send, gen.recorder, gen.targets, gen.identities,
                                     gen.limits, self.upstream_home, pure=gen.pure, approvals=gen.approvals,
                                     shadow=self.mode == "shadow", observer=self.observer))

    def _send(self, method: str, params: Any, *, client_id: Any = None) -> Any:
        return self.forward(method, params, client_id=client_id)

    def decide(self, name: Any, arguments: Any, command_set: str | None = None, typed: str = "",
               connection: ConnectionFacts | None = None, workdir: Workdir | None = None,
               identity: str | None = None) -> Verdict:
        """The policy's verdict on one call (pure); ``workdir``: the connection's folder and home;
        ``identity``: whose grant narrows it (``sshwall.engine.grants``)."""
        return decide(self.policy, name, arguments, command_set, typed, connection, workdir, identity,
                      self.upstream_home)

    def preview(self, params: Mapping[str, Any], caller: Caller) -> Verdict:
        """The verdict ``call_tool`` would reach on ``params`` before its stateful checks: the
        policy (under the host group's command set and ``caller``'s grant), where the call lands
        (bindings), whose ids it names, the run-time bound of scheduled work. Side-effect free:
        no audit, no forward, no rate counters or task caps, no host-key checks, no state
        changes (what ``sshwall check`` decides by)."""
        gen = self.current
        return gen.preview.preview(Call.start(gen.policy, params, caller)).verdict

    async def call_tool(self, params: Mapping[str, Any], caller: Caller, request_id: Any = None) -> Any:
        """Decide, audit, and forward one ``tools/call``; returns the result to send back. The
        call takes the generation in force once, here, and keeps it to the end."""
        gen = self.current
        return await gen.pipeline.run(Call.start(gen.policy, params, caller, request_id))

    async def reap_expired(self) -> int:
        """Stop the background tasks this gateway started whose time to live has passed."""
        if self.limits is None:
            return 0
        from sshwall.audit import notice_event

        stopped = 0
        try:
            expired = await self.limits.expired()
        except SshwallError as err:
            log.warning("cannot read expired background tasks: %s", err)
            return 0
        stop_tool = self.limits.stop_tool()
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
            await self.limits.after(ToolCall(stop_tool, {"connectionId": task.connection_id}), True, result,
                                      reached=result is not None)
            stopped += 1
            await self.recorder.record(notice_event("ttl-stop", detail=detail, connection_id=task.connection_id,
                                                    identity=task.identity, command=task.command,
                                                    interval_ms=task.interval_ms))
        return stopped

    async def void_pending(self) -> int:
        """The gateway stops: the approval requests its calls wait on become void (those calls
        are denied)."""
        if not self.current.built("approvals"):
            return 0
        return await self.approval_guard.void_pending()

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
        """Record something the gateway did on its own (``upstream-killed``, ``upstream-restart``);
        written on the audit writer thread, in order with the other records, without waiting."""
        from sshwall.audit import notice_event

        self.recorder.notice(notice_event(kind, detail=detail))


def _checked_mode(mode: str, policy: Policy) -> str:
    """``mode`` if the firewall may run ``policy`` in it (``UsageError`` otherwise)."""
    from sshwall.errors import UsageError

    if mode not in ("enforce", "shadow"):
        raise UsageError(f"mode {mode!r}: one of enforce, shadow")
    if mode == "shadow" and policy.shadow == "never":
        raise UsageError("--mode shadow: the policy says `shadow: never` (it may only be enforced)")
    return mode


def _public_url(url: str) -> str:
    """A state URL as the approve command shows it: without a password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = (f"{parts.username}:***@" if parts.username else ":***@") + (parts.hostname or "")
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=netloc))
