"""Tool profiles: which argument of which tool is a command, a host, a path, a port, an interval.

A profile is data (``rules/profiles/*.yaml``), so supporting another SSH MCP server means adding
a profile, not code. The engine validates every call's arguments against the profile before it
looks at their meaning: a missing required argument, a wrong type or an argument the profile
does not know is denied.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
# password / private-key: credentials of connect; remember-password: whether the upstream saves
# the password for the connection id (so later connects without one still have it); workdir:
# the folder the command runs in (the upstream runs `cd DIR; COMMAND`, falling back to the
# connection's folder where DIR does not exist: see sshwall.engine.workdir).
Role = Literal["password", "private-key", "remember-password", "force", "workdir"]


def checked_regex(value: str | None, what: str | None = None) -> str | None:
    """``value`` unchanged if it compiles as a regular expression (None passes); otherwise a
    ``ValueError`` (which pydantic reports with the field) naming ``what``."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as err:
            raise ValueError(f"{what + ' is ' if what else ''}not a regular expression: {err}") from None
    return value

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
    minimum: float | None = Field(default=None, description="numbers: the smallest value the upstream handles as meant")
    maximum: float | None = Field(default=None, description="numbers: the largest value the upstream handles as meant")
    whole: bool = Field(default=False, description="numbers: only whole values mean what they say (ports)")
    role: Role | None = Field(default=None, description="what the upstream does with this argument beyond its kind")
    default_path: str | None = Field(
        default=None,
        description="local paths: where the upstream writes when the argument is missing or empty (JavaScript-falsy); "
                    "`{home}` is the upstream process's home, `{basename:NAME}` Node's path.basename of the sibling "
                    "argument NAME; the result is normalised as Node's path.join does",
    )



Effect = Literal[
    "connect", "disconnect", "delete-connection", "open-terminal", "open-tunnel", "close-tunnel",
    "list-connections", "stop-background", "stop-all-background",
]


class ReplyFormat(BaseModel):
    """Where a successful reply of this tool names an id, as the real upstream writes it.

    ``pattern`` is a regular expression with a group ``id``; for connection listings also
    ``host``, ``port`` and ``user``, so each id can be checked against ``Profile.connection_ids``.
    Only the upstream's own line may match: patterns are anchored to whole lines. ``password``
    formats need no group: a match says the upstream holds a password for the connection (an
    agent-chosen name can only add such a line, which makes sshwall stricter, never looser).
    ``cwd`` formats have a group ``cwd`` (the connection's current folder) and, where the reply
    may list several connections, ``id``; every block of the reply that names the connection
    must state one and the same folder, or none is learned (``sshwall.proxy.workdirs``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    binds: Literal["connection", "session", "tunnel", "password", "cwd"]
    pattern: str


class ConnectionIds(BaseModel):
    """How the upstream derives a connection id from its target, so a reply can be cross-checked.

    ``template`` is formatted with ``user``, ``host`` and ``port`` (as the upstream writes them),
    then hashed with ``hash``. ``default_port`` is the port the upstream assumes without one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str
    hash: Literal["md5", "sha1", "sha256"]
    default_port: int = 22


