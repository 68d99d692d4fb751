"""Tool profiles: which argument of which tool is a command, a host, a path, a port, an interval.

A profile is data (``rules/profiles/*.yaml``), so supporting another SSH MCP server means adding
a profile, not code. The engine validates every call's arguments against the profile before it
looks at their meaning: a missing required argument, a wrong type or an argument the profile
does not know is denied.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ArgKind = Literal[
    "command",  # a shell command string, analysed with bashlex
    "terminal-input",  # raw keystrokes into a PTY
    "connection",  # an opaque connection id returned by connect
    "session",  # an opaque terminal session id
    "transfer",  # an opaque transfer id
    "tunnel",  # an opaque tunnel id
    "host",  # a host name or address to connect or forward to
    "port",  # a remote TCP port
    "local-port",  # a TCP port bound on the gateway's machine
    "user",  # a login name
    "secret",  # password, private key text, passphrase: never logged
    "remote-path",  # a path on the SSH host
    "local-path",  # a path on the gateway's own machine
    "interval",  # how often scheduled work repeats
    "files",  # a list of transfer items (localPath / remotePath)
    "opaque",  # anything else: type-checked only
]
JsonType = Literal["string", "integer", "number", "boolean", "array", "object"]


class ArgSpec(BaseModel):
    """One argument of a tool: its JSON type, its meaning, whether it must be present."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: JsonType
    kind: ArgKind = "opaque"
    required: bool = False
    default: int | str | bool | None = None
    unit: Literal["ms", "s"] | None = None
    access: Literal["read", "write"] | None = None
    items: dict[str, ArgSpec] | None = Field(
        default=None, description="for arrays of objects: the fields of each item"
    )


Effect = Literal["connect", "disconnect", "open-terminal", "stop-background", "stop-all-background"]


class ToolProfile(BaseModel):
    """One tool of the upstream server.

    ``effect`` tells the gateway what a successful call changes that later calls depend on:
    a new connection (bound to its target), a connection gone, a terminal session opened on a
    connection, background tasks stopped.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    effect: Effect | None = None
    arguments: dict[str, ArgSpec] = Field(default_factory=dict)

    def args_of_kind(self, kind: ArgKind) -> tuple[str, ...]:
        """Names of the arguments of one kind, in declaration order."""
        return tuple(name for name, spec in self.arguments.items() if spec.kind == kind)


class Profile(BaseModel):
    """The tools of one SSH MCP server, by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    tools: dict[str, ToolProfile]


__all__ = ["ArgKind", "ArgSpec", "Effect", "JsonType", "Profile", "ToolProfile"]
