"""``sshwall verify --rules F [--json] [--user U] [--key FILE] [--host NAME[:PORT] ...] [--timeout S]``.

Checks every host the policy names (exact names and IP literals of its host groups, on each of
the group's ports) plus the ``--host`` ones: policy decision, reachability, host key against
pins / known_hosts / TOFU records, offered algorithms, and with a key a login and the group's
canary command. Exit 0 when every check passed, 1 on any failure, 2 on bad usage or a bad policy.
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from sshwall.engine import Decision, ToolCall, evaluate, load_checked
from sshwall.errors import TargetError, UsageError
from sshwall.policy.hosts import HostGroup
from sshwall.policy.model import Policy
from sshwall.targets.match import find_group, policy_hosts
from sshwall.targets.survey import HostReport, VerifyOptions, verify_targets

EXIT_OK, EXIT_FAILED = 0, 1


def targets_of(policy: Policy, extra: list[tuple[str, int | None]]) -> list[tuple[str, int]]:
    """The (host, port) pairs to check, policy hosts first, without repeats."""
    seen: dict[tuple[str, int], None] = {}
    for group_name, host in policy_hosts(policy):
        for group_port in policy.hosts[group_name].ports:
            seen.setdefault((host, group_port), None)
    for host, port in extra:
        if port is not None:
            seen.setdefault((host, port), None)
            continue
        try:
            group = find_group(policy, host)
        except TargetError:
            group = None
        for p in policy.hosts[group].ports if group is not None else (22,):
            seen.setdefault((host, p), None)
    return list(seen)


def canary_verdict(policy: Policy, group: HostGroup, command: str) -> str | None:
    """Why the policy would not let ``command`` run as an ``executeCommand`` on the group's
    hosts, or ``None`` when it allows it (the survey's ``VerifyOptions.canary_check``)."""
    call = ToolCall("executeCommand", {"connectionId": "verify", "command": command})
    verdict = evaluate(policy, call, command_set=group.commands)
    if verdict.decision == Decision.ALLOW:
        return None
    return f"the policy {'denies' if verdict.decision == Decision.DENY else 'prompts for'} it: " + "; ".join(verdict.reasons)


def _key_cell(r: HostReport) -> str:
    kc = r.key_check
    if kc is None:
        return "-"
    return {"match": "match", "recorded": "new (TOFU)", "mismatch": "MISMATCH", "unknown": "UNKNOWN",
            "revoked": "REVOKED", "unchecked": "unchecked", "error": "ERROR"}[kc.status]


def _algo_cell(r: HostReport) -> str:
    if r.algorithms is None:
        return "-" if r.algorithms_error is None else "error"
    a = r.algorithms
    cell = f"kex {len(a['kex'])}, keys {len(a['host_key'])}, ciphers {len(a['ciphers'])}, macs {len(a['macs'])}"
    return cell + (f", {len(r.weak)} weak" if r.weak else "")


def _step_cell(status: str, detail: str) -> str:
    return {"ok": "ok", "failed": "FAILED", "denied": "DENIED", "skipped": "-"}[status] + (
        f" ({detail})" if status == "ok" and detail else "")


def render_table(reports: list[HostReport], out: TextIO) -> None:
    """The readable report: a table, then the details behind each row."""
    head = ("HOST", "PORT", "GROUP", "POLICY", "REACHABLE", "HOST KEY", "ALGORITHMS", "LOGIN", "CANARY", "RESULT")
    rows = [head] + [
        (r.host, str(r.port), r.group or "-", "allow" if r.policy_problem is None else "DENY",
         "yes" if r.reachable else "NO", _key_cell(r), _algo_cell(r), _step_cell(r.login.status, ""),
         _step_cell(r.canary.status, ""), "ok" if r.ok else "FAIL")
        for r in reports
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")
    for r in reports:
        where = f"[{r.host}]:{r.port}" if ":" in r.host else f"{r.host}:{r.port}"
        facts = [f"group {r.group}"] if r.group else []
        if r.address and r.address != r.host:
            facts.append(f"address {r.address}")
        out.write(f"\n{where}" + (f" ({', '.join(facts)})" if facts else "") + "\n")
        for line in _details(r):
            out.write(f"  {line}\n")
    failed = sum(not r.ok for r in reports)
    out.write(f"\n{len(reports)} checked: {len(reports) - failed} passed, {failed} failed\n")


def _algorithms_line(a: dict[str, list[str]]) -> str:
    def first(kind: str, label: str) -> str:
        names = a.get(kind, [])
        return f"{label} {names[0]}" + (f" +{len(names) - 1}" if len(names) > 1 else "") if names else f"{label} none"

    return ", ".join((first("kex", "kex"), first("ciphers", "cipher"), first("macs", "mac"))) + " (full lists: --json)"


def _details(r: HostReport) -> list[str]:
    lines = []
    if r.policy_problem:
        lines.append(f"policy:     denied: {r.policy_problem}")
    if not r.reachable:
        if r.error != r.policy_problem:
            lines.append(f"reach:      {r.error}")
        return lines
    kc = r.key_check
    if kc is not None:
        lines.append(f"host key:   {kc.offered.describe()}: {kc.status}" + (f" ({kc.source})" if kc.source else ""))
        if kc.problem:
            lines.append(f"            {kc.problem}")
    if r.algorithms is not None:
        a = r.algorithms
        lines.append(f"server:     {a['banner'][0]}; host key types: {', '.join(a['host_key'])}")
        lines.append(f"algorithms: {_algorithms_line(a)}")
        if r.weak:
            lines.append(f"weak:       {', '.join(r.weak)} (offered; current OpenSSH does not enable them by default)")
    elif r.algorithms_error:
        lines.append(f"algorithms: {r.algorithms_error}")
    lines.append(f"login:      {r.login.status}" + (f": {r.login.detail}" if r.login.detail else ""))
    canary = r.canary
    what = f"`{r.canary_command}` " if r.canary_command else ""
    lines.append(f"canary:     {what}{canary.status}" + (f": {canary.detail}" if canary.detail else ""))
    if canary.status == "failed" and canary.stderr.strip():
        lines.append(f"            stderr: {canary.stderr.strip()[:300]}")
    return lines


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``sshwall verify``: 0 all passed, 1 a check failed (bad usage or policy raise)."""
    policy = load_checked(args.rules)
    if args.key is not None and not args.key.is_file():
        raise UsageError(f"--key {args.key}: no such file")
    targets = targets_of(policy, list(args.host))
    if not targets:
        raise UsageError(f"{args.rules} names no single hosts (only wildcards or ranges); give --host")
    opts = VerifyOptions(user=args.user, key=args.key, timeout=args.timeout, canary_check=canary_verdict)
    reports = verify_targets(policy, targets, opts)
    if args.json:
        out.write(json.dumps([r.to_json() for r in reports], indent=2) + "\n")
    else:
        render_table(reports, out)
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED
