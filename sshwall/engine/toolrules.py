"""A tool rule's checks on argument values: interval bounds, file-transfer paths, tunnel targets.

Each check returns the deny hits it finds, in order (none: nothing to say), for
``sshwall.engine.evaluate`` to add to the call's verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from sshwall.engine.paths import escape, is_literal_path, normalise, overlap
from sshwall.engine.verdict import Hit
from sshwall.policy.base import Decision
from sshwall.policy.compiled import ToolPlan
from sshwall.policy.durations import format_duration
from sshwall.policy.tools import PathRules, ToolRule
from sshwall.profiles import ArgSpec
from sshwall.profiles.nodepath import default_path

__all__ = ["MAX_INTERVAL_MS", "default_path_hits", "interval_hits", "path_hits", "tunnel_hits"]

MAX_INTERVAL_MS = 366 * 86_400_000


def interval_hits(plan: ToolPlan, rule: ToolRule, rid: str, arguments: Mapping[str, Any]) -> list[Hit]:
    """The call's interval (the upstream's default when it gives none) against the rule's bounds,
    and against the longest a background run may last (runs must not overlap)."""
    hits: list[Hit] = []

    def deny(rule_id: str, reason: str) -> None:
        hits.append(Hit(rule_id, Decision.DENY, reason))

    value = plan.interval_ms(arguments)
    given = plan.value("interval", arguments)
    if value is None:
        deny(f"{rid}.interval", f"interval `{given!r}` is not a whole number of milliseconds")
        return hits
    missing = " (none given: the upstream default)" if given is None else ""
    if value <= 0:
        deny(f"{rid}.interval", f"interval {given!r} ms must be at least 1 ms (Node runs shorter timers every millisecond)")
    elif value > MAX_INTERVAL_MS:
        deny(f"{rid}.interval", f"interval {value} ms is absurdly long")
    bound = rule.background.run_bound if rule.background is not None else None
    overlaps = plan.schedule.overlap if plan.schedule is not None else True
    below_min = rule.interval is not None and rule.interval.min is not None and value < rule.interval.min
    # Below interval.min already denies (and the policy keeps the bound below that minimum).
    if overlaps and bound is not None and 0 < value <= bound and not below_min:
        deny(f"{rid}.background.run_timeout",
             f"interval {format_duration(value)}{missing} is not above the longest a run may last "
             f"({format_duration(bound)}: run_timeout + kill_after): the upstream starts a run every "
             "interval without waiting for the previous one, so runs would overlap")
    bounds = rule.interval
    if bounds is None or value <= 0:
        return hits
    if bounds.min is not None and value < bounds.min:
        deny(f"{rid}.interval", f"interval {format_duration(value)}{missing} is below the minimum {format_duration(bounds.min)}")
    if bounds.max is not None and value > bounds.max:
        deny(f"{rid}.interval", f"interval {format_duration(value)} is above the maximum {format_duration(bounds.max)}")
    return hits


def path_hits(name: str, value: str, kind: str, rule: ToolRule, rid: str) -> list[Hit]:
    """A file-transfer path (``kind``: remote-path or local-path) against the rule's path globs:
    absolute, without ``..``, outside every denied glob, under an allowed one."""
    rules: PathRules | None = rule.remote_paths if kind == "remote-path" else rule.local_paths
    if rules is None:
        return []
    segs = normalise(escape(value), None)
    if not value.startswith("/") or not is_literal_path(segs) or "/../" in f"{value}/":
        return [Hit(f"{rid}.paths", Decision.DENY, f"{kind} `{name}` = `{value}` must be an absolute path without `..`")]
    for pattern in rules.deny:
        if overlap(segs, normalise(pattern, None)):
            return [Hit(f"{rid}.paths", Decision.DENY, f"{kind} `{value}` matches denied path `{pattern}`")]
    if rules.allow and not any(overlap(segs, normalise(p, None)) for p in rules.allow):
        return [Hit(f"{rid}.paths", Decision.DENY, f"{kind} `{value}` is not under an allowed path")]
    return []


def default_path_hits(name: str, spec: ArgSpec, siblings: Mapping[str, Any], rule: ToolRule, rid: str,
                      upstream_home: str | None) -> list[Hit]:
    """A missing local path is the upstream's default one (under ``upstream_home``): check that path."""
    if rule.local_paths is None or spec.default_path is None:
        return []
    found = default_path(spec.default_path, siblings, upstream_home)
    if found.path is None:
        return [Hit(f"{rid}.paths", Decision.DENY,
                    f"without `{name}` the upstream writes to `{spec.default_path}` on the gateway's "
                    f"machine, and {found.problem}: give `{name}` explicitly")]
    hits = path_hits(name, found.path, "local-path", rule, rid)
    if hits:
        hits.append(Hit(f"{rid}.paths", Decision.DENY,
                        f"`{found.path}` is where the upstream writes without `{name}` (`{spec.default_path}`)"))
    return hits


def tunnel_hits(plan: ToolPlan, rule: ToolRule, rid: str, arguments: Mapping[str, Any]) -> list[Hit]:
    """A tunnel's remote host:port and local port against the rule's allowed ones."""
    assert rule.tunnels is not None
    hits: list[Hit] = []
    host, port, local = plan.value("host", arguments), plan.value("port", arguments), plan.value("local-port", arguments)
    if isinstance(port, float) and port.is_integer():
        port = int(port)  # a JSON number: 5432.0 is port 5432
    if host is not None and port is not None:
        target = f"{str(host).lower()}:{port}"
        if not any(_host_port_match(target, allowed) for allowed in rule.tunnels.remote):
            hits.append(Hit(f"{rid}.tunnels", Decision.DENY, f"tunnel target `{target}` is not allowed"))
    if local is not None and not any(_port_in(local, r) for r in rule.tunnels.local_ports):
        hits.append(Hit(f"{rid}.tunnels", Decision.DENY, f"local port {local} is not in the allowed ranges"))
    return hits


def _port_in(port: Any, spec: str) -> bool:
    if isinstance(port, float) and port.is_integer():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool):
        return False
    lo, _, hi = spec.partition("-")
    return int(lo) <= port <= int(hi or lo)


def _host_port_match(target: str, allowed: str) -> bool:
    host, _, port = target.rpartition(":")
    a_host, _, a_ports = allowed.rpartition(":")
    return port.isdigit() and fnmatchcase(host, a_host.lower()) and _port_in(int(port), a_ports)
