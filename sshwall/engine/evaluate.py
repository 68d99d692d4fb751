"""``evaluate(policy, call) -> Verdict``: the decision for one tool call.

Pure and deterministic: no I/O, no clock, no network. Stateful checks (rate caps, background
tasks, connection bindings, host keys) happen in the proxy and can only make a verdict stricter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from sshwall.analysis import Analysis, analyse
from sshwall.engine.autopassword import terminal_problems
from sshwall.engine.commands import check_commands
from sshwall.engine.paths import escape, is_literal_path, normalise, overlap
from sshwall.engine.rewrites import (
    SAVED_FALLBACK,
    ConnectionFacts,
    connect_problems,
    rewrite_sudo,
    stdin_problem,
    sudo_triggered,
    tmux_problems,
)
from sshwall.engine.terminal import Keystrokes, replay
from sshwall.engine.verdict import Hit, ToolCall, Verdict
from sshwall.engine.workdir import Workdir, places_for
from sshwall.policy.compiled import ToolPlan
from sshwall.policy.durations import format_duration
from sshwall.policy.model import Decision, PathRules, Policy, ToolRule
from sshwall.profiles import ArgSpec, SudoPasswordRewrite, ToolProfile
from sshwall.profiles.nodepath import default_path

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict, Mapping),
}
MAX_INTERVAL_MS = 366 * 86_400_000


def type_ok(value: Any, json_type: str) -> bool:
    """True when ``value`` (decoded JSON) has the JSON Schema type ``json_type``."""
    if isinstance(value, bool) and json_type != "boolean":
        return False
    return isinstance(value, _JSON_TYPES[json_type])


def effective_interval(policy: Policy, call: ToolCall) -> int | None:
    """The interval (ms) a backgroundExecute-like call will really run at, default included."""
    plan = policy.plan.tool(call.name)
    if plan is None:
        return None
    return plan.interval_ms(call.arguments if isinstance(call.arguments, Mapping) else {})


class _Evaluation:
    def __init__(
        self,
        policy: Policy,
        call: ToolCall,
        analyses: Mapping[str, Analysis],
        command_set: str | None,
        typed: str,
        connection: ConnectionFacts | None,
        upstream_home: str | None = None,
    ) -> None:
        self.upstream_home = upstream_home
        self.workdir: Workdir | None = None  # set by evaluate()
        self.policy = policy
        self.call = call
        self.analyses = analyses
        self.command_set = command_set
        self.typed = typed
        self.keystrokes: Keystrokes | None = None  # set by evaluate()
        self.connection = connection
        self.hits: list[Hit] = []
        self.plan = policy.plan.tool(call.name) or ToolPlan(call.name, None, None)

    def deny(self, rule: str, reason: str) -> None:
        self.hits.append(Hit(rule, Decision.DENY, reason))

    def run(self) -> Verdict:
        p, call = self.policy, self.call
        plan = self.plan
        rule = plan.rule
        if rule is None:
            d = p.default
            what = "allows" if d == Decision.ALLOW else "denies" if d == Decision.DENY else "prompts for"
            return Verdict.of([Hit("default", d, f"tool `{call.name}` is not listed in policy {p.name}, whose default {what} it")])
        rid = f"tools.{call.name}"
        if rule.decision in ("deny", "hide"):
            return Verdict.of([Hit(rid, Decision.DENY, rule.reason or f"tool `{call.name}` is denied by policy {p.name}")])
        self.hits.append(Hit(rid, Decision(rule.decision), rule.reason or f"tool `{call.name}` is {rule.decision}ed by policy {p.name}"))
        if not isinstance(call.arguments, Mapping):
            self.deny(rid, f"arguments of `{call.name}` must be an object, not {type(call.arguments).__name__}")
            return Verdict.of(self.hits)
        prof = plan.profile
        if prof is None:
            if call.arguments and rule.commands is None:
                self.deny(rid, f"tool `{call.name}` is not in profile {p.profile.name}, so its arguments cannot be checked")
            return Verdict.of(self.hits)
        if self.arguments(prof.arguments, call.arguments, rid, ""):
            self.meaning(prof, rule, rid)
        return Verdict.of(self.hits)

    def arguments(self, specs: Mapping[str, ArgSpec], args: Mapping[str, Any], rid: str, where: str) -> bool:
        """Type-check arguments against the profile; False when any is wrong."""
        ok = True
        for name, value in args.items():
            spec = specs.get(name)
            if spec is None:
                self.deny(rid, f"argument `{where}{name}` is not in the profile of `{self.call.name}`")
                ok = False
            elif value is None and not spec.required:
                continue
            elif not type_ok(value, spec.type):
                self.deny(rid, f"argument `{where}{name}` must be {spec.type}, not {type(value).__name__}")
                ok = False
            elif spec.type in ("number", "integer") and (problem := number_problem(value, spec)) is not None:
                self.deny(f"{rid}.interval" if spec.kind == "interval" else rid, f"argument `{where}{name}` = {value!r} {problem}")
                ok = False
            elif spec.items is not None:
                for i, item in enumerate(value):
                    if not isinstance(item, Mapping):
                        self.deny(rid, f"argument `{where}{name}[{i}]` must be an object")
                        ok = False
                    elif not self.arguments(spec.items, item, rid, f"{where}{name}[{i}]."):
                        ok = False
        for name, spec in specs.items():
            if spec.required and args.get(name) is None:
                self.deny(rid, f"required argument `{where}{name}` is missing")
                ok = False
        return ok

    def meaning(self, prof: ToolProfile, rule: ToolRule, rid: str) -> None:
        args = self.call.arguments
        if prof.effect == "connect":
            for problem in connect_problems(prof, args, self.policy.plan.rewrites_password):
                self.deny(f"{rid}.password-rewrite", problem)
        for rw in self.plan.auto_password:
            keys = rule.terminal.allow_control if rule.terminal else ()
            data = args.get(rw.argument) if rw.argument else None
            for problem in terminal_problems(rw, self.connection, data, keys, self.typed):
                self.deny(f"{rid}.auto-password", problem)
        workdir = self.plan.role("workdir") or "cwd"
        for name, spec in prof.arguments.items():
            value = args.get(name)
            if spec.kind == "local-path" and spec.default_path and not value:
                self.default_local_path(name, spec, args, rule, rid)
            elif spec.kind == "command" and value is not None:
                self.command(name, value, rule, args.get(workdir))
            elif spec.kind == "terminal-input" and value is not None:
                self.terminal(value, rule, rid, self.keystrokes if name == self.plan.first("terminal-input") else None)
            elif spec.kind == "interval":
                self.interval(rule, rid)
            elif spec.kind in ("remote-path", "local-path") and isinstance(value, str):
                self.transfer_path(name, value, spec.kind, rule, rid)
            elif spec.kind == "files" and spec.items and isinstance(value, list):
                for i, item in enumerate(value):
                    for key, item_spec in spec.items.items():
                        if item_spec.kind == "local-path" and item_spec.default_path and not item.get(key):
                            self.default_local_path(f"{name}[{i}].{key}", item_spec, item, rule, rid)
                        elif item_spec.kind in ("remote-path", "local-path") and isinstance(item.get(key), str):
                            self.transfer_path(f"{name}[{i}].{key}", item[key], item_spec.kind, rule, rid)
        if rule.tunnels is not None:
            self.tunnel(rule, rid)

    def command(self, name: str, text: str, rule: ToolRule, cwd: Any) -> None:
        set_name = self.command_set or rule.commands
        if set_name in (None, "any"):
            return
        cs = self.policy.commands.get(set_name)
        if cs is None:
            self.deny(f"tools.{self.call.name}", f"command set {set_name!r} does not exist")
            return
        rid = f"tools.{self.call.name}"
        for rw in self.plan.tmux:
            # Over the length cap the analysis refuses the text anyway; the upstream's patterns
            # are not run over a megabyte.
            if rw.argument == name and len(text) <= cs.max_length:
                force = self.call.arguments.get(rw.force_argument) if rw.force_argument else None
                for problem in tmux_problems(rw, text, force):
                    self.deny(f"{rid}.tmux-followups", problem)
        sudo = self.plan.sudo.get(name)
        password = self.connection.password if self.connection is not None else "none"
        if password == "maybe-saved" and not (sudo is not None and sudo.saved_password_fallback):
            password = "none"  # this upstream does not fall back to a saved password
        if sudo is not None and password != "none" and sudo_triggered(sudo, text):
            self.rewritten_command(sudo, text, set_name, cwd)
            if password != "maybe-saved":
                return
            # Maybe rewritten (a saved password), maybe not (none saved): decided on both forms.
        a = self.analyses.get(name) or analyse(text, cs.max_length, cs.max_depth)
        self.hits.extend(check_commands(set_name, cs, a, places_for(self.workdir, cwd, a), scheduled=self.plan.scheduled))

    def rewritten_command(self, rw: SudoPasswordRewrite, text: str, set_name: str, cwd: Any) -> None:
        """Decide on what the upstream runs on a password connection: the rewritten command."""
        rid = f"tools.{self.call.name}.sudo-rewrite"
        cs = self.policy.commands[set_name]
        if self.connection is None or self.connection.password == "unknown":
            self.deny(rid, f"on this connection the upstream may hold a password sshwall never saw, and it rewrites sudo "
                           f"commands to `{rw.template}`: what would run cannot be checked (a connect through sshwall with a key, "
                           f"and no password, makes the connection known)")
            return
        out = rewrite_sudo(rw, text, cs.max_length, cs.max_depth)
        if out.problem is not None or out.analysis is None:
            self.deny(rid, out.problem or "the rewritten command cannot be analysed")
            return
        saved = self.connection.password == "maybe-saved"
        for c in out.first:
            problem = stdin_problem(c)
            if problem is not None and saved:
                self.deny(rid, f"the upstream may pipe a saved password into the first command (`{rw.template}`): "
                               f"{SAVED_FALLBACK}; and {problem}: it could print the saved password")
                break
            if problem is not None:
                self.deny(rid, f"the upstream pipes the connection's password into the first command (`{rw.template}`), "
                               f"and {problem}: it could print the password")
                break
        hits = check_commands(set_name, cs, out.analysis, places_for(self.workdir, cwd, out.analysis),
                              scheduled=self.plan.scheduled)
        self.hits.extend(hits)
        if any(h.decision == Decision.DENY for h in hits):
            where = ("if it uses a saved password (sshwall decides on both forms)" if saved
                     else "on this password connection")
            self.deny(rid, f"decided on what the upstream really runs {where}: `{out.command}` inside `{rw.template}`")

    def terminal(self, data: str, rule: ToolRule, rid: str, replayed: Keystrokes | None = None) -> None:
        if rule.terminal is None:
            self.deny(rid, "terminal input has no terminal rule")
            return
        cs_name = self.command_set or rule.terminal.commands
        cs = self.policy.commands[cs_name]
        keys = replayed if replayed is not None else replay(data, rule.terminal.allow_control, self.typed)
        if keys.problem is not None:
            self.deny(f"{rid}.terminal", keys.problem)
            return
        # The unfinished line is checked too: a later keystroke may run it as it stands.
        for line in (*keys.lines, keys.pending):
            if line.strip():
                self.hits.extend(check_commands(cs_name, cs, analyse(line, cs.max_length, cs.max_depth), None))

    def interval(self, rule: ToolRule, rid: str) -> None:
        plan = self.plan
        value = plan.interval_ms(self.call.arguments)
        given = plan.value("interval", self.call.arguments)
        if value is None:
            self.deny(f"{rid}.interval", f"interval `{given!r}` is not a whole number of milliseconds")
            return
        missing = " (none given: the upstream default)" if given is None else ""
        if value <= 0:
            self.deny(f"{rid}.interval", f"interval {given!r} ms must be at least 1 ms (Node runs shorter timers every millisecond)")
        elif value > MAX_INTERVAL_MS:
            self.deny(f"{rid}.interval", f"interval {value} ms is absurdly long")
        bound = rule.background.run_bound if rule.background is not None else None
        overlap = plan.schedule.overlap if plan.schedule is not None else True
        below_min = rule.interval is not None and rule.interval.min is not None and value < rule.interval.min
        # Below interval.min already denies (and the policy keeps the bound below that minimum).
        if overlap and bound is not None and 0 < value <= bound and not below_min:
            self.deny(f"{rid}.background.run_timeout",
                      f"interval {format_duration(value)}{missing} is not above the longest a run may last "
                      f"({format_duration(bound)}: run_timeout + kill_after): the upstream starts a run every "
                      "interval without waiting for the previous one, so runs would overlap")
        bounds = rule.interval
        if bounds is None or value <= 0:
            return
        if bounds.min is not None and value < bounds.min:
            self.deny(f"{rid}.interval", f"interval {format_duration(value)}{missing} is below the minimum {format_duration(bounds.min)}")
        if bounds.max is not None and value > bounds.max:
            self.deny(f"{rid}.interval", f"interval {format_duration(value)} is above the maximum {format_duration(bounds.max)}")

    def transfer_path(self, name: str, value: str, kind: str, rule: ToolRule, rid: str) -> None:
        rules: PathRules | None = rule.remote_paths if kind == "remote-path" else rule.local_paths
        if rules is None:
            return
        segs = normalise(escape(value), None)
        if not value.startswith("/") or not is_literal_path(segs) or "/../" in f"{value}/":
            self.deny(f"{rid}.paths", f"{kind} `{name}` = `{value}` must be an absolute path without `..`")
            return
        for pattern in rules.deny:
            if overlap(segs, normalise(pattern, None)):
                self.deny(f"{rid}.paths", f"{kind} `{value}` matches denied path `{pattern}`")
                return
        if rules.allow and not any(overlap(segs, normalise(p, None)) for p in rules.allow):
            self.deny(f"{rid}.paths", f"{kind} `{value}` is not under an allowed path")

    def default_local_path(self, name: str, spec: ArgSpec, siblings: Mapping[str, Any], rule: ToolRule, rid: str) -> None:
        """A missing local path is the upstream's default one: check that path."""
        if rule.local_paths is None or spec.default_path is None:
            return
        found = default_path(spec.default_path, siblings, self.upstream_home)
        if found.path is None:
            self.deny(f"{rid}.paths", f"without `{name}` the upstream writes to `{spec.default_path}` on the gateway's "
                                      f"machine, and {found.problem}: give `{name}` explicitly")
            return
        before = len(self.hits)
        self.transfer_path(name, found.path, "local-path", rule, rid)
        if len(self.hits) > before:
            self.deny(f"{rid}.paths", f"`{found.path}` is where the upstream writes without `{name}` (`{spec.default_path}`)")

    def tunnel(self, rule: ToolRule, rid: str) -> None:
        assert rule.tunnels is not None
        args, plan = self.call.arguments, self.plan
        host, port, local = plan.value("host", args), plan.value("port", args), plan.value("local-port", args)
        if isinstance(port, float) and port.is_integer():
            port = int(port)  # a JSON number: 5432.0 is port 5432
        if host is not None and port is not None:
            target = f"{str(host).lower()}:{port}"
            if not any(_host_port_match(target, allowed) for allowed in rule.tunnels.remote):
                self.deny(f"{rid}.tunnels", f"tunnel target `{target}` is not allowed")
        if local is not None and not any(_port_in(local, r) for r in rule.tunnels.local_ports):
            self.deny(f"{rid}.tunnels", f"local port {local} is not in the allowed ranges")


