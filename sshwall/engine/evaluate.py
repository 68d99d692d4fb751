"""``evaluate(policy, call) -> Verdict``: the decision for one tool call.

Pure and deterministic: no I/O, no clock, no network. Stateful checks (rate caps, background
tasks, connection bindings, host keys) happen in the proxy and can only make a verdict stricter.

The call's arguments are type-checked first (``sshwall.engine.argtypes``); then each argument's
meaning is checked: commands (``sshwall.engine.commands``), terminal input, and the tool rule's
intervals, transfer paths and tunnels (``sshwall.engine.toolrules``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sshwall.analysis import Analysis, analyse
from sshwall.engine.argtypes import check_types, number_problem, type_ok
from sshwall.engine.autopassword import terminal_problems
from sshwall.engine.commands import check_commands
from sshwall.engine.conditions import intercept_hits
from sshwall.engine.keystrokes import Keystrokes, replay
from sshwall.engine.rewrites import (
    SAVED_FALLBACK,
    ConnectionFacts,
    connect_problems,
    rewrite_sudo,
    stdin_problem,
    sudo_triggered,
    tmux_problems,
)
from sshwall.engine.toolrules import default_path_hits, interval_hits, path_hits, tunnel_hits
from sshwall.engine.verdict import Hit, ToolCall, Verdict
from sshwall.engine.workdir import Workdir, places_for
from sshwall.policy.base import Decision
from sshwall.policy.compiled import ToolPlan
from sshwall.policy.model import Policy
from sshwall.policy.tools import ToolRule
from sshwall.profiles import SudoPasswordRewrite, ToolProfile


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
        if check_types(prof.arguments, call.arguments, call.name, rid, "", self.hits):
            self.meaning(prof, rule, rid)
        return Verdict.of(self.hits)

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
                self.hits.extend(default_path_hits(name, spec, args, rule, rid, self.upstream_home))
            elif spec.kind == "command" and value is not None:
                self.command(name, value, rule, args.get(workdir))
            elif spec.kind == "terminal-input" and value is not None:
                self.terminal(value, rule, rid, self.keystrokes if name == self.plan.first("terminal-input") else None)
            elif spec.kind == "interval":
                self.hits.extend(interval_hits(self.plan, rule, rid, args))
            elif spec.kind in ("remote-path", "local-path") and isinstance(value, str):
                self.hits.extend(path_hits(name, value, spec.kind, rule, rid))
            elif spec.kind == "files" and spec.items and isinstance(value, list):
                for i, item in enumerate(value):
                    for key, item_spec in spec.items.items():
                        if item_spec.kind == "local-path" and item_spec.default_path and not item.get(key):
                            self.hits.extend(default_path_hits(f"{name}[{i}].{key}", item_spec, item, rule, rid,
                                                               self.upstream_home))
                        elif item_spec.kind in ("remote-path", "local-path") and isinstance(item.get(key), str):
                            self.hits.extend(path_hits(f"{name}[{i}].{key}", item[key], item_spec.kind, rule, rid))
        if rule.tunnels is not None:
            self.hits.extend(tunnel_hits(self.plan, rule, rid, args))

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
        verdict = ev.run()
        extra = intercept_hits(policy.intercept, call)  # an Intercept policy's rules: only ever stricter
        return verdict if not extra else Verdict.of([*verdict.hits, *extra])
    except Exception as err:  # noqa: BLE001 - an engine bug must deny, never allow
        return Verdict.of([Hit("engine.error", Decision.DENY, f"internal error while deciding: {type(err).__name__}: {err}")])


__all__ = ["ConnectionFacts", "Workdir", "effective_interval", "evaluate", "number_problem", "type_ok"]

