"""The policy language as frozen pydantic models: the whole ``Policy`` and its examples.

A policy says, per tool, allow / prompt / deny / hide, and for tools that run shell commands,
which command set governs them. The parts live beside this module: command sets in
``commandsets``, tool rules in ``tools``, host groups and grants in ``hosts``, the decision order
and the frozen base in ``base`` (import them from there, or from ``sshwall.policy``). Everything unknown is
rejected when the policy loads (``extra="forbid"``), so a typo can never silently widen a policy.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sshwall.policy.approval import ApprovalRule
from sshwall.policy.base import Decision, Frozen
from sshwall.policy.commandsets import CommandSet
from sshwall.policy.compiled import PolicyPlan, build_plan
from sshwall.policy.hosts import Grant, HostGroup
from sshwall.policy.intercept import InterceptRules
from sshwall.policy.tools import (
    Limit,
    ToolRule,
)
from sshwall.profiles import Profile


class Example(Frozen):
    """A call the policy must decide as ``expect``: the policy's own test suite."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    expect: Decision
    why: str | None = None


class Policy(Frozen):
    """A whole policy, with its tool profile resolved."""

    version: Literal[1, "1"] = 1
    name: str = "policy"
    description: str = ""
    profile: Profile
    default: Decision = Decision.DENY
    hide_denied_tools: bool = False
    tools: dict[str, ToolRule] = Field(default_factory=dict)
    commands: dict[str, CommandSet] = Field(default_factory=dict)
    limits: tuple[Limit, ...] = ()
    hosts: dict[str, HostGroup] = Field(default_factory=dict)
    host_key_check: Literal["off", "pinned", "always"] = Field(
        default="pinned",
        description="fetch and check the host key before connect: for groups with pins/known_hosts, for all, or never",
    )
    tofu_file: str | None = Field(default=None, description="where trust-on-first-use records keys")
    relearn_bindings: bool = Field(
        default=False,
        description="bind connection ids the upstream lists (listConnections/getConnection) after a gateway restart; host rules still apply",
    )
    upstream_saved_passwords: Literal["possible", "none"] = Field(
        default="possible",
        description="whether the upstream may hold passwords it saved for connection ids (Mcp Ssh's rememberPassword, "
                    "kept in keytar or, with IS_DOCKER=true, a file) and use them on key-only connections for its "
                    "sudo rewrite and terminal auto-password: `possible` decides such connections fail closed; "
                    "`none` only where no saved store can exist (docs/upstream-behaviour.md)",
    )
    grants: dict[str, Grant] = Field(default_factory=dict, description="per-identity narrowing (docs/identities.md)")
    approval: ApprovalRule = Field(default_factory=ApprovalRule, description="how prompt verdicts are approved (docs/approval.md)")
    intercept: InterceptRules | None = Field(
        default=None, description="a PolicyLayer Intercept policy's argument conditions, checked on top (docs/intercept.md)")
    shadow: Literal["allowed", "never"] = Field(
        default="allowed",
        description="whether `sshwall serve --mode shadow` (forward denied calls, audit them would-deny) may run "
                    "this policy: `never` makes it a usage error (docs/shadow-replay.md)",
    )

    @field_validator("host_key_check", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false
    examples: tuple[Example, ...] = ()

    @cached_property
    def plan(self) -> PolicyPlan:
        """The policy indexed per tool (``sshwall.policy.compiled``), built on first use, once.

        Read it instead of looking tools up in ``profile.tools`` and ``tools`` at each call:
        ``policy.plan.tool(name)`` says which argument is the connection, the command, the
        interval (unit and default), and which rule governs the tool.
        """
        return build_plan(self)

    @cached_property
    def revision(self) -> str:
        """The policy's revision: ``sha256:`` of its canonical form (every field, profile and
        examples included, as sorted-key JSON), computed once. An approval is bound to it, so
        any change of the policy is another call."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    @model_validator(mode="after")
    def _references(self) -> Policy:
        for tool, rule in self.tools.items():
            ref = rule.commands
            if ref is not None and ref != "any" and ref not in self.commands:
                raise ValueError(f"tools.{tool}.commands names unknown command set {ref!r}")
            if rule.terminal and rule.terminal.commands not in self.commands:
                raise ValueError(f"tools.{tool}.terminal names unknown command set {rule.terminal.commands!r}")
            prof = self.profile.tools.get(tool)
            if rule.decision in ("allow", "prompt") and prof is not None:
                if prof.args_of_kind("command") and ref is None:
                    raise ValueError(
                        f"tools.{tool} runs shell commands: name a command set (or 'any')"
                    )
                if prof.args_of_kind("terminal-input") and rule.terminal is None:
                    raise ValueError(f"tools.{tool} takes terminal input: give it a terminal rule")
        for group, hosts in self.hosts.items():
            if hosts.commands is not None and hosts.commands not in self.commands:
                raise ValueError(f"hosts.{group}.commands names unknown command set {hosts.commands!r}")
        for who, grant in self.grants.items():
            if grant.commands is not None and grant.commands not in self.commands:
                raise ValueError(f"grants.{who}.commands names unknown command set {grant.commands!r}")
            unknown = [g for g in grant.hosts if g not in self.hosts]
            if unknown:
                raise ValueError(f"grants.{who}.hosts names unknown host groups {unknown}")
            strange = [t for t in grant.tools or () if t not in self.tools and t not in self.profile.tools]
            if strange:
                raise ValueError(f"grants.{who}.tools names tools neither the policy nor profile {self.profile.name} knows: {strange}")
        return self
