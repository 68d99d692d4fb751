"""Targets in the gateway: which host a call touches, and whether ``connect`` may reach it.

``locate`` finds the binding of a call's connection (or terminal session) and the host group's
command set and limits that apply there; ``check_connect`` matches a connect's host, port and
user against the policy's host groups (resolving names) and checks the host key with paramiko
before the call is forwarded; ``remember`` binds the id a successful connect returned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sshwall.engine import Decision, Hit, Verdict
from sshwall.errors import TargetError
from sshwall.policy import Limit, Policy
from sshwall.proxy.bindings import Binding, Bindings, id_from_result
from sshwall.targets import HostKey, Target, host_key_problem, match_target, system_resolve, tofu_store

log = logging.getLogger("sshwall.targets")

Resolve = Callable[[str], tuple[str, ...]]
FetchKey = Callable[[str, int], HostKey]


@dataclass(frozen=True)
class Location:
    """Where a call lands: its binding, the group's command set and limits, or why not."""

    binding: Binding | None = None
    command_set: str | None = None
    limits: tuple[Limit, ...] = ()
    problem: str | None = None
    rule: str = "hosts"


class TargetGuard:
    """Host rules, host-key checks and connection bindings for one gateway."""

    def __init__(self, policy: Policy, resolve: Resolve = system_resolve, fetch_key: FetchKey | None = None,
                 key_timeout: float = 5.0) -> None:
        self.policy = policy
        self.bindings = Bindings()
        self._resolve = resolve
        self._fetch = fetch_key or (lambda host, port: _fetch_host_key(host, port, key_timeout))
        self._tofu = tofu_store(policy)
        self._groups: dict[tuple[str, int, str], str | None] = {}

    def _arg(self, tool: str, kind: str) -> str | None:
        prof = self.policy.profile.tools.get(tool)
        names = prof.args_of_kind(kind) if prof is not None else ()  # type: ignore[arg-type]
        return names[0] if names else None

    def _effect(self, tool: str) -> str | None:
        prof = self.policy.profile.tools.get(tool)
        return prof.effect if prof is not None else None

    def locate(self, tool: str, args: Mapping[str, Any]) -> Location:
        """The binding behind the call's connection or session id.

        Without host rules an unknown id is no problem (nothing depends on its host).
        """
        conn_arg, sess_arg = self._arg(tool, "connection"), self._arg(tool, "session")
        if conn_arg and args.get(conn_arg) is not None:
            binding = self.bindings.of_connection(args[conn_arg])
            what = f"connection `{args[conn_arg]}`"
        elif sess_arg and args.get(sess_arg) is not None:
            binding = self.bindings.of_session(args[sess_arg])
            what = f"terminal session `{args[sess_arg]}`"
        else:
            return Location()
        if binding is None:
            if not self.policy.hosts:
                return Location()
            return Location(problem=f"{what} was not opened through sshwall, so its host is unknown", rule="hosts.unknown-connection")
        group = self.policy.hosts.get(binding.group) if binding.group else None
        return Location(binding, group.commands if group else None, group.limits if group else ())

    async def check_connect(self, tool: str, args: Mapping[str, Any], verdict: Verdict) -> Verdict:
        """For a connect: host, user and port rules, then the host key. Never loosens."""
        if self._effect(tool) != "connect" or (not self.policy.hosts and self.policy.host_key_check != "always"):
            return verdict
        target = self._target(tool, args)
        if target is None:
            return _deny(verdict, "hosts", "connect without a host and a user name")
        try:
            match = await asyncio.to_thread(match_target, self.policy, target, self._resolve)
        except TargetError as err:
            return _deny(verdict, "hosts", str(err))
        if match.problem is not None:
            return _deny(verdict, "hosts", match.problem)
        self._groups[(target.host, target.port, target.user)] = match.group
        problem = await asyncio.to_thread(
            host_key_problem, self.policy, match, target, fetch=self._fetch, tofu=self._tofu
        )
        rule = f"hosts.{match.group}.host_key" if match.group else "hosts.host_key"
        return _deny(verdict, rule, problem) if problem else verdict

    def _target(self, tool: str, args: Mapping[str, Any]) -> Target | None:
        host_arg, user_arg, port_arg = self._arg(tool, "host"), self._arg(tool, "user"), self._arg(tool, "port")
        host = args.get(host_arg) if host_arg else None
        user = args.get(user_arg) if user_arg else None
        port: Any = args.get(port_arg) if port_arg else None
        if port is None and port_arg:
            default = self.policy.profile.tools[tool].arguments[port_arg].default
            port = default if isinstance(default, int) else 22
        if not isinstance(host, str) or not isinstance(user, str) or not isinstance(port, int):
            return None
        return Target(host.strip().lower(), port, user)

    def remember(self, tool: str, args: Mapping[str, Any], result: Any, where: Location) -> None:
        """After a successful call: bind a new connection or session, forget a closed one."""
        effect = self._effect(tool)
        if effect == "connect":
            target = self._target(tool, args)
            conn = id_from_result(result, "connectionId")
            if target is None or conn is None:
                if self.policy.hosts:
                    log.warning("connect succeeded but its connection id could not be read; calls on it will be denied")
                return
            group = self._groups.pop((target.host, target.port, target.user), None)
            self.bindings.bind(Binding(conn, target.host, target.port, target.user, group))
        elif effect == "disconnect":
            conn_arg = self._arg(tool, "connection")
            if conn_arg:
                self.bindings.drop(args.get(conn_arg))
        elif effect == "open-terminal":
            conn_arg = self._arg(tool, "connection")
            session = id_from_result(result, "sessionId")
            if conn_arg and session and isinstance(args.get(conn_arg), str):
                self.bindings.bind_session(session, args[conn_arg])


def _fetch_host_key(host: str, port: int, timeout: float) -> HostKey:
    from sshwall.targets import fetch_host_key  # paramiko loads only when a key is checked

    return fetch_host_key(host, port, timeout)  # type: ignore[no-any-return]


def _deny(verdict: Verdict, rule: str, reason: str) -> Verdict:
    return Verdict.of([*verdict.hits, Hit(rule, Decision.DENY, reason)])
