"""Host groups (SSH targets, their users, ports and pinned keys) and per-identity grants."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from sshwall.policy.base import Frozen
from sshwall.policy.tools import Limit


class HostGroup(Frozen):
    """A group of SSH targets and who may log in there, with the keys they must present.

    ``match`` holds exact names, wildcards (``*.staging.internal``) and CIDR ranges
    (``10.20.0.0/16``, ``::1/128``); a name is also resolved and its addresses checked against
    the CIDR entries of every group, so a name cannot smuggle a forbidden address in.
    """

    match: tuple[str, ...]
    decision: Literal["allow", "prompt"] = Field(
        default="allow", description="prompt: every call landing here needs a human's approval (docs/approval.md)"
    )
    reason: str | None = Field(default=None, description="why, shown to the approver")
    users: tuple[str, ...] = Field(default=(), description="allowed login names; empty: any")
    ports: tuple[int, ...] = (22,)
    host_keys: tuple[str, ...] = Field(default=(), description="pinned SHA256:... fingerprints (ssh-keygen -lf)")
    known_hosts: str | None = Field(default=None, description="a known_hosts file the host key must be in")
    trust_on_first_use: bool = Field(default=False, description="record an unknown key once, then pin it")
    commands: str | None = Field(default=None, description="command set that replaces the tool's on these hosts")
    limits: tuple[Limit, ...] = ()
    canary: str | None = Field(default=None, description="a command `sshwall verify` runs to prove access")

    @field_validator("match")
    @classmethod
    def _match(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("a host group needs at least one match entry")
        for entry in value:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError as err:
                    raise ValueError(f"{entry!r} is not a CIDR range: {err}") from None
        return value

    @field_validator("host_keys")
    @classmethod
    def _keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for key in value:
            if not key.startswith("SHA256:") or len(key) < 20:
                raise ValueError(f"{key!r}: write pins as SHA256:... (as ssh-keygen -lf prints them)")
        return value


class Grant(Frozen):
    """What one identity may do, on top of what the policy allows everyone (``grants:``).

    A grant only narrows: ``hosts`` are the host groups it may reach (empty: any the policy
    allows), ``tools`` the tools it may call (None: any the policy allows), ``commands`` a
    command set its commands must pass as well as the policy's own. ``operator`` lets it list
    and stop what other identities opened (connections, tunnels, background tasks); it never
    lets it run commands on them.
    """

    hosts: tuple[str, ...] = Field(default=(), description="host groups this identity may reach; empty: any")
    tools: tuple[str, ...] | None = Field(default=None, description="tools this identity may call; None: any")
    commands: str | None = Field(default=None, description="command set its commands must also pass")
    operator: bool = Field(default=False, description="may list and stop other identities' connections and tasks")
