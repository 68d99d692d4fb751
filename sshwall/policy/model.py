"""The policy language as frozen pydantic models.

A policy says, per tool, allow / prompt / deny / hide, and for tools that run shell commands,
which command set governs them. A command set is an allowlist of programs, each with an
argument spec (flags, values, operands, subcommands), plus rules for operators, redirections,
substitutions, assignments and protected paths. Everything unknown is rejected when the policy
loads (``extra="forbid"``), so a typo can never silently widen a policy.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from enum import Enum
from functools import cached_property
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sshwall.policy.compiled import PolicyPlan, build_plan
from sshwall.policy.durations import Duration
from sshwall.policy.flags import ArgKind, Family, FlagTable, build_table
from sshwall.profiles import Profile


class Decision(str, Enum):
    """A verdict, ordered by strictness: the strictest match wins."""

    ALLOW = "allow"
    PROMPT = "prompt"
    DENY = "deny"

    @property
    def severity(self) -> int:
        """0 allow, 1 prompt, 2 deny."""
        return _SEVERITY[self]


_SEVERITY = {Decision.ALLOW: 0, Decision.PROMPT: 1, Decision.DENY: 2}
_T = TypeVar("_T")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, without the values derived once (``cached_property``): the copy derives its own.

        pydantic copies the instance ``__dict__``, where ``functools.cached_property`` keeps its
        value, so without this a copy with ``update`` would keep the original's flag table or plan.
        """
        copied = super().model_copy(update=update, deep=deep)
        for name in _derived_names(type(self)):
            copied.__dict__.pop(name, None)
        return copied


def _derived_names(cls: type) -> tuple[str, ...]:
    return tuple(n for klass in cls.__mro__ for n, v in vars(klass).items() if isinstance(v, cached_property))


Operator = Literal["pipe", "and", "or", "sequence", "background"]
Construct = Literal["subshell", "group", "if", "for", "while", "until", "negation"]
RedirectKind = Literal["devnull", "fd-dup", "fd-close", "read", "write", "herestring"]


class ValueRule(_Frozen):
    """Constraints on one flag value or operand."""

    kind: ArgKind = "opaque"
    min: float | None = None
    max: float | None = None
    enum: tuple[str, ...] | None = None
    match: str | None = Field(default=None, description="regular expression the whole value must match")
    deny_match: str | None = Field(default=None, description="regular expression no part may match")
    schemes: tuple[str, ...] = ("http", "https")
    hosts: tuple[str, ...] = ()
    format: Literal["curl"] | None = Field(
        default=None, description="a format language whose directives are checked (curl's --write-out)"
    )
    greedy: str | None = Field(
        default=None,
        description="an optional value that is not attached takes the next word when it fully matches"
        " this regular expression (journalctl -n 50, top -w 100)",
    )

    @field_validator("match", "deny_match", "greedy")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"not a regular expression: {err}") from None
        return value

    @cached_property
    def patterns(self) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None, re.Pattern[str] | None]:
        """``match``, ``deny_match`` and ``greedy`` compiled once (None where not given)."""
        return tuple(None if rx is None else re.compile(rx) for rx in (self.match, self.deny_match, self.greedy))  # type: ignore[return-value]


class EndlessRule(_Frozen):
    """How a program can run until killed: a read-only diagnostic must end on its own."""

    flags: tuple[str, ...] = Field(default=(), description="any of these makes it run until killed")
    operand_counts: tuple[int, ...] = Field(default=(), description="with this many operands it never ends")
    unless: tuple[str, ...] = Field(default=(), description="it runs until killed unless one of these is given")
    flags_unless: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="flag -> flags that bound it (free -s N runs forever unless -c N)"
    )


