"""The one exception tree of sshwall.

Decisions are values (see ``sshwall.engine.Verdict``), never exceptions: these exceptions are
for configuration mistakes, usage errors and failures of the parts underneath (an upstream MCP
server, a state backend, an SSH host). Errors of third-party libraries are translated into these
at the one module that imports the library: paramiko's and the socket layer's in
``sshwall.targets.sshtools`` / ``sshkeys`` and ``sshwall.backend.ssh`` (``TargetError``), redis's
in ``sshwall.limits.redis`` and sqlite3's in ``sshwall.limits.sqlite*`` (``StateError``; a redis
URL the client cannot parse: ``UsageError``),
YAML's and pydantic's in ``sshwall.policy.load`` (``PolicyError``), bashlex's in
``sshwall.analysis`` (a deny finding, never an exception).

The tree::

    SshwallError
    +-- PolicyError         a policy or profile is malformed or fails its own examples
    +-- UsageError          arguments that do not fit
    +-- StateError          a state backend failed (the call is denied)
    +-- UpstreamError       the upstream MCP server failed
    |   +-- UpstreamTimeout
    |   +-- UpstreamDied
    |   +-- RpcError        it answered with a JSON-RPC error
    +-- FrameError          a frame that is not a JSON-RPC 2.0 message
    +-- TargetError         an SSH target could not be reached or verified
    |   +-- NotConnected    (built-in backend) the connection is disconnected or lost
    +-- AuditError          the audit log could not be written
    +-- AnalysisError       the analyser refuses to vouch for a construct (becomes a finding)
    |   +-- WordError
    |   +-- WrapperError
    +-- OracleUnavailable   the execution oracle cannot run on this machine
    +-- ApprovalError       an approval request may not be answered or used (the reason says why)
    +-- ClientCannotAsk     the MCP client cannot be asked (no elicitation, or it answered an error)
    +-- InputRequired       (2026-07-28 era) the client must answer ``result`` and call again

A few private exceptions stay where they are because they are control flow that never leaves
the code that raises them (each is caught there and turned into a value): ``_Deny`` in
``sshwall.limits.sqlite`` (rolls a transaction back), ``_Unknown`` in ``sshwall.analysis.builtins``,
``_Unreadable`` / ``_Infeasible`` in ``sshwall.engine.sedawk.common`` (caught by the sed and awk
checkers), ``_SedDenied`` in ``sshwall.engine.sedawk.sed``, ``_Answered`` in ``sshwall.limits.approvals``, and the CLI's private
usage errors.
"""

from __future__ import annotations

from typing import Any


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


class RpcError(UpstreamError):
    """The upstream answered a request with a JSON-RPC error (``error``: its error object)."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(str(error.get("message", "error")))
        self.error = error


class FrameError(SshwallError):
    """A frame that is not a JSON-RPC 2.0 message (or one the firewall refuses to relay).

    ``code`` is the JSON-RPC error code to answer with, ``msg_id`` the frame's id when it had one.
    """

    def __init__(self, code: int, message: str, msg_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.msg_id = msg_id


class TargetError(SshwallError):
    """An SSH target could not be reached or verified."""


class NotConnected(TargetError):
    """The built-in backend: a tool needs a connection's session, but it is disconnected or lost.

    ``name`` is how the backend's replies name the connection (its ``name``, else ``user@host``).
    """

    def __init__(self, connection_id: str, status: str, name: str) -> None:
        super().__init__(f"connection {connection_id} is {status}: connect again")
        self.connection_id = connection_id
        self.status = status
        self.name = name


class AuditError(SshwallError):
    """The audit log could not be opened, read or written (disk full, file immutable, removed
    and not re-creatable...), or was asked for a malformed record. A call whose decision record
    raised this was not audited: the firewall denies it (rule ``audit.unavailable``)."""


class AnalysisError(SshwallError):
    """The shell analyser refuses to vouch for a construct. Never escapes ``analyse``: it is
    caught there and becomes a finding that denies."""


class WordError(AnalysisError):
    """A construct inside a word that the analyser refuses to vouch for.

    ``kind`` names the finding (``parse-error``, ``unsupported``...), ``offset`` where it starts.
    """

    def __init__(self, kind: str, detail: str, offset: int) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.offset = offset


class WrapperError(AnalysisError):
    """A wrapper's command line (sudo, env, timeout, ``sh -c``...) the analyser cannot split
    with certainty."""


class OracleUnavailable(SshwallError):
    """The execution oracle cannot run on this machine (``sshwall.oracle.probe.unavailable()``
    gives the reason)."""


class ApprovalError(SshwallError):
    """An approval request cannot be answered or used: unknown, not pending, expired, already
    used, for another call, or the one answering may not (the message says which)."""


class ClientCannotAsk(SshwallError):
    """The MCP client cannot be asked for approval: it declared no elicitation capability, or
    answered ``elicitation/create`` with an error (the next channel is tried)."""


class InputRequired(SshwallError):
    """2026-07-28 era: the approval question goes back to the client as the ``tools/call``'s
    ``input_required`` result (``result``); the client calls again with its user's answer."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("input required")
        self.result = result
