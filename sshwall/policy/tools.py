"""Tool rules: what one tool may do (rate caps, intervals, background tasks, paths, tunnels, terminals)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sshwall.policy.base import Frozen
from sshwall.policy.durations import Duration


class Limit(Frozen):
    """A rate cap: at most ``max`` calls per ``window`` per ``scope`` on one ``counter``.

    ``align: calendar`` makes it a counter of fixed windows aligned on UTC boundaries (a
    ``minute`` window resets at each UTC minute, ``day`` at midnight UTC) instead of a sliding
    window; such a counter may add ``amount`` per allowed call, or the number at the argument
    path ``amount_from`` (``a.b``: a non-negative whole number, else the call is denied).
    ``reason`` replaces the default denial text (PolicyLayer Intercept's ``on_deny``).
    """

    counter: str
    window: Duration
    max: int = Field(ge=0)
    scope: Literal["grant", "session", "connection", "host", "tool", "global"] = "grant"
    count: Literal["allowed", "attempts"] = "allowed"
    align: Literal["sliding", "calendar"] = "sliding"
    amount: int = Field(default=1, ge=0)
    amount_from: str | None = Field(default=None, min_length=1)
    reason: str | None = None

    @model_validator(mode="after")
    def _calendar_only(self) -> Limit:
        if self.align != "calendar" and (self.amount != 1 or self.amount_from is not None):
            raise ValueError("amount and amount_from need align: calendar")
        if self.amount_from is not None and self.count != "allowed":
            raise ValueError("amount_from counts allowed calls only (count: allowed)")
        return self

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        names = {"second": "1s", "minute": "60s", "hour": "3600s", "day": "86400s"}
        return names.get(value, value) if isinstance(value, str) else value


class IntervalRule(Frozen):
    """Bounds on how often scheduled work repeats (backgroundExecute)."""

    min: Duration | None = None
    max: Duration | None = None
    default: Duration | None = Field(default=None, description="injected when the call has none")


class BackgroundRule(Frozen):
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


class TerminalRule(Frozen):
    """How terminal keystrokes are checked: each completed line as a command of a set."""

    commands: str
    allow_control: tuple[Literal["ctrl-c", "ctrl-d", "ctrl-l", "ctrl-u", "ctrl-z", "backspace"], ...] = Field(
        default=(), description="control keys allowed; tab and escape never are (their effect is unknown)"
    )


class PathRules(Frozen):
    """Globs a file-transfer path must match (allow) and must not match (deny)."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


class TunnelRule(Frozen):
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


class ToolRule(Frozen):
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
