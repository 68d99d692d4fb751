"""The one exception tree of sshwall.

Decisions are values (see ``sshwall.engine.Verdict``), never exceptions: these exceptions are
for configuration mistakes, usage errors and failures of the parts underneath (an upstream MCP
server, a state backend, an SSH host). Errors of third-party libraries are translated into these
at the one module that imports the library.
"""

from __future__ import annotations


class SshwallError(Exception):
    """Base class of every error sshwall raises on purpose."""


class PolicyError(SshwallError):
    """A policy or tool profile is malformed, inconsistent, or fails its own examples."""


class UsageError(SshwallError):
    """A command-line or API call was made with arguments that do not fit."""


class StateError(SshwallError):
    """A state backend (memory, SQLite, Redis) could not be read or updated."""


class UpstreamError(SshwallError):
    """The upstream MCP server failed, hung, or answered something unusable."""

    outcome = "error"  # how the audit log names the failure


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time."""

    outcome = "timeout"


class UpstreamDied(UpstreamError):
    """The upstream process exited, or its connection closed, before answering."""

    outcome = "upstream-died"


class TargetError(SshwallError):
    """An SSH target could not be reached or verified."""


class AuditError(SshwallError):
    """The audit log could not be opened, read or written (disk full, file immutable, removed
    and not re-creatable...), or was asked for a malformed record. A call whose decision record
    raised this was not audited: the firewall denies it (rule ``audit.unavailable``)."""