class SudoPasswordRewrite(BaseModel):
    """The upstream rewrites a command when its connection has a password.

    When the command (JavaScript-trimmed) starts with ``starts_with`` or contains ``contains``,
    every match of ``word`` (a JavaScript-style, ASCII ``\\b`` regex) becomes ``replacement``
    and the whole becomes ``template`` with ``{password}`` and ``{command}`` filled in, the
    password pasted verbatim inside double quotes. With ``saved_password_fallback`` the
    upstream, when the live connection holds no password, takes the one it saved for the
    connection id earlier (a password sshwall may never have seen).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sudo-password"]
    argument: str
    starts_with: str
    contains: str
    word: str
    replacement: str
    template: str
    saved_password_fallback: bool = Field(
        default=False, description="without a password on the live connection, the upstream uses one it saved for the id")


class TmuxFollowups(BaseModel):
    """The upstream runs follow-up commands when a command's text matches one of ``patterns``.

    The follow-ups paste the pattern's first group (a session name) unescaped into new shell
    commands. ``force_argument`` names the argument that skips some of them (not all: see the
    profile's notes), so the engine denies every match.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["tmux-followups"]
    argument: str
    force_argument: str | None = None
    patterns: dict[str, str]

    def model_post_init(self, context: object, /) -> None:
        """Compile the patterns at load (a bad one is a load error, not a deny at call time)."""
        _ = self.compiled

    @cached_property
    def compiled(self) -> dict[str, re.Pattern[str]]:
        """``patterns``, compiled once."""
        return {kind: re.compile(pattern) for kind, pattern in self.patterns.items()}


class TerminalAutoPassword(BaseModel):
    """The upstream types the connection's password into a terminal by itself.

    Whenever a chunk of terminal output contains one of ``triggers``, it writes ``typed`` (with
    ``{password}`` filled in) into the PTY at once, onto whatever line is being typed, whoever
    prints the text (a sudo prompt, a shell ``read``, an ``echo``, the PTY echoing typed keys).
    With ``replaces_next_write`` the next write on the session is also dropped and replaced by
    ``typed``. ``argument`` names the keystrokes argument of the tool (none for the tool that
    opens the session, whose first output can already trigger it). ``saved_password_fallback``
    as for ``SudoPasswordRewrite``: the password typed may be one saved for the id earlier.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["terminal-auto-password"]
    argument: str | None = None
    triggers: tuple[str, ...]
    typed: str = "{password}\n"
    replaces_next_write: bool = False
    saved_password_fallback: bool = Field(
        default=False, description="without a password on the live connection, the upstream types one it saved for the id")


Rewrite = Annotated[SudoPasswordRewrite | TmuxFollowups | TerminalAutoPassword, Field(discriminator="kind")]


class Schedule(BaseModel):
    """How the upstream runs scheduled work (a tool with an ``interval`` argument).

    The gateway's protections follow from these facts, so another upstream describes its own:

    - ``first_run: awaited``: the reply comes only after a first run ended, and the timer starts
      then even if nobody waits for the reply any more (a gateway timeout does not cancel it).
    - ``overlap``: the timer starts a run every interval whether or not the previous one ended.
    - ``stop_ends_run``: whether the stop tool also ends a run in progress.
    - ``per_connection``: ``orphans-concurrent``: one timer per connection, and a start
      replaces the old timer only if that one was registered before the start began, so two
      starts in flight at once leave the first timer running with no stop able to reach it;
      ``replaces``: a new start always stops the old timer; ``independent``: no such limit.
    - ``stopped_reply``: a regular expression the whole reply of a stop matches exactly when it
      stopped a task (the agent-chosen connection name may appear inside, never at the start).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_run: Literal["awaited", "deferred"] = "awaited"
    overlap: bool = True
    stop_ends_run: bool = False
    per_connection: Literal["orphans-concurrent", "replaces", "independent"] = "orphans-concurrent"
    stopped_reply: str | None = None

    @field_validator("stopped_reply")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return checked_regex(value, "stopped_reply")


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
    replies: tuple[ReplyFormat, ...] = ()
    rewrites: tuple[Rewrite, ...] = ()
    schedule: Schedule | None = Field(default=None, description="scheduled work: how the upstream runs it")

    def arg_of_role(self, role: Role) -> str | None:
        """The argument with this role, if any."""
        return self.role_index.get(role)

    def args_of_kind(self, kind: ArgKind) -> tuple[str, ...]:
        """Names of the arguments of one kind, in declaration order."""
        return self.kind_index.get(kind, ())

    @cached_property
    def role_index(self) -> dict[str, str]:
        """The first argument of each role (indexed once: the engine asks on every call)."""
        found: dict[str, str] = {}
        for name, spec in self.arguments.items():
            if spec.role is not None:
                found.setdefault(spec.role, name)
        return found

    @cached_property
    def kind_index(self) -> dict[str, tuple[str, ...]]:
        """The arguments of each kind, in declaration order (indexed once)."""
        found: dict[str, tuple[str, ...]] = {}
        for name, spec in self.arguments.items():
            found[spec.kind] = (*found.get(spec.kind, ()), name)
        return found


class Profile(BaseModel):
    """The tools of one SSH MCP server, by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    connection_ids: ConnectionIds | None = None
    tools: dict[str, ToolProfile]


__all__ = [
    "ArgKind", "ArgSpec", "ConnectionIds", "Effect", "JsonType", "Profile", "ReplyFormat", "Rewrite",
    "Role", "Schedule", "SudoPasswordRewrite", "TerminalAutoPassword", "TmuxFollowups", "ToolProfile",
]
