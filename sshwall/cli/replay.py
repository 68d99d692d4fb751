"""``sshwall replay AUDIT.jsonl --rules NEW [--json]``: an audit log's calls decided again under
another policy, and what changes (``sshwall.proxy.replay``; docs/shadow-replay.md).

Prints the counts of each kind of change, then the changed calls by change, tool and rule;
``--json`` prints one object instead. Exit 1 when a call that was allowed is now denied (a
policy change that would break what agents did: for CI), 0 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import TextIO

from sshwall.audit.tail import safe
from sshwall.engine import load_checked
from sshwall.proxy.replay import ReplayReport, replay

_TITLES = {
    "newly-denied": "newly denied", "newly-allowed": "newly allowed", "newly-prompt": "newly needing approval",
    "other-reasons": "other reasons (same decision, other rules)", "not-replayed": "not replayed", "same": "unchanged",
}
SHOWN_PER_GROUP = 5
"""Calls listed under each group of the text report (all are in ``--json``)."""


def report_json(report: ReplayReport, log: str, rules: str) -> dict[str, object]:
    """The ``--json`` document: counts, groups and every call that changed or was not replayed."""
    return {
        "log": log, "rules": rules, "policy": report.revision, "replayed": len(report.calls),
        "counts": report.counts(), "breaks": report.breaks, "unreadable": list(report.unreadable),
        "groups": [{"change": c, "tool": t, "rule": r, "count": len(rs), "seqs": [x.seq for x in rs]}
                   for c, t, r, rs in report.groups()],
        "calls": [r.to_json() for r in report.calls if r.change != "same"],
    }


def report_text(report: ReplayReport, log: str, rules: str) -> str:
    """The readable report (everything shown came from an agent: printed escaped)."""
    counts = report.counts()
    lines = [f"replayed {len(report.calls)} decision record(s) of {log} under {rules} ({report.revision})",
             "  " + ", ".join(f"{_TITLES[c].split(' (')[0]}: {n}" for c, n in counts.items())]
    if report.unreadable:
        lines.append(f"  {len(report.unreadable)} unreadable line(s): {report.unreadable[0]}")
    current = None
    for change, tool, rule, calls in report.groups():
        if change != current:
            current = change
            lines += ["", f"{_TITLES[change]} ({counts[change]}):"]
        lines.append(f"  {safe(tool, 40)}  {safe(rule, 80)}  x{len(calls)}")
        for r in calls[:SHOWN_PER_GROUP]:
            was = f"was {r.old}" + (f" [{', '.join(r.old_rules)}]" if r.old_rules else "")
            why = f" — {safe(r.new_reasons[0], 100)}" if r.new_reasons and r.new != "allow" else ""
            lines.append(f"    #{r.seq} {safe(r.summary, 70)}  ({safe(was, 80)}){why}")
        if len(calls) > SHOWN_PER_GROUP:
            lines.append(f"    ... and {len(calls) - SHOWN_PER_GROUP} more (--json lists them all)")
    if report.breaks:
        lines += ["", "FAIL: calls that were allowed are denied under the new policy"]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``sshwall replay``: 1 when an allowed call is now denied, else 0."""
    policy = load_checked(args.rules)
    with open(args.log, "rb") as src:
        report = asyncio.run(replay(src, policy))
    if args.json:
        out.write(json.dumps(report_json(report, str(args.log), str(args.rules)), ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(report_text(report, str(args.log), str(args.rules)))
    return 1 if report.breaks else 0
