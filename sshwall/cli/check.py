"""``sshwall check``: one decision, or one per line of a batch, by the gateway's own stage.

Each call is decided by ``Firewall.preview``, the stateless part of what ``sshwall serve``
does with a ``tools/call`` (the policy, the host group's command set, the identity's grant,
whose ids the call names), on a gateway where the call's connection was opened through
sshwall with a key (no password) to a host of ``--group`` (none: the policy's own command
sets), in the folder ``--cwd`` with the home ``--home``. Nothing is forwarded or recorded.

Exit codes of a single decision: 0 allow, 1 deny, 3 prompt, 2 bad usage or bad policy.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any, TextIO

from sshwall.engine import Decision, Hit, ToolCall, Verdict, load_checked
from sshwall.engine.workdir import Workdir
from sshwall.errors import UsageError
from sshwall.policy import Policy, default_policy_path
from sshwall.profiles import ArgKind
from sshwall.proxy.bindings import Binding
from sshwall.proxy.firewall import Caller, Firewall

EXIT = {Decision.ALLOW: 0, Decision.DENY: 1, Decision.PROMPT: 3}
CLI_ID = "cli"
"""The connection and session id a single ``check`` fills in for the tool's required ones."""


async def _no_forward(method: str, params: Any, *, client_id: Any = None) -> Any:
    raise AssertionError("sshwall check forwards nothing")  # preview never forwards


class Decider:
    """Decides calls as ``sshwall serve`` would, on a fresh gateway, without side effects."""

    def __init__(self, policy: Policy, identity: str | None = "local") -> None:
        """``identity``: whose grant narrows each verdict; None: no one's (the policy for everyone)."""
        self.policy = policy
        # The empty name is no identity a policy can grant anything (grants are keyed by names).
        self.caller = Caller(identity="" if identity is None else identity, session="cli")
        self._firewall = Firewall(policy, _no_forward)

    def group(self, name: str | None) -> str | None:
        """``name`` checked against the policy's host groups (None stays None)."""
        if name is not None and name not in self.policy.hosts:
            known = ", ".join(self.policy.hosts) or "none"
            raise UsageError(f"--group {name!r}: the policy has no such host group (it has: {known})")
        return name

    def decide(self, call: ToolCall, workdir: Workdir | None = None, group: str | None = None) -> Verdict:
        """The verdict on ``call``, its connection in ``workdir`` on a host of ``group``."""
        assumed = self._assume(call.name, call.arguments, workdir or Workdir(), group)
        try:
            return self._firewall.preview({"name": call.name, "arguments": call.arguments}, self.caller)
        finally:  # each call on a fresh gateway: forget what was assumed for it
            if assumed is not None:
                self._firewall.targets.bindings.delete(assumed)

    def _assume(self, tool: str, args: Any, workdir: Workdir, group: str | None) -> str | None:
        """Bind the ids the call names as if this identity had opened them through sshwall;
        returns the connection id bound (None: nothing was)."""
        plan = self.policy.plan.tool(tool) if isinstance(tool, str) else None
        if plan is None or plan.profile is None or not isinstance(args, Mapping):
            return None
        bindings, identity = self._firewall.targets.bindings, self.caller.identity

        def named(kind: ArgKind) -> str | None:
            value = plan.value(kind, args)
            return value if isinstance(value, str) else None

        connection = named("connection") or CLI_ID
        bindings.bind(Binding(connection_id=connection, host=CLI_ID, port=22, user=CLI_ID, group=group,
                              cwd=workdir.cwd, home=workdir.home))
        bindings.own("connection", connection, identity)
        session, tunnel = named("session"), named("tunnel")
        if session is not None:
            bindings.bind_session(session, connection)
            bindings.own("session", session, identity)
        if tunnel is not None:
            bindings.bind_tunnel(tunnel, connection)
            bindings.own("tunnel", tunnel, identity)
        return connection


def _deny(reason: str) -> Verdict:
    return Verdict.of([Hit("input.malformed", Decision.DENY, reason)])


def decide_line(decider: Decider, line: str, workdir: Workdir | None = None, group: str | None = None) -> Verdict:
    """Decide one batch line; a malformed line is a deny, never an exception.

    A line's own ``cwd`` / ``home`` keys (strings) replace ``workdir``'s (the connection's
    folder and the user's home, as ``--cwd`` / ``--home`` give them); its ``group`` key
    replaces ``group`` (``--group``).
    """
    try:
        item = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as err:
        return _deny(f"line is not valid JSON: {err}")
    if not isinstance(item, dict):
        return _deny("line is not a JSON object")
    tool = item.get("tool")
    if not isinstance(tool, str):
        return _deny("line has no string `tool`")
    base = workdir or Workdir()
    cwd, home = item.get("cwd", base.cwd), item.get("home", base.home)
    for key, value in (("cwd", cwd), ("home", home)):
        if value is not None and not (isinstance(value, str) and value.startswith("/")):
            return _deny(f"line's `{key}` must be an absolute path")
    group = item.get("group", group)
    if group is not None and not (isinstance(group, str) and group in decider.policy.hosts):
        return _deny("line's `group` must name a host group of the policy")
    return decider.decide(ToolCall(tool, item.get("arguments", {})), Workdir(cwd, home), group)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def single_call(args: argparse.Namespace, policy: Policy) -> ToolCall:
    """The call ``--tool``, ``--arg`` and the words after ``--`` describe."""
    words = list(args.command)
    if words and words[0] == "--":
        words = words[1:]
    arguments: dict[str, Any] = {}
    plan = policy.plan.tool(args.tool)
    prof = plan.profile if plan is not None else None
    if plan is not None and prof is not None:
        for name, spec in prof.arguments.items():
            if spec.required and spec.kind in ("connection", "session"):
                arguments[name] = CLI_ID
        commands = plan.args("command") or plan.args("terminal-input")
        if commands and words:
            arguments[commands[0]] = " ".join(words)
    elif words:
        raise UsageError(f"tool {args.tool!r} is not in profile {policy.profile.name}; pass --arg")
    for item in args.arg:
        key, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f"--arg {item!r}: write KEY=VALUE")
        arguments[key] = _parse_value(value)
    return ToolCall(args.tool, arguments)


def _workdir(args: argparse.Namespace) -> Workdir:
    """``--cwd`` / ``--home`` as a Workdir (absolute paths only)."""
    for flag, value in (("--cwd", args.cwd), ("--home", args.home)):
        if value is not None and not value.startswith("/"):
            raise UsageError(f"{flag} {value!r}: give an absolute path")
    return Workdir(args.cwd, args.home)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``sshwall check``: exit 0 allow, 1 deny, 3 prompt (a batch: 0 once every line is out)."""
    policy = load_checked(args.rules or default_policy_path())
    workdir = _workdir(args)
    decider = Decider(policy, args.identity)
    group = decider.group(args.group)
    if args.batch is not None:
        if args.command:
            raise UsageError("give either --batch or a command, not both")
        with open(args.batch, encoding="utf-8") as src:
            for line in src:
                if line.strip():
                    out.write(json.dumps(decide_line(decider, line, workdir, group).to_json()) + "\n")
        return 0
    verdict = decider.decide(single_call(args, policy), workdir, group)
    if args.json:
        body = verdict.to_json()
        body["hits"] = [{"rule": h.rule, "decision": h.decision.value, "reason": h.reason} for h in verdict.hits]
        out.write(json.dumps(body, indent=2) + "\n")
    else:
        out.write(f"{verdict.decision.value}\n")
        for hit in verdict.deciding:
            out.write(f"  {hit.reason} (rule {hit.rule})\n")
    return EXIT[verdict.decision]
