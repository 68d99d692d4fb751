"""What an approval is about, worked out from the call: the key it is bound to, the target,
the request as stored, and the question shown (``sshwall.proxy.approvals`` asks it)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sshwall.audit import redact, secret_argument_names
from sshwall.engine import Decision
from sshwall.limits.approvals import ApprovalRequest
from sshwall.policy import Policy
from sshwall.proxy.connects import connect_target
from sshwall.proxy.stages.context import Call
from sshwall.proxy.targetguard import TargetGuard

APPROVE_FIELD = "approve"
"""The one field of the form the client's user fills in: true approves."""

SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        APPROVE_FIELD: {"type": "boolean", "title": "Approve this exact call?", "default": False},
    },
    "required": [APPROVE_FIELD],
}

def approval_key(identity: str, tool: str, arguments: Any, host: str | None, user: str | None, port: int | None,
                 host_key: str | None, revision: str) -> str:
    """The key an approval is bound to: ``sha256:`` over the canonical JSON of every part."""
    canonical = json.dumps(
        {"identity": identity, "tool": tool, "arguments": arguments, "host": host, "user": user, "port": port,
         "host_key": host_key, "revision": revision},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=repr,
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def gateway_id() -> str:
    """This gateway process: ``host:pid`` (a request names the gateway whose call waits on it)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Target:
    """Where the call runs, as far as the approval is concerned."""

    host: str | None = None
    user: str | None = None
    port: int | None = None
    host_key: str | None = None


def call_target(call: Call, policy: Policy, targets: TargetGuard) -> Target:
    """Where ``call`` runs: its binding, or the target a connect names; with the host key sshwall saw."""
    binding = call.where.binding
    if binding is not None:
        return Target(binding.host, binding.user, binding.port, targets.host_key_seen(binding.host, binding.port))
    plan = call.plan
    if plan is not None and plan.effect == "connect":
        target = connect_target(policy, call.tool, call.args)
        if target is not None:
            return Target(target.host, target.user, target.port, targets.host_key_seen(target.host, target.port))
    return Target()


def new_request(call: Call, key: str, where: Target, policy: Policy, gateway: str, now: float) -> ApprovalRequest:
    """The request for approval of ``call`` (its arguments redacted for the approver to read)."""
    rule = policy.approval
    plan = call.plan
    shown = redact(call.arguments, secret_argument_names(plan.profile if plan is not None else None))
    command_arg = plan.first("command") if plan is not None else None
    command = shown.get(command_arg) if command_arg else None
    prompts = [h for h in call.verdict.hits if h.decision == Decision.PROMPT]
    return ApprovalRequest(
        id=secrets.token_hex(5), key=key, identity=call.caller.identity, tool=call.tool, arguments=shown,
        revision=policy.revision, created=now, expires=now + rule.timeout,
        host=where.host, user=where.user, port=where.port, host_key=where.host_key,
        command=command if isinstance(command, str) else None, programs=programs(call),
        reasons=tuple(dict.fromkeys(h.reason for h in prompts)), rules=tuple(dict.fromkeys(h.rule for h in prompts)),
        approvers=rule.approvers, reuse_s=rule.reuse, gateway=gateway,
    )


def question_text(request: ApprovalRequest, reuse_s: float = 0.0) -> str:
    """The question the client's user (or the approver) reads."""
    lines = [f"sshwall: {request.identity} asks to run {request.tool}"
             + (f" on {request.user}@{request.host}" + (f":{request.port}" if request.port not in (None, 22) else "")
                if request.host else "")]
    if request.command:
        lines.append(f"command: {request.command}")
    if request.programs:
        lines.append("programs: " + ", ".join(request.programs))
    lines.append("needs approval because: " + "; ".join(request.reasons or ("the policy says so",)))
    if request.host_key:
        lines.append(f"host key: {request.host_key}")
    lines.append(f"approval {request.id}, valid until {time.strftime('%H:%M:%SZ', time.gmtime(request.expires))};"
                 " a yes is for this exact call only" + (f", reusable for {reuse_s:g} s" if reuse_s else ""))
    return "\n".join(lines)


def alive(pid: str) -> bool:
    """Whether process ``pid`` of this machine runs (a malformed pid counts as running)."""
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def programs(call: Call) -> tuple[str, ...]:
    """The programs (and subcommands) the analysis found, from the command set's hits."""
    commands = call.where.command_set or (call.plan.rule.commands if call.plan is not None and call.plan.rule else None)
    if not commands:
        return ()
    prefix = commands + "."
    found = [h.rule[len(prefix):].replace(".", " ") for h in call.verdict.hits if h.rule.startswith(prefix)]
    return tuple(dict.fromkeys(found))


__all__ = ["APPROVE_FIELD", "SCHEMA", "Target", "alive", "approval_key", "call_target", "gateway_id", "new_request",
           "programs", "question_text"]