class ProgramSpec(_Frozen):
    """How one program may be called: its option family, flags, operands and subcommands.

    ``flags`` is a closed list: entries ``-v`` (switch), ``-n=`` / ``-f=read`` (required value,
    of a kind), ``--color[=]`` (optional value, only ever attached), ``-NUM``. A flag not listed
    is denied; ``flags: any`` (every flag not in ``deny_flags``) still loads for hand-written
    policies, never in a shipped one. Long options must be written whole: getopt's prefix
    matching is refused, so an abbreviation can never mean a flag nobody listed. See
    docs/option-grammar.md for the families.
    """

    decision: Decision = Decision.ALLOW
    reason: str | None = None
    wrapper: bool = False
    family: Family = "gnu"
    permute: bool | None = Field(
        default=None,
        description="may options follow operands? (default: yes, except family posix); false where"
        " options end at the first operand, as for awk",
    )
    cluster_values: Literal["rest", "next"] = Field(
        default="rest",
        description="a value letter in a cluster takes the rest of the word (getopt) or the next"
        " unused word while the cluster goes on (tree's own parser)",
    )
    unknown_flags: Literal["deny", "operand"] = Field(
        default="deny",
        description="a word that is not made of listed flags is denied, or is an operand (bash's echo)",
    )
    reparse_safe: tuple[str, ...] = Field(
        default=(),
        description="ps family: value flags whose value the BSD re-reading parses the same way (formats, pids)",
    )
    bounded_by: tuple[str, ...] = Field(
        default=(), description="flags that bound how much it reads (head -c N), so endless inputs end"
    )
    runs: tuple[str, ...] = Field(
        default=(), description="fixed helper programs it runs itself (zcat runs gzip); for the oracle"
    )
    state_writes: tuple[str, ...] = Field(
        default=(),
        description="files it maintains itself (top's ~/.config/procps, kubectl's cache), as fnmatch"
        " globs; the oracle accepts writes there and flags every other",
    )
    network: Literal["loopback", "any"] = Field(
        default="loopback", description="where it may connect (ping, dig: any); the oracle flags the rest"
    )
    names: tuple[str, ...] = Field(default=(), description="other names of a subcommand")
    flags: Literal["any"] | tuple[str, ...] = "any"
    deny_flags: tuple[str, ...] = ()
    require_flags: tuple[str, ...] = Field(default=(), description="each entry: 'a' or 'a|b' alternatives")
    value_flags: tuple[str, ...] = ()
    aliases: dict[str, str] = Field(default_factory=dict)
    values: dict[str, ValueRule] = Field(default_factory=dict)
    operands: ArgKind | tuple[ArgKind, ...] = "opaque"
    operand_rule: ValueRule | None = None
    first_operand_flags: tuple[str, ...] = Field(
        default=(), description="flags that supply what the first operand would (grep -e, sed -e)"
    )
    min_operands: int = 0
    max_operands: int | None = None
    recursive_flags: tuple[str, ...] = ()
    recursive: bool = False
    long_single_dash: bool = Field(default=False, description="-name is one flag, as in find (family: find)")
    old_style: bool = Field(default=False, description="a first word without '-' is a flag cluster (family: tar)")
    endless: EndlessRule | None = None
    script: Literal["sed", "awk"] | None = None
    subcommands: dict[str, ProgramSpec] = Field(default_factory=dict)
    inherit_flags: bool = Field(
        default=True, description="do this program's flag rules still apply after a subcommand?"
    )
    bare: bool = Field(default=False, description="with subcommands: may it run without one?")

    def model_post_init(self, context: Any, /) -> None:
        """Compile the flag table at load, so contradictory entries are rejected there."""
        _ = self.table

    @cached_property
    def table(self) -> FlagTable:
        """The compiled flags (name -> arity, kind, denied; in the spec's order), built once.

        A ``cached_property``, not a pydantic private attribute: the engine reads it for every
        flag of every command, and a private attribute is read through pydantic's slow path.
        """
        named = set(self.aliases.values()) | set(self.recursive_flags) | set(self.first_operand_flags)
        named |= {f for req in self.require_flags for f in req.split("|")}
        if self.endless is not None:
            named |= set(self.endless.flags) | set(self.endless.unless)
        return build_table(
            None if self.flags == "any" else self.flags,
            self.value_flags,
            self.deny_flags,
            tuple(self.values),
            tuple(sorted(named)),
        )

    @cached_property
    def required(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """``require_flags`` read once: each entry with its alternatives, aliases resolved."""
        return tuple((req, tuple(self.aliases.get(o, o) for o in req.split("|"))) for req in self.require_flags)

    @property
    def operand_kinds(self) -> tuple[ArgKind, ...]:
        """Operand kinds by position; the last one repeats."""
        return (self.operands,) if isinstance(self.operands, str) else self.operands

    @property
    def parse_family(self) -> Family:
        """The family the parser follows (the older ``long_single_dash``/``old_style`` switches map to one)."""
        if self.long_single_dash and self.family == "gnu":
            return "find"
        if self.old_style and self.family == "gnu":
            return "tar"
        return self.family


class CommandSet(_Frozen):
    """What shell commands a tool may run."""

    operators: tuple[Operator, ...] = ("pipe", "and", "or", "sequence")
    constructs: tuple[Construct, ...] = ()
    redirects: tuple[RedirectKind, ...] = ("devnull", "fd-dup")
    substitutions: Literal["allow", "deny"] = "deny"
    parameters: Literal["allow", "deny"] = "deny"
    assignments: tuple[str, ...] = ()
    programs: dict[str, ProgramSpec] = Field(default_factory=dict)
    deny_programs: dict[str, str] = Field(
        default_factory=dict, description="program name glob -> reason shown when it is used"
    )
    program_dirs: tuple[str, ...] = (
        "/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin",
    )
    protected_catalogue: tuple[str, ...] = Field(
        default=(),
        description="groups of rules/protected-paths.yaml (or 'all'); load_policy adds their"
        " paths and exceptions to protected_paths / protected_exceptions",
    )
    protected_paths: tuple[str, ...] = ()
    protected_exceptions: tuple[str, ...] = ()
    writable_paths: tuple[str, ...] = ()
    endless: Literal["deny", "allow"] = Field(
        default="deny",
        description="commands that run until killed (programs' endless rules, endless_paths): 'allow' accepts"
        " them (executeCommand under its timeout); scheduled work (backgroundExecute) denies them always",
    )
    endless_paths: tuple[str, ...] = Field(
        default=(), description="files whose reading never ends (/dev/zero, /proc/kmsg): denied unless bounded_by"
    )
    max_length: int = Field(default=64 * 1024, gt=0, le=1024 * 1024)
    max_depth: int = Field(default=32, gt=0, le=100)

    def derived(self, build: Callable[[CommandSet], _T]) -> _T:
        """What ``build`` derives from this set, built on first use and kept with the set.

        For the layers above the policy (the engine's compiled path patterns and denied-program
        globs: ``sshwall.engine.commandset``), which this module may not import: the set is
        frozen, so a pure ``build`` gives the same result every time, and it is made once per
        set (a ``model_copy`` starts afresh). ``build`` is the key: pass the same function.
        """
        memo = self._derived
        found = memo.get(build)
        if found is None:
            found = memo[build] = build(self)
        return found

    @cached_property
    def _derived(self) -> dict[Callable[[CommandSet], Any], Any]:
        return {}


class Limit(_Frozen):
    """A rate cap: at most ``max`` calls per ``window`` per ``scope`` on one ``counter``."""

    counter: str
    window: Duration
    max: int = Field(ge=0)
    scope: Literal["grant", "session", "connection", "host", "tool", "global"] = "grant"
    count: Literal["allowed", "attempts"] = "allowed"

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        names = {"second": "1s", "minute": "60s", "hour": "3600s", "day": "86400s"}
        return names.get(value, value) if isinstance(value, str) else value


class IntervalRule(_Frozen):
    """Bounds on how often scheduled work repeats (backgroundExecute)."""

    min: Duration | None = None
    max: Duration | None = None
    default: Duration | None = Field(default=None, description="injected when the call has none")


class BackgroundRule(_Frozen):
    """How many scheduled tasks may run, for how long, and how long each run may take.

    ``run_timeout``: sshwall forwards the command wrapped in ``timeout -k KILL_AFTER RUN_TIMEOUT``
    (its own words; the decision is made on the agent's command), so every run ends within
    ``run_timeout + kill_after``. That bound must stay below the interval, so runs never overlap
    on an upstream whose timer does not wait for the previous run (docs/limits.md).
    """

    max_active: int | None = Field(default=None, ge=0)
    max_active_total: int | None = Field(default=None, ge=0)
    ttl: Duration | None = None
    max_runs: int | None = Field(default=None, ge=1, description="cap on ttl / interval")
    run_timeout: Duration | None = Field(default=None, description="each run is killed after this long")
    kill_after: Duration = Field(default=5000, description="grace between TERM and KILL of a run over its time")

    @model_validator(mode="after")
    def _run_bound(self) -> BackgroundRule:
        if self.run_timeout is not None and self.run_timeout < 1000:
            raise ValueError("background.run_timeout must be at least 1s")
        if self.run_timeout is not None and self.kill_after < 1000:
            raise ValueError("background.kill_after must be at least 1s")
        return self

    @property
    def run_bound(self) -> int | None:
        """The longest a run can last (ms) under ``run_timeout``, or None when runs are unbounded."""
        return None if self.run_timeout is None else self.run_timeout + self.kill_after


class TerminalRule(_Frozen):
    """How terminal keystrokes are checked: each completed line as a command of a set."""

    commands: str
    allow_control: tuple[Literal["ctrl-c", "ctrl-d", "ctrl-l", "ctrl-u", "ctrl-z", "backspace"], ...] = Field(
        default=(), description="control keys allowed; tab and escape never are (their effect is unknown)"
    )


class PathRules(_Frozen):
    """Globs a file-transfer path must match (allow) and must not match (deny)."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


class TunnelRule(_Frozen):
    """Which remote host:port pairs a tunnel may reach, and which local ports it may bind."""

    remote: tuple[str, ...] = Field(default=(), description="'host:port' or 'host:lo-hi' globs")
    local_ports: tuple[str, ...] = Field(default=(), description="'port' or 'lo-hi'")

    @field_validator("remote")
    @classmethod
    def _remote(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            host, sep, ports = item.rpartition(":")
            if not sep or not host:
                raise ValueError(f"{item!r}: write host:port or host:lo-hi")
            _port_range(ports)
        return value

    @field_validator("local_ports")
    @classmethod
    def _local(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            _port_range(item)
        return value


def _port_range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    if not lo.isdigit() or not (hi or lo).isdigit():
        raise ValueError(f"{text!r} is not a port or a port range lo-hi")
    first, last = int(lo), int(hi or lo)
    if not 0 < first <= last <= 65535:
        raise ValueError(f"{text!r} is not a port range within 1-65535")
    return first, last


ToolDecision = Literal["allow", "prompt", "deny", "hide"]


class ToolRule(_Frozen):
    """What one tool may do."""

    decision: ToolDecision = "allow"
    reason: str | None = None
    commands: str | None = Field(default=None, description="command set name, or 'any'")
    interval: IntervalRule | None = None
    background: BackgroundRule | None = None
    limits: tuple[Limit, ...] = ()
    remote_paths: PathRules | None = None
    local_paths: PathRules | None = None
    tunnels: TunnelRule | None = None
    terminal: TerminalRule | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"decision": value}
        return value

    @model_validator(mode="after")
    def _runs_below_interval(self) -> ToolRule:
        bound = self.background.run_bound if self.background else None
        least = self.interval.min if self.interval else None
        if bound is not None and least is not None and bound >= least:
            raise ValueError(
                f"background.run_timeout + kill_after ({bound} ms) must be below interval.min ({least} ms), "
                "or runs could overlap"
            )
        return self


class HostGroup(_Frozen):
    """A group of SSH targets and who may log in there, with the keys they must present.

    ``match`` holds exact names, wildcards (``*.staging.internal``) and CIDR ranges
    (``10.20.0.0/16``, ``::1/128``); a name is also resolved and its addresses checked against
    the CIDR entries of every group, so a name cannot smuggle a forbidden address in.
    """

    match: tuple[str, ...]
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


class Grant(_Frozen):
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


class Example(_Frozen):
    """A call the policy must decide as ``expect``: the policy's own test suite."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    expect: Decision
    why: str | None = None


class Policy(_Frozen):
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
