"""Bounding each run of scheduled work: the command forwarded inside sshwall's own ``timeout``.

Mcp Ssh's ``backgroundExecute`` starts a run every interval without waiting for the previous
one, and ``stopBackground`` does not end a run in progress (the profile's ``schedule``). A
policy's ``background.run_timeout`` bounds every run: the agent's command (already decided,
unchanged) is forwarded as

    timeout -k KILL_AFTER RUN_TIMEOUT bash -c ' COMMAND' </dev/null

Only the agent's text is quoted, by ``shlex.quote`` (single quotes, each ``'`` written as
``'"'"'``), which bash reads back as exactly the text it was given; every other word is
sshwall's own. ``timeout`` signals the whole process group of the run, so the children of the
command end too. ``bash`` because that is the language the analyser decided the command in.
The leading space keeps the upstream's sudo rewrite triggering exactly as on the command
alone (``starts with "sudo "`` becomes ``contains " sudo "``); standard input is ``/dev/null``
so the password the upstream pipes in front of a rewritten command reaches no command at all
(sudo -S then reads an empty password: password sudo does not work in bounded runs, NOPASSWD
sudo does). Where a rewrite would still treat the wrapped text differently from the command,
the call is denied, naming the rewrite.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sshwall.engine.rewrites import sudo_triggered
from sshwall.policy import Policy
from sshwall.profiles import SudoPasswordRewrite, TmuxFollowups, ToolProfile


@dataclass(frozen=True)
class Bounded:
    """What to forward for one call: ``arguments`` (None: unchanged) or a ``problem`` (deny)."""

    arguments: dict[str, Any] | None = None
    problem: str | None = None
    rule: str = ""


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g}s"


def wrap(command: str, run_timeout_ms: int, kill_after_ms: int) -> str:
    """``command`` inside sshwall's run-time bound (see the module doc)."""
    return (f"timeout -k {_seconds(kill_after_ms)} {_seconds(run_timeout_ms)} "
            f"bash -c {shlex.quote(' ' + command)} </dev/null")


def _rewrite_problem(prof: ToolProfile, argument: str, command: str, wrapped: str) -> str | None:
    for rw in prof.rewrites:
        if getattr(rw, "argument", None) != argument:
            continue
        if isinstance(rw, SudoPasswordRewrite) and sudo_triggered(rw, command) != sudo_triggered(rw, wrapped):
            return ("the upstream's sudo-password rewrite would treat the command and sshwall's run-time "
                    "wrapper around it differently (leading characters JavaScript trims but the shell does not?)")
        if isinstance(rw, TmuxFollowups) and any(re.search(p, wrapped) for p in rw.patterns.values()):
            return "the upstream's tmux follow-ups would match the wrapped command"
    return None


def bound_runs(policy: Policy, tool: str, arguments: Mapping[str, Any]) -> Bounded:
    """The arguments to forward when the policy bounds each run of ``tool``'s scheduled work."""
    plan = policy.plan.tool(tool)
    prof = plan.profile if plan is not None else None
    bg = plan.rule.background if plan is not None and plan.rule is not None else None
    if plan is None or bg is None or bg.run_timeout is None or prof is None:
        return Bounded()
    names = plan.args("command")
    command = arguments.get(names[0]) if names else None
    if not isinstance(command, str):
        return Bounded()  # nothing to bound (the engine denies a missing or mistyped command)
    rid = f"tools.{tool}.background.run_timeout"
    # That the bound stays below the interval is the engine's check (evaluate, interval rules).
    wrapped = wrap(command, bg.run_timeout, bg.kill_after)
    problem = _rewrite_problem(prof, names[0], command, wrapped)
    if problem is not None:
        return Bounded(problem=problem, rule=rid)
    return Bounded(arguments={**arguments, names[0]: wrapped}, rule=rid)
