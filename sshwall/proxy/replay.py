"""Replay an audit log under another policy: decide every recorded call again, say what changes.

``replay(lines, policy)`` reads the records of an audit log in order and decides each decision
record's call again under ``policy``, the way a gateway would have decided it (see
docs/shadow-replay.md):

- by the firewall's pure stages (``Firewall``'s ``pure``, what ``preview`` runs), under the
  record's identity and its grant; a connect's host rules (and the grant's host groups) too,
  its host key not (that is the machine's, not the call's);
- where the call lands: connection ids are bound again while replaying in order, each from a
  connect that succeeded (its outcome record says ``ok``) and that ``policy`` does not deny,
  to the id Mcp Ssh derives from the connect's arguments (``expected_id``); a
  ``deleteConnection`` forgets it, a ``password-probe`` notice that found a password marks
  it; an id never seen opened is what it is to the gateway, an unknown connection;
- never guessing a secret: a call with the audit log's redaction marker in any argument is
  ``not-replayed`` ("depends on redacted values"); so is a call on a terminal session or a
  tunnel the log never bound (their ids come from replies, which the log does not hold).

What a gateway adds to the policy's verdict by its state (rate caps, task caps, approvals,
host keys, audit failures) is not replayed: a record denied only by those counts as the
policy's ``allow`` (or ``prompt``, when it waited on an approval), and their rule ids are left
out when rules are compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sshwall.audit import REDACTED
from sshwall.audit.record import parse_line
from sshwall.audit.redact import NOT_AN_OBJECT
from sshwall.audit.tail import summarize
from sshwall.engine import Decision
from sshwall.policy import Policy
from sshwall.proxy.bindings import Binding
from sshwall.proxy.caller import Caller
from sshwall.proxy.connects import connect_target, expected_id, password_state, typed_problem
from sshwall.proxy.firewall import Firewall
from sshwall.proxy.stages import Call, Outcome, Pipeline
from sshwall.proxy.targetguard import TargetGuard
from sshwall.targets import match_target, system_resolve

Change = Literal["same", "newly-denied", "newly-allowed", "newly-prompt", "other-reasons", "not-replayed"]
CHANGES: tuple[Change, ...] = ("newly-denied", "newly-allowed", "newly-prompt", "other-reasons", "not-replayed", "same")
"""Every kind of change, in the order reports list them."""

REDACTED_NOTE = "depends on redacted values: not replayed"
_STATEFUL = ("limits.", "state.", "approval.", "audit.", "identity.task-owner", "engine.error")


def stateful(rule: str) -> bool:
    """Whether a rule id comes from a gateway's state (rate caps, approvals...), not the policy."""
    return rule.startswith(_STATEFUL) or rule.endswith(".host_key")


