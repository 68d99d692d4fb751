"""What a connect call says about the connection it opens, read from its arguments.

The target it reaches (host, port, user), the id the upstream derives for it, and what the
upstream will hold as its password afterwards: the facts ``TargetGuard`` binds to the id once
the connect succeeds. Pure functions of the policy, the call and the id's earlier binding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sshwall.engine.autopassword import typed_password_problem
from sshwall.engine.rewrites import PasswordState
from sshwall.policy import Policy
from sshwall.profiles import ArgKind, ToolProfile
from sshwall.proxy.bindings import Binding
from sshwall.proxy.replies import derive_connection_id, js_number
from sshwall.targets import Target

__all__ = ["connect_target", "expected_id", "password_state", "plan_arg", "saved_possible", "typed_problem"]


def plan_arg(policy: Policy, tool: str, kind: ArgKind) -> str | None:
    """The name of ``tool``'s first argument of ``kind`` (None: the tool has none, or is unknown)."""
    plan = policy.plan.tool(tool)
    return plan.first(kind) if plan is not None else None


def _connect_args(policy: Policy, tool: str) -> tuple[str | None, str | None, str | None]:
    return plan_arg(policy, tool, "host"), plan_arg(policy, tool, "user"), plan_arg(policy, tool, "port")


def connect_target(policy: Policy, tool: str, args: Mapping[str, Any]) -> Target | None:
    """The host (lower case), port and user a connect reaches; None when one is missing or odd."""
    host_arg, user_arg, port_arg = _connect_args(policy, tool)
    host = args.get(host_arg) if host_arg else None
    user = args.get(user_arg) if user_arg else None
    port: Any = args.get(port_arg) if port_arg else None
    if port is None and port_arg:
        default = policy.plan.tools[tool].default(port_arg)
        port = default if isinstance(default, int) else 22
    if isinstance(port, float) and port.is_integer():
        port = int(port)
    if not isinstance(host, str) or not isinstance(user, str) or not isinstance(port, int) or isinstance(port, bool):
        return None
    return Target(host.strip().lower(), port, user)


def expected_id(policy: Policy, tool: str, args: Mapping[str, Any]) -> str | None:
    """The id the upstream derives from this connect's own arguments, as it writes them."""
    ids = policy.profile.connection_ids
    host_arg, user_arg, port_arg = _connect_args(policy, tool)
    host = args.get(host_arg) if host_arg else None
    user = args.get(user_arg) if user_arg else None
    port = args.get(port_arg) if port_arg else None
    # JavaScript's `port || default`: a missing or zero port is the default one.
    shown = js_number(port) if port else str(ids.default_port) if ids else None
    if ids is None or not isinstance(host, str) or not isinstance(user, str) or shown is None:
        return None
    return derive_connection_id(ids, user, host, shown)


def typed_problem(policy: Policy, prof: ToolProfile, args: Mapping[str, Any], old: Binding | None,
                  group: str | None) -> str | None:
    """Whether this connect's password may be typed into a terminal (the upstream does so).

    Worked out here, where the password is seen, for the host group's command set; a
    connect without one keeps what the id had (its saved password).
    """
    pw_arg = prof.arg_of_role("password")
    password = args.get(pw_arg) if pw_arg else None
    if isinstance(password, str) and password:
        host_group = policy.hosts.get(group) if group else None
        return typed_password_problem(policy, host_group.commands if host_group else None, password)
    return old.terminal_problem if old is not None else None


def saved_possible(policy: Policy) -> bool:
    """Whether the upstream may hold a password saved for an id that sshwall never saw."""
    return policy.upstream_saved_passwords == "possible" and policy.plan.saved_fallback


def password_state(policy: Policy, prof: ToolProfile, args: Mapping[str, Any],
                   old: Binding | None) -> tuple[PasswordState, bool]:
    """Whether the upstream holds a password for the id after this connect, and keeps it.

    A connect's own password was checked inert by the engine. Without one, the upstream
    still has what it saved for the id earlier (``rememberPassword`` defaults to true), or,
    without a key either, loads whatever it saved: a password sshwall may never have seen.
    With a key and no password sshwall checked, a profile whose rewrites fall back to a
    saved password makes it ``maybe-saved`` (unless the policy says no saved store can
    exist: ``upstream_saved_passwords: none``): one may have been saved before this gateway
    started, or by a connect whose password sshwall did not see kept.
    """
    pw_arg, key_arg, keep_arg = prof.arg_of_role("password"), prof.arg_of_role("private-key"), prof.arg_of_role("remember-password")
    given = isinstance(args.get(pw_arg), str) and bool(args.get(pw_arg)) if pw_arg else False
    keep = args.get(keep_arg) is not False if keep_arg else True
    if given:
        return "checked", keep or bool(old and old.password_saved)
    if old is not None and old.password == "checked" and not old.password_saved and saved_possible(policy):
        # Live: that checked password; reconnected: the store's, which may predate sshwall.
        return "maybe-saved", False
    if old is not None and old.password not in ("none", "maybe-saved"):
        # Saved for the id, or still in the live connection the upstream hands back as is.
        return old.password, old.password_saved
    has_key = isinstance(args.get(key_arg), str) and bool(args.get(key_arg)) if key_arg else False
    if not has_key:
        return "unknown", True
    return ("maybe-saved", False) if saved_possible(policy) else ("none", False)
