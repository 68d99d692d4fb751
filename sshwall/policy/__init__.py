"""The policy language: models, durations, and loading from YAML / JSON / PolicyLayer."""

from __future__ import annotations

from sshwall.policy.approval import ApprovalRule
from sshwall.policy.base import Decision
from sshwall.policy.commandsets import CommandSet, ProgramSpec, ValueRule
from sshwall.policy.durations import format_duration, parse_duration
from sshwall.policy.hosts import Grant, HostGroup
from sshwall.policy.load import default_policy_path, embedded_rules, load_policy, load_profile
from sshwall.policy.model import Example, Policy
from sshwall.policy.tools import (
    BackgroundRule,
    IntervalRule,
    Limit,
    PathRules,
    TerminalRule,
    ToolRule,
    TunnelRule,
)

__all__ = [
    "ApprovalRule",
    "BackgroundRule",
    "CommandSet",
    "Decision",
    "Example",
    "Grant",
    "HostGroup",
    "IntervalRule",
    "Limit",
    "PathRules",
    "Policy",
    "ProgramSpec",
    "TerminalRule",
    "ToolRule",
    "TunnelRule",
    "ValueRule",
    "default_policy_path",
    "embedded_rules",
    "format_duration",
    "load_policy",
    "load_profile",
    "parse_duration",
]
