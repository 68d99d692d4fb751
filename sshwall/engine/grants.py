"""Per-identity grants in the decision: what one identity may do beyond the policy for everyone.

Pure like the rest of the engine: the caller's identity comes in as a value. A grant only
narrows the policy's verdict (strictest wins): a tool outside the grant's ``tools`` is denied,
and a command must pass the grant's ``commands`` set as well as the set the policy (or the host
group) applies. Host groups (``hosts``) are checked where hosts are known, in the gateway's
target guard (``sshwall.proxy.targetguard``), through ``host_problem`` below.
"""

from __future__ import annotations

from collections.abc import Callable

from sshwall.engine.verdict import Hit, ToolCall, Verdict
from sshwall.policy.base import Decision
from sshwall.policy.hosts import Grant
from sshwall.policy.model import Policy

Decide = Callable[[str | None], Verdict]
"""Evaluates the call with a command set replacing the policy's (None: the policy's own)."""


def grant_of(policy: Policy, identity: str) -> Grant | None:
    """The identity's grant, or None: the policy for everyone applies unchanged."""
    return policy.grants.get(identity)


def is_operator(policy: Policy, identity: str) -> bool:
    """Whether the identity may list and stop what other identities opened."""
    grant = grant_of(policy, identity)
    return grant is not None and grant.operator


def narrow(policy: Policy, identity: str, call: ToolCall, base: Verdict, decide: Decide) -> Verdict:
    """``base`` narrowed by the identity's grant; ``decide`` re-evaluates under another set."""
    grant = grant_of(policy, identity)
    if grant is None:
        return base
    rid = f"grants.{identity}"
    hits = list(base.hits)
    if grant.tools is not None and call.name not in grant.tools:
        hits.append(Hit(f"{rid}.tools", Decision.DENY,
                        f"identity `{identity}` may not call `{call.name}` (its grant lists {', '.join(grant.tools) or 'no tools'})"))
    if grant.commands is not None:
        seen = {(h.rule, h.reason) for h in hits}
        for hit in decide(grant.commands).hits:
            if hit.decision != Decision.ALLOW and (hit.rule, hit.reason) not in seen:
                hits.append(Hit(f"{rid}.commands:{hit.rule}", hit.decision,
                                f"under identity `{identity}`'s command set {grant.commands}: {hit.reason}"))
    return Verdict.of(hits)


def host_problem(policy: Policy, identity: str, group: str | None) -> str | None:
    """Why the identity may not reach a host of ``group`` (None: it may)."""
    grant = grant_of(policy, identity)
    if grant is None or not grant.hosts:
        return None
    if group is None or group not in grant.hosts:
        where = f"host group {group}" if group else "a host outside every host group"
        return f"identity `{identity}` may reach only host groups {', '.join(grant.hosts)}, not {where}"
    return None