def number_problem(value: Any, spec: ArgSpec) -> str | None:
    """Why a JSON number does not mean what it says to the upstream, if it does not."""
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number"
    if spec.whole and isinstance(value, float) and not value.is_integer():
        return "must be a whole number"
    if value < 0:
        return "must not be negative"
    if spec.minimum is not None and value < spec.minimum:
        return f"is below {_num(spec.minimum)}"
    if spec.maximum is not None and value > spec.maximum:
        extra = " (Node clamps timers above 2^31-1 ms to 1 ms)" if spec.maximum == 2**31 - 1 else ""
        return f"is above {_num(spec.maximum)}{extra}"
    return None


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


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


def evaluate(
    policy: Policy,
    call: ToolCall,
    analyses: Mapping[str, Analysis] | None = None,
    command_set: str | None = None,
    typed: str = "",
    connection: ConnectionFacts | None = None,
    upstream_home: str | None = None,
    workdir: Workdir | None = None,
    keystrokes: Keystrokes | None = None,
) -> Verdict:
    """Decide one tool call.

    ``analyses`` may carry precomputed analyses by argument name; ``command_set`` replaces the
    tool's command set (a host group's own set, for calls on a connection to that group);
    ``typed`` is what was typed earlier on the current line of a terminal session;
    ``connection`` what the gateway knows of the call's connection (whether the upstream may
    paste a password into its commands). Without it (``sshwall check``) the connection is taken
    to have no password, as nothing says otherwise; the gateway always passes it.
    ``upstream_home`` is the upstream process's home folder, where its default local paths
    lie (``ArgSpec.default_path``); without it a call relying on such a default is denied
    when local paths have rules.
    ``workdir`` is what is known of the connection's current folder and the user's home
    (``sshwall.engine.workdir``): relative paths, ``~`` and ``$HOME`` are resolved against it;
    without it they may lead anywhere.
    ``keystrokes`` is the tool's terminal input already replayed after ``typed`` with the
    terminal rule's allowed keys (the gateway replays it once and keeps the line it leaves).
    """
    try:
        ev = _Evaluation(policy, call, analyses or {}, command_set, typed, connection, upstream_home)
        ev.workdir = workdir
        ev.keystrokes = keystrokes
        return ev.run()
    except Exception as err:  # noqa: BLE001 - an engine bug must deny, never allow
        return Verdict.of([Hit("engine.error", Decision.DENY, f"internal error while deciding: {type(err).__name__}: {err}")])


__all__ = ["ConnectionFacts", "Workdir", "effective_interval", "evaluate", "number_problem", "type_ok"]

