"""Targets in the gateway: which host a call touches, and whether ``connect`` may reach it.

``locate`` finds the binding of a call's connection (or terminal session, or tunnel) and the
host group's command set and limits that apply there; ``check_connect`` matches a connect's host,
port and user against the policy's host groups (resolving names) and checks the host key with
paramiko before the call is forwarded; ``remember`` reads the ids a successful call handed out
(``sshwall.proxy.replies``) and binds them, with what the connect's arguments say about the
connection (``sshwall.proxy.connects``: its target, its id, its password). With ``relearn_bindings`` on, connections the
upstream lists are bound too, through the same host rules, so a gateway restart does not strand
the upstream's saved connections.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sshwall.engine import Decision, Hit, Verdict
from sshwall.engine.grants import host_problem
from sshwall.engine.rewrites import ConnectionFacts, PasswordState
from sshwall.errors import TargetError
from sshwall.policy import Limit, Policy
from sshwall.profiles import ArgKind, ToolProfile
from sshwall.proxy.bindings import Binding, Bindings
from sshwall.proxy.connects import connect_target, expected_id, password_state, plan_arg, typed_problem
from sshwall.proxy.replies import ListedConnection, read_connections, read_ids, reply_text
from sshwall.proxy.workdirs import conventional_home, read_folder, reads_folder
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
    # Whether the call's connection may carry a password the upstream pastes into commands;
    # a connection sshwall never saw may (None: the call has no connection).
    facts: ConnectionFacts | None = None


class TargetGuard:
    """Host rules, host-key checks and connection bindings for one gateway."""

    def __init__(self, policy: Policy, resolve: Resolve = system_resolve, fetch_key: FetchKey | None = None,
                 key_timeout: float = 5.0) -> None:
        self.policy = policy
        self.bindings = Bindings()
        self._resolve = resolve
        fetch = fetch_key or (lambda host, port: _fetch_host_key(host, port, key_timeout))
        # The fingerprint each fetched address presented, and each checked target (an approval
        # is bound to it).
        self._seen_keys: dict[tuple[str, int], str] = {}
        self._target_keys: dict[tuple[str, int], str] = {}

        def fetch_and_note(host: str, port: int) -> HostKey:
            key = fetch(host, port)
            self._seen_keys[(host, port)] = key.fingerprint
            return key

        self._fetch = fetch_and_note
        self._tofu = tofu_store(policy)
        self._groups: dict[tuple[str, int, str], str | None] = {}
        # Key-only connects waiting for their password probe: connection id -> the state the
        # probe's "no password" answer grants. Until it answers the binding says "unknown", so a
        # concurrent call on the same id is never decided as passwordless.
        self._probing: dict[str, PasswordState] = {}

    def with_policy(self, policy: Policy) -> TargetGuard:
        """This guard under another policy (a reload, ``sshwall.proxy.generation``): the same
        bindings, fetched keys and probes in progress (shared, not copied); the TOFU store is
        the new policy's."""
        view = copy.copy(self)
        view.policy = policy
        view._tofu = tofu_store(policy)
        return view

    def _arg(self, tool: str, kind: ArgKind) -> str | None:
        return plan_arg(self.policy, tool, kind)

    def _effect(self, tool: str) -> str | None:
        plan = self.policy.plan.tool(tool)
        return plan.effect if plan is not None else None

    def locate(self, tool: str, args: Mapping[str, Any]) -> Location:
        """The binding behind the call's connection or session id.

        Without host rules an unknown id is no problem (nothing depends on its host).
        """
        conn_arg, sess_arg, tun_arg = self._arg(tool, "connection"), self._arg(tool, "session"), self._arg(tool, "tunnel")
        if conn_arg and args.get(conn_arg) is not None:
            binding = self.bindings.of_connection(args[conn_arg])
            what = f"connection `{args[conn_arg]}`"
        elif sess_arg and args.get(sess_arg) is not None:
            binding = self.bindings.of_session(args[sess_arg])
            what = f"terminal session `{args[sess_arg]}`"
        elif tun_arg and args.get(tun_arg) is not None:
            binding = self.bindings.of_tunnel(args[tun_arg])
            what = f"tunnel `{args[tun_arg]}`"
        else:
            return Location()
        if binding is None:
            unknown = ConnectionFacts("unknown")
            # getConnection is how a restarted gateway re-learns an id, when the policy says so.
            relearning = self.policy.relearn_bindings and self._effect(tool) == "list-connections"
            if not self.policy.hosts or relearning:
                return Location(facts=unknown)
            return Location(problem=f"{what} was not opened through sshwall, so its host is unknown",
                            rule="hosts.unknown-connection", facts=unknown)
        group = self.policy.hosts.get(binding.group) if binding.group else None
        refused = binding.refused
        if refused is None and binding.group and group is None:  # bound under other host rules
            refused = f"host group {binding.group} is not in the policy in force"
        if refused is not None:
            return Location(problem=f"{what} was opened under host rules since reloaded, which refuse it: {refused}",
                            rule="hosts.reloaded", facts=binding.facts)
        return Location(binding, group.commands if group else None, group.limits if group else (), facts=binding.facts)

    @property
    def resolve(self) -> Resolve:
        """How this guard resolves host names (``system_resolve`` unless injected)."""
        return self._resolve

    async def check_connect(self, tool: str, args: Mapping[str, Any], verdict: Verdict, identity: str | None = None) -> Verdict:
        """For a connect: host, user and port rules (and ``identity``'s grant), then the host
        key. Never loosens."""
        import asyncio  # here: the pure path (``locate``, what ``sshwall check`` runs) needs no event loop

        if self._effect(tool) != "connect" or (not self.policy.hosts and self.policy.host_key_check != "always"):
            return verdict
        target = connect_target(self.policy, tool, args)
        if target is None:
            return verdict.with_deny("hosts", "connect without a host and a user name")
        try:
            match = await asyncio.to_thread(match_target, self.policy, target, self._resolve)
        except TargetError as err:
            return verdict.with_deny("hosts", str(err))
        if match.problem is not None:
            return verdict.with_deny("hosts", match.problem)
        granted = host_problem(self.policy, identity, match.group) if identity is not None else None
        if granted is not None:
            return verdict.with_deny(f"grants.{identity}.hosts", granted)
        self._groups[(target.host, target.port, target.user)] = match.group
        problem = await asyncio.to_thread(
            host_key_problem, self.policy, match, target, fetch=self._fetch, tofu=self._tofu
        )
        rule = f"hosts.{match.group}.host_key" if match.group else "hosts.host_key"
        if problem:
            return verdict.with_deny(rule, problem)
        address = match.addresses[0] if match.addresses else target.host
        seen = self._seen_keys.get((address, target.port))
        if seen is not None:
            self._target_keys[(target.host, target.port)] = seen
        group = self.policy.hosts.get(match.group) if match.group else None
        if group is not None and group.decision == "prompt":
            return Verdict.of([*verdict.hits, prompt_hit(match.group or "", group.reason)])
        return verdict

    def host_key_seen(self, host: str, port: int) -> str | None:
        """The ``SHA256:`` fingerprint target ``host:port`` presented when sshwall last checked
        its key before a connect, None when it never fetched one (no pins to check)."""
        return self._target_keys.get((host, port))

    def expected_id(self, tool: str, args: Mapping[str, Any]) -> str | None:
        """The connection id a connect with these arguments gets from the upstream."""
        return expected_id(self.policy, tool, args)

    async def remember(self, tool: str, args: Mapping[str, Any], result: Any, where: Location,
                       identity: str | None = None) -> None:
        """After a successful call: bind what it opened (owned by ``identity``), forget what it
        deleted.

        Never raises: a reply that cannot be read is logged and leaves its id unbound.
        """
        try:
            await self._remember(tool, args, result, identity)
        except Exception as err:  # noqa: BLE001 - a reply must never crash the gateway
            log.warning("could not read the reply of %s (%s: %s); nothing was bound", tool, type(err).__name__, err)

    async def _remember(self, tool: str, args: Mapping[str, Any], result: Any, identity: str | None = None) -> None:
        plan = self.policy.plan.tool(tool)
        prof = plan.profile if plan is not None else None
        if plan is None or prof is None:
            return
        effect = plan.effect
        conn_arg = self._arg(tool, "connection")
        conn = args.get(conn_arg) if conn_arg else None
        if effect == "connect":
            expected = self.expected_id(tool, args)
            if identity is not None and expected is not None and self.bindings.owner("connection", expected) is None:
                # Owned even when the reply cannot be read: the upstream derived this id. The
                # first owner keeps it (two identities racing to one target: the later one is refused on it).
                self.bindings.own("connection", expected, identity)
            self._bind_connect(tool, args, result)
        elif effect == "delete-connection":
            self.bindings.delete(conn)
        elif effect in ("open-terminal", "open-tunnel") and isinstance(conn, str):
            kind = "session" if effect == "open-terminal" else "tunnel"
            found = read_ids(prof, kind, result)
            if len(found) != 1:
                log.warning("%s succeeded but its %s id could not be read (%d candidates); calls on it will be denied under host rules",
                            tool, kind, len(found))
                return
            (self.bindings.bind_session if kind == "session" else self.bindings.bind_tunnel)(found[0], conn)
            if identity is not None:
                self.bindings.own(kind, found[0], identity)  # type: ignore[arg-type]
        elif effect == "close-tunnel":
            tun_arg = self._arg(tool, "tunnel")
            self.bindings.drop_tunnel(args.get(tun_arg) if tun_arg else None)
        elif effect == "list-connections" and self.policy.relearn_bindings:
            for listed in read_connections(prof, self.policy.profile.connection_ids, result):
                if self.bindings.of_connection(listed.connection_id) is None:
                    await self._relearn(listed)
        if reads_folder(prof):
            self._learn_folder(prof, self.expected_id(tool, args) if effect == "connect" else conn, result)

    def _learn_folder(self, prof: ToolProfile, conn: Any, result: Any) -> None:
        """Remember the folder (and home) a reply states for a bound connection; a reply that
        does not state it clearly makes it unknown again."""
        binding = self.bindings.of_connection(conn)
        if binding is None:
            return
        folder = read_folder(prof, binding.connection_id, result)
        self.bindings.set_folder(binding.connection_id, folder, conventional_home(folder, binding.user))

    def _bind_connect(self, tool: str, args: Mapping[str, Any], result: Any) -> None:
        """Bind the id the connect reply names, if it is the one the upstream derives."""
        prof = self.policy.profile.tools[tool]
        target = connect_target(self.policy, tool, args)
        expected = self.expected_id(tool, args)
        listed = {c.connection_id for c in read_connections(prof, self.policy.profile.connection_ids, result)}
        if target is None or expected is None or expected not in listed:
            log.warning("connect succeeded but its reply names no id matching %s (forged or unknown format); "
                        "calls on it will be denied under host rules", expected)
            return
        group = self._groups.pop((target.host, target.port, target.user), None)
        old = self.bindings.of_connection(expected)
        password, saved = password_state(self.policy, prof, args, old)
        typed = typed_problem(self.policy, prof, args, old, group)
        if password in ("none", "maybe-saved") and self.policy.plan.password_probe is not None:
            self._probing[expected] = password
            password = "unknown"
        else:
            self._probing.pop(expected, None)
        self.bindings.bind(Binding(expected, target.host, target.port, target.user, group, password, saved, typed))

    def password_probe(self, tool: str, args: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """After a connect bound as key-only: the call that shows whether it still has a password.

        Mcp Ssh hands back a live connection to the same target as is, password included, so a
        key-only connect does not prove there is none: its ``getConnection`` reply does (for the
        password the connection holds; one saved but not loaded stays outside sshwall's view).
        """
        if self._effect(tool) != "connect":
            return None
        expected = self.expected_id(tool, args)
        binding = self.bindings.of_connection(expected) if expected else None
        if binding is None or binding.connection_id not in self._probing:
            return None
        probe = self.policy.plan.password_probe  # (tool, its connection argument), if any
        return (probe[0], {probe[1]: binding.connection_id}) if probe is not None else None

    def learn_password(self, tool: str, args: Mapping[str, Any], result: Any) -> bool:
        """Read a probe's reply; True when the connection (maybe) holds a password."""
        plan = self.policy.plan.tool(tool)
        prof = plan.profile if plan is not None else None
        conn = plan.value("connection", args) if plan is not None else None
        if prof is None or not isinstance(conn, str):
            return False
        text = reply_text(result)
        found = text is None or any(re.search(f.pattern, text) for f in prof.replies if f.binds == "password")
        granted = self._probing.pop(conn, None)
        if found:
            # Unreadable counts as a password: fail closed.
            self.bindings.password_unknown(conn)
        elif granted is not None:
            self.bindings.set_password(conn, granted)
        return found

    async def _relearn(self, listed: ListedConnection) -> None:
        """Bind a connection the upstream lists, if the host rules allow its target."""
        import asyncio

        target = Target(listed.host.strip().lower(), listed.port, listed.user)
        group: str | None = None
        if self.policy.hosts:
            try:
                match = await asyncio.to_thread(match_target, self.policy, target, self._resolve)
            except TargetError as err:
                log.warning("not re-learning %s: %s", listed.connection_id, err)
                return
            if match.problem is not None:
                log.warning("not re-learning %s: %s", listed.connection_id, match.problem)
                return
            problem = await asyncio.to_thread(host_key_problem, self.policy, match, target, fetch=self._fetch, tofu=self._tofu)
            if problem:
                log.warning("not re-learning %s: %s", listed.connection_id, problem)
                return
            group = match.group
        # A listed connection may hold a saved password sshwall never saw.
        self.bindings.bind(Binding(listed.connection_id, target.host, target.port, target.user, group, "unknown", True))
        log.info("re-learned connection %s (%s@%s:%s, group %s)", listed.connection_id, target.user, target.host, target.port, group)


def prompt_hit(group: str, reason: str | None) -> Hit:
    """The hit of a host group whose calls need approval (``decision: prompt``)."""
    return Hit(f"hosts.{group}.prompt", Decision.PROMPT, reason or f"calls on host group {group} need approval")


def _fetch_host_key(host: str, port: int, timeout: float) -> HostKey:
    from sshwall.targets import fetch_host_key  # paramiko loads only when a key is checked

    return fetch_host_key(host, port, timeout)  # type: ignore[no-any-return]