@dataclass(frozen=True)
class Replayed:
    """One decision record decided again: what it was, what it is now, and the change."""

    seq: int
    tool: str
    identity: str | None
    summary: str
    old: str
    old_rules: tuple[str, ...]
    change: Change
    new: str | None = None
    new_rules: tuple[str, ...] = ()
    new_reasons: tuple[str, ...] = ()
    note: str | None = None

    @property
    def rule(self) -> str:
        """The rule a report groups it by: the one that denies now (newly allowed: the one
        that denied before)."""
        rules = self.old_rules if self.change == "newly-allowed" else self.new_rules
        return rules[0] if rules else "-"

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` shape of one call."""
        return {"seq": self.seq, "tool": self.tool, "identity": self.identity, "change": self.change,
                "summary": self.summary, "old": {"decision": self.old, "rules": list(self.old_rules)},
                "new": None if self.new is None else {"decision": self.new, "rules": list(self.new_rules),
                                                      "reasons": list(self.new_reasons)},
                "note": self.note}


@dataclass(frozen=True)
class ReplayReport:
    """Every decision record replayed, in order, and the lines that were no record."""

    calls: tuple[Replayed, ...]
    unreadable: tuple[str, ...] = ()
    revision: str = ""

    def counts(self) -> dict[str, int]:
        """How many calls of each kind of change."""
        return {c: sum(1 for r in self.calls if r.change == c) for c in CHANGES}

    def groups(self) -> list[tuple[Change, str, str, list[Replayed]]]:
        """The changed (and not replayed) calls by change, tool and rule, biggest first."""
        table: dict[tuple[Change, str, str], list[Replayed]] = {}
        for r in self.calls:
            if r.change != "same":
                table.setdefault((r.change, r.tool, r.rule if r.change != "not-replayed" else r.note or "-"), []).append(r)
        order = {c: i for i, c in enumerate(CHANGES)}
        return [(c, t, rule, rs) for (c, t, rule), rs in sorted(table.items(), key=lambda kv: (order[kv[0][0]], -len(kv[1]), kv[0][1:]))]

    @property
    def breaks(self) -> bool:
        """Whether a call that was allowed is now denied (``sshwall replay`` exits 1)."""
        return any(r.old == "allow" and r.new == "deny" for r in self.calls)


def _holds_marker(value: Any) -> bool:
    if isinstance(value, str):
        return REDACTED in value
    if isinstance(value, Mapping):
        return any(_holds_marker(k) or _holds_marker(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_marker(v) for v in value)
    return False


def _old(record: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The policy's decision as the record shows it, and its policy rules (stateful ones out)."""
    decision = str(record.get("decision", "deny"))
    rules = tuple(str(r) for r in record.get("rules") or ())
    policy_rules = tuple(r for r in rules if not stateful(r))
    if record.get("approval") is not None or any(r.startswith("approval.") for r in rules):
        return "prompt", ()  # it waited on an approval: the policy said prompt
    if decision == "deny" and rules and not policy_rules:
        return "allow", ()  # denied by the gateway's state only
    return decision, policy_rules


def _compare(old: str, old_rules: tuple[str, ...], new: str, new_rules: tuple[str, ...]) -> Change:
    if old != new:
        return "newly-denied" if new == "deny" else "newly-allowed" if new == "allow" else "newly-prompt"
    if old_rules and set(old_rules) != {r for r in new_rules if not stateful(r)}:
        return "other-reasons"
    return "same"


@dataclass
class _Replayer:
    policy: Policy
    firewall: Firewall = field(init=False)
    outcomes: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Host keys are not replayed: the targets' view of the policy checks none, and no TOFU file.
        keyless = self.policy.model_copy(update={"host_key_check": "off", "tofu_file": None})
        self.firewall = Firewall(self.policy, _never_sends, targets=TargetGuard(keyless))
        self.pure = Pipeline(self.firewall.pure)

    @property
    def bindings(self) -> Any:
        return self.firewall.targets.bindings

    def effect(self, tool: str) -> str | None:
        plan = self.policy.plan.tool(tool)
        return plan.effect if plan is not None else None

    async def one(self, rec: Mapping[str, Any]) -> Replayed:
        tool = str(rec.get("tool", ""))
        args: Any = rec.get("arguments")
        if isinstance(args, Mapping) and set(args) in ({NOT_AN_OBJECT}, {"(arguments)"}):
            args = next(iter(args.values()))
        identity = rec.get("identity") if isinstance(rec.get("identity"), str) else None
        seq = int(rec["seq"])
        old, old_rules = _old(rec)
        base = Replayed(seq, tool, identity, summarize(rec.get("arguments")), old, old_rules, "same")
        ok = self.outcomes.get(seq) == "ok"
        if "input.malformed" in (rec.get("rules") or ()):
            return replace(base, new="deny", new_rules=("input.malformed",))
        if _holds_marker(args):
            if ok and old != "deny":
                self.learn(tool, args if isinstance(args, Mapping) else {}, identity, redacted=True)
            return replace(base, change="not-replayed", note=REDACTED_NOTE)
        caller = Caller(identity or "local", "replay")
        call = self.pure.preview(Call.start(self.policy, {"name": tool, "arguments": args}, caller))
        verdict = await self.firewall.targets.check_connect(call.tool, call.args, call.verdict, identity)
        if call.where.problem is not None and call.where.rule == "hosts.unknown-connection" and \
                "hosts.unknown-connection" not in old_rules and not self._names_connection(tool, call.args):
            return replace(base, change="not-replayed",
                           note="a terminal session or tunnel id from a reply the audit log does not hold")
        new = verdict.decision.value
        if ok and verdict.decision != Decision.DENY:
            self.learn(tool, call.args, identity)
            await self.firewall.pure.terminal.after(call, Outcome("ok", True))
        return replace(base, change=_compare(old, old_rules, new, tuple(verdict.rules)), new=new,
                       new_rules=tuple(verdict.rules), new_reasons=tuple(verdict.reasons))

    def _names_connection(self, tool: str, args: Mapping[str, Any]) -> bool:
        plan = self.policy.plan.tool(tool)
        return plan is not None and plan.value("connection", args) is not None

    def learn(self, tool: str, args: Mapping[str, Any], identity: str | None, redacted: bool = False) -> None:
        """What a successful call taught the gateway about ids (its reply aside)."""
        effect = self.effect(tool)
        plan = self.policy.plan.tool(tool)
        if effect == "delete-connection" and plan is not None:
            self.bindings.delete(plan.value("connection", args))
        if effect != "connect" or plan is None or plan.profile is None:
            return
        target, cid = connect_target(self.policy, tool, args), expected_id(self.policy, tool, args)
        if target is None or cid is None:
            return
        group = None
        if self.policy.hosts:
            match = match_target(self.policy, target, system_resolve)
            if match.problem is not None:
                return
            group = match.group
        old = self.bindings.of_connection(cid)
        password, saved = password_state(self.policy, plan.profile, args, old)
        typed = "the connect's password is redacted in the audit log" if redacted else \
            typed_problem(self.policy, plan.profile, args, old, group)
        self.bindings.bind(Binding(cid, target.host, target.port, target.user, group, password, saved, typed))
        if identity is not None and self.bindings.owner("connection", cid) is None:
            self.bindings.own("connection", cid, identity)

    def notice(self, rec: Mapping[str, Any]) -> None:
        """A password probe that found a password: the connection holds one."""
        if rec.get("kind") == "password-probe" and rec.get("detail") == "holds a password":
            plan = self.policy.plan.tool(str(rec.get("tool", "")))
            conn = plan.value("connection", rec) if plan is not None else None
            if isinstance(conn, str):
                self.bindings.password_unknown(conn)


async def _never_sends(method: str, params: Any, *, client_id: Any = None) -> Any:
    raise RuntimeError("replay sends nothing upstream")


def read_records(lines: Iterable[bytes]) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of an audit log's lines, and a note for each line that is none."""
    records: list[dict[str, Any]] = []
    bad: list[str] = []
    for n, line in enumerate(lines, start=1):
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        rec = parse_line(line)
        if isinstance(rec, str):
            bad.append(f"line {n}: {rec}")
        else:
            records.append(rec)
    return records, bad


async def replay(lines: Iterable[bytes], policy: Policy) -> ReplayReport:
    """Decide every decision record of an audit log's ``lines`` again under ``policy``."""
    records, bad = read_records(lines)
    replayer = _Replayer(policy)
    for rec in records:
        if rec.get("kind") == "outcome" and isinstance(rec.get("ref"), int):
            replayer.outcomes[rec["ref"]] = str(rec.get("upstream"))
    identities = {rec.get("identity") for rec in records if rec.get("kind", "decision") == "decision"}
    replayer.firewall.identities.shared = len(identities) > 1
    calls = []
    for rec in records:
        if rec.get("kind", "decision") == "decision":
            calls.append(await replayer.one(rec))
        else:
            replayer.notice(rec)
    return ReplayReport(tuple(calls), tuple(bad), policy.revision)


__all__ = ["CHANGES", "REDACTED_NOTE", "Change", "ReplayReport", "Replayed", "read_records", "replay", "stateful"]
