"""Benchmark: sshwall's decision time against bare ``bashlex.parse``, measured side by side.

Run:  python bench/decide.py [--rules FILE] [--corpus FILE.jsonl] [--reps N]

Prints, from one run:
  1. per command, the median time of ``bashlex.parse(cmd)`` and of a full sshwall decision
     ``evaluate(policy, ToolCall(...))`` with the per-command caches cleared before every call
     (cold), and their ratio (aim: <= 1.3x); the two are timed in alternation, so machine load
     that changes during the run moves both alike;
  2. the same with the caches warm;
  3. decisions per second for the whole corpus in batch mode (``decide_line`` over the JSONL
     lines, warm);
  4. the time to reject a 1 MB command (median of several runs; aim: <= 5 ms);
  5. the worst cases of the path checks (``..``, ``~``, globs, unknown folders), cold: per
     case what the decision costs over ``bashlex.parse`` (aim: <= 0.5 ms).

Not a test: no figure here fails anything. Medians of many repetitions, ``time.perf_counter``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import bashlex  # noqa: E402

import sshwall.analysis as analysis  # noqa: E402
from sshwall.analysis.prechecks import precheck  # noqa: E402
from sshwall.cli.check import Decider, decide_line  # noqa: E402
from sshwall.engine import ToolCall, evaluate  # noqa: E402
from sshwall.policy import Policy, load_policy  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "readonly-ops.jsonl"
COMMAND_TOOLS = ("executeCommand", "backgroundExecute")
FALLBACK = [
    "df -h",
    "uptime",
    "ls -la /var/log",
    "cat /etc/shadow",
    "ps aux | grep nginx | head -5",
    "journalctl -u nginx -n 100 --no-pager",
    "find / -name '*.log' -mtime -1 -exec rm {} +",
    "sudo -n systemctl status nginx",
    "grep -r key /home",
    "tail -n 50 /var/log/syslog | awk '{print $5}' | sort | uniq -c | sort -rn",
    "curl -s http://127.0.0.1:9090/metrics",
    "ls; rm -rf /",
]
AIM_RATIO = 1.3
AIM_REJECT_MS = 5.0
AIM_WORST_EXTRA_MS = 0.5
# Paths the protected-path check reasons about as sets (`..`, `~`, globs, unknown folders):
# the slow cases of the path checks, each timed cold (section 5).
WORST_CASES = [
    "cat /var/log/../../etc/shadow",
    "cat ../../etc/passwd",
    "cat ~/.ssh/id_rsa",
    "cat ~/notes.txt",
    "grep -r key ~/",
    "cat /root/.ssh/id_*",
    "cat /etc/*",
    "ls -l /var/log/*.log",
    "tail -n 20 /var/log/nginx/*.log",
    "head -n 5 /home/*/.bash_history",
    "cat /etc/ssh/sshd_config.d/*.conf",
    "wc -l /var/log/*/*.log",
]


def clear_caches() -> None:
    """Forget every per-command result: every ``functools`` cache in sshwall's modules.

    Found by walking the modules rather than listed by hand, so a cache added later (the
    analysis cache, segment and path overlap, ...) cannot stay warm and hide its cost. The
    compiled policy is kept (``Policy.plan``, the per-tool argument index; each command set's
    ``sshwall.engine.commandset.compiled``, protected patterns and denied-program globs; the
    programs' flag tables): that is load-time work, like parsing the policy itself.
    """
    global _FOUND
    if _FOUND is None or _FOUND[0] != len(sys.modules):
        # Walked again only when a module was imported since: walking ~1000 modules before every
        # timed call would evict the CPU caches and bill sshwall (timed right after) for it.
        _FOUND = (len(sys.modules), _caches())
    for fn in _FOUND[1]:
        fn.cache_clear()


_FOUND: tuple[int, list[Any]] | None = None


def _caches() -> list[Any]:
    found = []
    for name, module in list(sys.modules.items()):
        if name == "sshwall" or name.startswith("sshwall."):
            for value in vars(module).values():
                if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", "") == name:
                    found.append(value)
    return found


BUDGET_S = 0.05  # time budget per measurement: slow commands get fewer repetitions (at least 5)


def median_time(fn: Callable[[], object], reps: int, before: Callable[[], None] | None = None) -> float:
    """Median seconds of ``fn()`` over up to ``reps`` runs; ``before`` runs untimed before each."""
    if before is not None:
        before()
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    reps = max(5, min(reps, int(BUDGET_S / max(first, 1e-9))))
    times = []
    for _ in range(reps):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paired_medians(
    bare: Callable[[], object], full: Callable[[], object], reps: int, before: Callable[[], None] | None = None
) -> tuple[float, float]:
    """Median seconds of ``bare()`` and of ``full()``, timed in alternation.

    Each repetition times one ``bare`` and then one ``full`` (``before`` runs untimed before
    ``full``), so a change of machine load during the run weighs on both sides alike and the
    ratio stays comparable between runs (a busy machine moves the absolute figures, not this).
    """
    t0 = time.perf_counter()
    full()
    first = time.perf_counter() - t0
    reps = max(5, min(reps, int(BUDGET_S / max(first, 1e-9))))
    times_bare, times_full = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        bare()
        times_bare.append(time.perf_counter() - t0)
        if before is not None:
            before()
        t0 = time.perf_counter()
        full()
        times_full.append(time.perf_counter() - t0)
    return statistics.median(times_bare), statistics.median(times_full)


def load_cases(corpus: Path) -> tuple[list[tuple[str, dict[str, object]]], list[str], str]:
    """(tool, arguments) of the command cases, the raw JSONL lines, and where they came from."""
    if corpus.is_file():
        lines = [line for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
        cases = []
        for line in lines:
            item = json.loads(line)
            args = item.get("arguments") or {}
            if item.get("tool") in COMMAND_TOOLS and isinstance(args.get("command"), str):
                cases.append((item["tool"], args))
        return cases, lines, str(corpus)
    cases = [("executeCommand", {"connectionId": "c1", "command": c}) for c in FALLBACK]
    lines = [json.dumps({"tool": t, "arguments": a}) for t, a in cases]
    return cases, lines, "built-in list (corpus not found)"


def refused_unparsed(policy: Policy, tool: str, cmd: str) -> str | None:
    """The precheck finding that refuses ``cmd`` before bashlex would see it, if any."""
    rule = policy.tools.get(tool)
    cs = policy.commands.get(rule.commands or "") if rule is not None else None
    if cs is None:
        return None
    found = precheck(cmd, cs.max_length, cs.max_depth)
    return found.kind.value if found is not None else None


def bashlex_ok(cmd: str) -> bool:
    try:
        bashlex.parse(cmd)
        return True
    except Exception:  # noqa: BLE001 - bashlex raises many types; the bench only skips them
        return False


def us(seconds: float) -> str:
    return f"{seconds * 1e6:9.1f}"


def short(text: str, width: int = 46) -> str:
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= width else text[: width - 3] + "..."


def per_command(policy: Policy, cases: list[tuple[str, dict[str, object]]], reps: int, warm: bool) -> list[float]:
    title = "warm caches" if warm else "cold: analysis and glob caches cleared before every decision"
    print(f"\n{'(2)' if warm else '(1)'} per-command median, {reps} runs each, {title}")
    print(f"{'command ([bg] = backgroundExecute)':46}  {'bashlex µs':>10}  {'sshwall µs':>10}  {'ratio':>6}  decision")
    ratios = []
    for tool, args in cases:
        cmd = str(args["command"])
        shown = ("[bg] " if tool == "backgroundExecute" else "") + cmd
        call = ToolCall(tool, args)
        if not bashlex_ok(cmd):
            verdict = evaluate(policy, call)
            t_sw = median_time(lambda: evaluate(policy, call), reps, None if warm else clear_caches)
            print(f"{short(shown):46}  {'(error)':>10}  {us(t_sw):>10}  {'-':>6}  {verdict.decision.value}")
            continue
        if warm:
            evaluate(policy, call)
        t_bl, t_sw = paired_medians(lambda: bashlex.parse(cmd), lambda: evaluate(policy, call), reps,
                                    None if warm else clear_caches)
        ratio = t_sw / t_bl
        clear_caches()
        verdict = evaluate(policy, call)
        refused = refused_unparsed(policy, tool, cmd)
        if refused or analysis._cached.cache_info().currsize == 0:
            # Denied before bashlex saw it (precheck, bad arguments): not like for like.
            why = refused or "denied on arguments"
            print(f"{short(shown):46}  {us(t_bl):>10}  {us(t_sw):>10}  {'-':>6}  "
                  f"{verdict.decision.value} ({why}, never parsed; not in the ratios)")
            continue
        ratios.append(ratio)
        print(f"{short(shown):46}  {us(t_bl):>10}  {us(t_sw):>10}  {ratio:6.2f}  {verdict.decision.value}")
    return ratios


def worst_cases(policy: Policy, reps: int) -> list[tuple[str, float]]:
    """(5) The ``..``/``~``/glob paths, cold: per case the decision time, that of
    ``bashlex.parse``, and what the decision costs over the parse (the analysis and the path
    reasoning, every cache cleared). Returns (command, extra seconds) per case."""
    print(f"\n(5) worst cases of the path checks (`..`, `~`, globs), cold, {reps} runs each")
    print(f"{'command':46}  {'bashlex µs':>10}  {'sshwall µs':>10}  {'extra µs':>9}  decision")
    out = []
    for cmd in WORST_CASES:
        call = ToolCall("executeCommand", {"connectionId": "c1", "command": cmd})
        t_bl, t_sw = paired_medians(lambda: bashlex.parse(cmd), lambda: evaluate(policy, call), reps, clear_caches)
        clear_caches()
        verdict = evaluate(policy, call)
        out.append((cmd, t_sw - t_bl))
        print(f"{short(cmd):46}  {us(t_bl):>10}  {us(t_sw):>10}  {us(t_sw - t_bl):>9}  {verdict.decision.value}")
    return out


def summary(label: str, ratios: list[float], aim: float | None) -> None:
    if not ratios:
        return
    med = statistics.median(ratios)
    q = sorted(ratios)
    p90 = q[min(len(q) - 1, int(len(q) * 0.9))]
    within = sum(1 for r in ratios if aim is None or r <= aim)
    aim_text = f"aim <= {aim}x; {within}/{len(ratios)} commands within" if aim else "no aim"
    print(f"{label:26} median {med:5.2f}x  p90 {p90:5.2f}x  max {max(ratios):5.2f}x   ({aim_text})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=Path, default=REPO / "rules" / "readonly-ops.yaml")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--reps", type=int, default=200,
                        help="repetitions per command (default 200; fewer for slow commands, at least 5)")
    args = parser.parse_args()

    policy = load_policy(args.rules)
    cases, lines, source = load_cases(args.corpus)
    print(f"policy: {args.rules}")
    print(f"commands: {len(cases)} from {source}; batch lines: {len(lines)}")
    print(f"python {sys.version.split()[0]}, bashlex {metadata.version('bashlex')}")

    # Warm the interpreter and the policy's compiled patterns once.
    for tool, a in cases:
        evaluate(policy, ToolCall(tool, a))

    cold = per_command(policy, cases, args.reps, warm=False)
    warm = per_command(policy, cases, args.reps, warm=True)

    # (3) batch mode, warm: every corpus line through decide_line.
    gate = Decider(policy)
    for line in lines:
        decide_line(gate, line)
    rounds = max(5, 2000 // max(1, len(lines)))
    batch_times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for line in lines:
            decide_line(gate, line)
        batch_times.append(time.perf_counter() - t0)
    per_batch = statistics.median(batch_times)
    rate = len(lines) / per_batch

    # (4) rejecting a 1 MB command.
    huge = "echo " + "A" * (1024 * 1024 - 5)
    huge_call = ToolCall("executeCommand", {"connectionId": "c1", "command": huge})
    verdict = evaluate(policy, huge_call)
    t_huge = median_time(lambda: evaluate(policy, huge_call), 50)
    huge_line = json.dumps({"tool": "executeCommand", "arguments": {"connectionId": "c1", "command": huge}})
    t_huge_line = median_time(lambda: decide_line(gate, huge_line), 20)

    worst = worst_cases(policy, args.reps)

    print("\nsummary")
    summary("(1) cold sshwall/bashlex", cold, AIM_RATIO)
    summary("(2) warm sshwall/bashlex", warm, AIM_RATIO)
    print(f"{'(3) batch, warm':26} {rate:10,.0f} decisions/s   ({len(lines)} lines in {per_batch * 1e3:.2f} ms, median of {rounds})")
    mark = "within aim" if t_huge * 1e3 <= AIM_REJECT_MS else "OVER aim"
    print(f"{'(4) reject 1 MB command':26} {t_huge * 1e3:10.3f} ms      (aim <= {AIM_REJECT_MS} ms: {mark}; "
          f"decision {verdict.decision.value} by {', '.join(verdict.rules)})")
    print(f"{'    same via batch line':26} {t_huge_line * 1e3:10.3f} ms      (includes json.loads of the 1 MB line)")
    name, extra = max(worst, key=lambda item: item[1])
    mark = "within aim" if extra * 1e3 <= AIM_WORST_EXTRA_MS else "OVER aim"
    print(f"{'(5) worst path case, cold':26} {extra * 1e3:10.3f} ms      over bashlex.parse (aim <= {AIM_WORST_EXTRA_MS} ms: "
          f"{mark}; `{short(name, 40)}`)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
