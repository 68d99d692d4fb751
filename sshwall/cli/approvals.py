"""``sshwall approvals list|show ID|approve ID|deny ID``: the operator's side of the approval queue.

    sshwall approvals list [--all] [--json] [--state URL]
    sshwall approvals show ID [--json] [--state URL]
    sshwall approvals approve ID [--as IDENTITY] [--note TEXT] [--json] [--state URL]
    sshwall approvals deny ID [--as IDENTITY] [--note TEXT] [--json] [--state URL]

The queue is the gateway's state backend (``--state``, as ``sshwall serve`` has it, default
``$SSHWALL_STATE``): only ``sqlite:///PATH`` and ``redis://`` are shared with other processes;
a ``memory://`` queue lives inside the gateway alone. ``--as`` (default ``$SSHWALL_APPROVER``)
names who answers; the rules of who may (``sshwall.limits.approvals.answer_problem``) apply.

Exit codes: 0 done, 1 the answer was refused or the id is unknown, 2 bad usage or a state
backend that failed. Everything the agent wrote (command, arguments, reasons) is printed with
control characters escaped, so a request cannot drive the operator's terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import unicodedata
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from sshwall.errors import ApprovalError, StateError, UsageError
from sshwall.limits import open_state
from sshwall.limits.approvals import OPEN, ApprovalRequest, ApprovalStore

EXIT_OK, EXIT_REFUSED, EXIT_FAILED = 0, 1, 2
CHANNEL = "cli"
"""How the audit log and the request name this channel."""
COMMAND_WIDTH = 60
MEMORY_QUEUE = (
    "the state is {where}: a memory queue is only visible inside the gateway process. Run the gateway "
    "with --state sqlite:///PATH or --state redis://HOST:PORT/DB and give this command the same --state "
    "(or $SSHWALL_STATE); a memory queue is answered only through the gateway's own channels "
    "(the client's elicitation, or POST /approvals/ID on its HTTP listener)"
)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """List, show or answer approval requests; see the module doc for the exit codes."""
    approver = getattr(args, "approver", None)
    if args.action in ("approve", "deny") and not approver:
        raise UsageError(f"{args.action}: say who answers: give --as IDENTITY or set SSHWALL_APPROVER")
    try:
        return asyncio.run(_run(args, out, err))
    except ApprovalError as refused:
        print(f"sshwall approvals: {_clean(str(refused))}", file=err)
        return EXIT_REFUSED
    except StateError as failed:
        print(f"sshwall approvals: state backend failed: {failed}", file=err)
        return EXIT_FAILED


async def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.state.lower().startswith("sqlite://"):
        path = Path(args.state.split("://", 1)[1].split("?", 1)[0])
        if path.name and not path.exists():  # a typo would otherwise show a new, empty queue
            raise UsageError(f"--state {args.state}: there is no state file {path} (give the gateway's --state)")
    async with await open_state(args.state) as state:
        store: ApprovalStore = state.approvals
        if not store.shared:
            raise UsageError(MEMORY_QUEUE.format(where=args.state))
        now = time.time()
        if args.action == "list":
            requests = await store.list(None if args.all else OPEN)
            if args.json:
                print(json.dumps([r.summary() for r in requests], indent=2), file=out)
            else:
                print(table(requests, now, states=args.all), file=out)
            return EXIT_OK
        if args.action == "show":
            request = await store.get(args.id)
            if request is None:
                raise ApprovalError(f"there is no approval request {args.id}")
            print(json.dumps(asdict(request), indent=2, sort_keys=True) if args.json else details(request, now), file=out)
            return EXIT_OK
        approve = args.action == "approve"
        done = await store.answer(args.id, approve, by=args.approver, channel=CHANNEL, note=args.note)
        if args.json:
            print(json.dumps(asdict(done), indent=2, sort_keys=True), file=out)
        elif approve:
            print(f"approved {done.id}: the waiting call goes on", file=out)
        else:
            print(f"denied {done.id}: the waiting call is refused", file=out)
        return EXIT_OK


# -- what is printed -----------------------------------------------------------------------------


def _clean(text: str) -> str:
    """``text`` with control, format and line-separator characters escaped (terminal-safe)."""
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch
        for ch in text
    )


def span(seconds: float) -> str:
    """A duration as a person reads it: ``45s``, ``3m12s``, ``2h05m``, ``3d04h``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def when(ts: float) -> str:
    """A Unix time in UTC, ISO 8601."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _expires_in(request: ApprovalRequest, now: float) -> str:
    if request.state != "pending":
        return "-"
    return span(request.expires - now) if request.expires > now else "expired"


def _target(request: ApprovalRequest) -> str:
    if request.host is None:
        return "-"
    where = request.host if request.port in (None, 22) else f"{request.host}:{request.port}"
    return f"{request.user}@{where}" if request.user else where


def _short(text: str | None, width: int = COMMAND_WIDTH) -> str:
    if not text:
        return "-"
    text = _clean(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def table(requests: list[ApprovalRequest], now: float, states: bool = False) -> str:
    """The requests as a table (``states``: with a state column, for ``--all``)."""
    if not requests:
        return "no approval requests" + ("" if states else " pending (--all lists every state)")
    head = ["ID", *(["STATE"] if states else []), "AGE", "EXPIRES IN", "IDENTITY", "TOOL", "USER@HOST", "COMMAND"]
    rows = [
        [r.id, *([r.state] if states else []), span(now - r.created), _expires_in(r, now), _clean(r.identity),
         _clean(r.tool), _clean(_target(r)), _short(r.command)]
        for r in requests
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [head, *rows])


def details(request: ApprovalRequest, now: float) -> str:
    """Everything an approver needs to decide on ``request``, one field a line."""
    r = request
    if r.state == "pending":
        status = f"pending, expires in {_expires_in(r, now)} (at {when(r.expires)})"
    else:
        status = r.state
    lines: list[tuple[str, str]] = [
        ("request", f"{r.id}: {status}"),
        ("asked by", f"{_clean(r.identity)} at {when(r.created)} ({span(now - r.created)} ago)"
                     + (f" through gateway {_clean(r.gateway)}" if r.gateway else "")),
        ("tool", _clean(r.tool)),
        ("host", _clean(_target(r))),
        ("host key", _clean(r.host_key or "-")),
        ("command", _clean(r.command) if r.command else "-"),
        ("programs", _clean(", ".join(r.programs)) if r.programs else "-"),
    ]
    lines += _many("reasons", r.reasons) + _many("rules", r.rules)
    arguments = json.dumps(dict(r.arguments), indent=2, sort_keys=True, default=str).splitlines()
    lines += [("arguments", arguments[0])] + [("", line) for line in arguments[1:]]
    lines += [
        ("policy", f"revision {_clean(r.revision)}"),
        ("approvers", _clean(", ".join(r.approvers)) if r.approvers else "none (the queue cannot answer it)"),
        ("a yes", f"may be reused for {r.reuse_s:g} s on the identical call" if r.reuse_s > 0 else "is used once"),
        ("binding", _clean(r.key)),
    ]
    if r.answered is not None:
        answer = f"{r.state} at {when(r.answered)}"
        if r.by:
            answer += f" by {_clean(r.by)}" + (f" through {_clean(r.channel)}" if r.channel else "")
        lines.append(("answered", answer))
    if r.note:
        lines.append(("note", _clean(r.note)))
    if r.uses:
        lines.append(("used", f"{r.uses} time(s)" + (f", reusable until {when(r.reuse_until)}" if r.reuse_until else "")))
    width = max(len(name) for name, _ in lines)
    return "\n".join(f"{name.ljust(width)}  {value}".rstrip() for name, value in lines)


def _many(name: str, values: tuple[str, ...]) -> list[tuple[str, str]]:
    if not values:
        return [(name, "-")]
    return [(name if i == 0 else "", f"- {_clean(v)}") for i, v in enumerate(values)]

