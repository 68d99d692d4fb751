"""Identities must not cross: every id a call names belongs to the identity that opened it.

The target guard records, for each connection id, terminal session and tunnel a call opened,
the identity that opened it (``Bindings.own``). Here a call naming an id is checked against
that record: its owner may use it; any other identity is refused with a reason. An operator
identity (``grants: {NAME: {operator: true}}``) may list and stop what others opened, never run
anything on it. When several identities share the gateway (HTTP with more than one token),
tools that act on the whole upstream (``listConnections``, ``listTunnels``,
``stopAllBackgroundTasks``...: no id of their own) and ids no identity opened through this
gateway are for operators only. A stdio gateway has one identity, so nothing here can refuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sshwall.engine.grants import host_problem, is_operator
from sshwall.policy import Policy
from sshwall.proxy.bindings import IdKind
from sshwall.proxy.targetguard import TargetGuard

# What an operator may do on ids other identities opened: see them, and stop them.
OPERATOR_EFFECTS = frozenset({"list-connections", "stop-background", "stop-all-background", "disconnect", "close-tunnel"})
OPERATOR_HINT = "only an operator identity (grants: {NAME: {operator: true}}) may"


@dataclass(frozen=True)
class Refusal:
    """Why an identity may not make this call: the rule id and the reason."""

    rule: str
    reason: str


class IdentityGuard:
    """Checks each call's ids against the identity that opened them (see the module doc)."""

    def __init__(self, policy: Policy, targets: TargetGuard, shared: bool = False) -> None:
        self.policy = policy
        self.targets = targets
        # True when more than one identity can call this gateway (HTTP with several tokens).
        self.shared = shared

    def _ids(self, tool: str, args: Mapping[str, Any]) -> list[tuple[IdKind, str]]:
        plan = self.policy.plan.tool(tool)
        out: list[tuple[IdKind, str]] = []
        for kind in ("connection", "session", "tunnel"):
            names = plan.args(kind) if plan is not None else ()  # type: ignore[arg-type]
            for name in names:
                value = args.get(name)
                if value is not None:
                    out.append((kind, value if isinstance(value, str) else repr(value)))  # type: ignore[arg-type]
        return out

    def _owner(self, kind: IdKind, id_: str) -> str | None:
        bindings = self.targets.bindings
        owner = bindings.owner(kind, id_)
        if owner is None and kind != "connection":
            # A session or tunnel sshwall could not read the id of belongs to its connection's owner.
            binding = bindings.of_session(id_) if kind == "session" else bindings.of_tunnel(id_)
            owner = bindings.owner("connection", binding.connection_id) if binding else None
        return owner

    def check(self, tool: str, args: Mapping[str, Any], identity: str) -> Refusal | None:
        """None when ``identity`` may make this call as far as ids and grants go."""
        plan = self.policy.plan.tool(tool)
        effect = plan.effect if plan is not None else None
        operator = is_operator(self.policy, identity)
        if effect == "connect":
            return self._connect(tool, args, identity)
        ids = self._ids(tool, args)
        if not ids:
            if self.shared and not operator:
                return Refusal("identity.upstream-wide",
                               f"`{tool}` names no connection of its own, so it reads or acts on every identity's "
                               f"connections and tasks on the upstream; {OPERATOR_HINT} call it on a shared gateway")
            return None
        for kind, id_ in ids:
            owner = self._owner(kind, id_)
            what = f"{'terminal session' if kind == 'session' else kind} `{id_}`"
            if owner == identity or (owner is None and not self.shared):
                continue
            if operator and effect in OPERATOR_EFFECTS:
                continue
            if owner is None:
                return Refusal("identity.unowned", f"{what} was not opened through this gateway by any identity, "
                               f"so it belongs to none; {OPERATOR_HINT} list or stop it")
            extra = f"; {OPERATOR_HINT} list or stop it" if effect in OPERATOR_EFFECTS else ""
            return Refusal("identity.not-owner", f"{what} belongs to another identity, not to `{identity}`{extra}")
        binding = self._binding(ids[0])
        if binding is not None and not operator:
            problem = host_problem(self.policy, identity, binding.group)
            if problem is not None:
                return Refusal(f"grants.{identity}.hosts", problem)
        return None

    def _binding(self, first: tuple[IdKind, str]) -> Any:
        kind, id_ = first
        bindings = self.targets.bindings
        if kind == "connection":
            return bindings.of_connection(id_)
        return bindings.of_session(id_) if kind == "session" else bindings.of_tunnel(id_)

    def _connect(self, tool: str, args: Mapping[str, Any], identity: str) -> Refusal | None:
        """A connect whose id (the upstream derives it from user, host and port) another
        identity holds would get that identity's live connection back, password and all."""
        expected = self.targets.expected_id(tool, args)
        owner = self.targets.bindings.owner("connection", expected) if expected else None
        if owner is not None and owner != identity:
            return Refusal("identity.not-owner",
                           f"connection `{expected}` to this user, host and port belongs to another identity, and the "
                           "upstream would hand its live connection (and saved password) back; it is free again once "
                           "its owner deletes it (deleteConnection)")
        return None
