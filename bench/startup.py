"""Benchmark: the start-up of a ``sshwall check`` process, old code against new, side by side.

Run:  python bench/startup.py [--base REV|DIR] [--runs N] [-- COMMAND...]

Times whole processes of ``sshwall check -- uptime`` (the console script's ``main()``, the
embedded default policy): the code at ``--base`` (a git revision, exported with ``git archive``
into a temporary folder, or a folder holding a checkout; default: the commit before the
start-up work of issue 12) against this tree, and this tree with one improvement turned off at a
time, so that each one's share shows. The variants run in alternation, round after round (the
order rotates each round), so load that changes during the run moves them all alike. Prints the
median wall time and CPU time (user + system, from the children's rusage: much steadier than the
wall time on a shared machine) of each and its ratio to the base (aim: <= 0.5), and two figures:
the YAML parsers on the embedded policy files and the pydantic plugin scan.

Every variant runs with PYTHONPATH set to its own tree, from a neutral working folder, with the
same interpreter; the new tree's caches live in a temporary folder, filled by one warm-up run
(its cold figure is printed too). Not a test: no figure here fails anything.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The last commit before the start-up work (issue 12): what "today's time" meant.
DEFAULT_BASE = "5d81e36"
AIM_RATIO = 0.5
# What the console script does: sshwall = "sshwall.cli:main".
LAUNCH = "import sys; sys.argv[0] = 'sshwall'; from sshwall.cli import main; sys.exit(main())"
# The new tree with its YAML loader set back to PyYAML's pure-Python one (the base's parser).
PURE_YAML = "import yaml, sshwall.policy.load as load; load._FAST_LOADER = yaml.SafeLoader; "
# The new tree parsing the shipped YAML files instead of reading their parsed twins (rules/parsed.json).
NO_TWINS = "import sshwall.policy.prebuilt as prebuilt; prebuilt.ENABLED = False; "
# The new tree loading what only the stateful stages need (the event loop, the audit log, the
# limit guard and state backends), as the firewall's import did before ``preview`` ran alone.
STATEFUL = "import asyncio, sshwall.audit, sshwall.proxy.stages.build; "


@dataclass
class Variant:
    """One way to start the process: a source tree and extra environment."""

    name: str
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    prelude: str = ""
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    output: str | None = None


@contextmanager
def base_tree(base: str) -> Iterator[Path]:
    """The base code as a folder: ``base`` itself when it is one, else ``git archive`` of it."""
    if Path(base).is_dir():
        yield Path(base).resolve()
        return
    with tempfile.TemporaryDirectory(prefix="sshwall-startup-base-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", base, "sshwall", "rules"],
            capture_output=True,
            check=True,
        ).stdout
        tar_path = Path(tmp) / "base.tar"
        tar_path.write_bytes(archive)
        with tarfile.open(tar_path) as tar:
            try:
                tar.extractall(Path(tmp) / "tree", filter="data")
            except TypeError:  # Python before 3.11.4: no filters (the archive is git's own)
                tar.extractall(Path(tmp) / "tree")
        yield Path(tmp) / "tree"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(variant: Variant, command: list[str], cwd: Path, base_env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one process.

    The CPU time is what the process itself spent, so it moves much less than the wall time
    when other work shares the machine. Its output is kept to compare the variants' decisions.
    """
    env = {**base_env, "PYTHONPATH": str(variant.root), **variant.env}
    cpu_before = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", variant.prelude + LAUNCH, *command], cwd=cwd, env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    out = f"exit {done.returncode}\n{done.stdout}"
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"{variant.name}: exit {done.returncode}\n{done.stderr}")
    if variant.output is None:
        variant.output = out
    elif variant.output != out:
        raise SystemExit(f"{variant.name}: the output changed between runs")
    return elapsed, cpu


def yaml_figures(rounds: int) -> str:
    """The embedded policy files through PyYAML's Python parser and libyaml's, in alternation."""
    import yaml

    rules = REPO / "rules"
    texts = [p.read_text(encoding="utf-8") for p in (rules / "readonly-ops.yaml", rules / "protected-paths.yaml",
                                                     rules / "profiles" / "mcp-ssh.yaml")]
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is None:
        return "yaml: PyYAML has no libyaml here (the pure-Python parser is used)"
    times: dict[str, list[float]] = {"SafeLoader": [], "CSafeLoader": [], "twins": []}
    twins = rules / "parsed.json"
    for _ in range(max(3, rounds // 4)):
        for name, loader in (("SafeLoader", yaml.SafeLoader), ("CSafeLoader", fast)):
            start = time.perf_counter()
            for text in texts:
                yaml.load(text, Loader=loader)
            times[name].append(time.perf_counter() - start)
        if twins.is_file():  # what sshwall.policy.prebuilt does: the whole file, once per file read
            start = time.perf_counter()
            for _text in texts:
                json.loads(twins.read_text(encoding="utf-8"))
            times["twins"].append(time.perf_counter() - start)
    slow, quick = statistics.median(times["SafeLoader"]), statistics.median(times["CSafeLoader"])
    twin = f", their parsed twins (rules/parsed.json) {statistics.median(times['twins']) * 1e3:.0f} ms" if times["twins"] else ""
    return (f"yaml (policy + catalogue + profile, in-process): SafeLoader {slow * 1e3:.0f} ms, "
            f"CSafeLoader {quick * 1e3:.0f} ms ({slow / quick:.1f}x){twin}")


def plugin_figure() -> str:
    """pydantic's entry-point scan for plugins (what PYDANTIC_DISABLE_PLUGINS skips), in-process."""
    code = ("import time; from importlib.metadata import entry_points; t = time.perf_counter(); "
            "list(entry_points(group='pydantic')); print(time.perf_counter() - t)")
    spent = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout) for _ in range(5)]
    return f"pydantic plugin scan (entry points of group 'pydantic'): {statistics.median(spent) * 1e3:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--base", default=DEFAULT_BASE, help=f"git revision or folder of the old code (default {DEFAULT_BASE})")
    ap.add_argument("--runs", type=int, default=15, help="rounds; each round runs every variant once (default 15)")
    ap.add_argument("command", nargs="*", default=["uptime"], help="the command to check (default: uptime)")
    args = ap.parse_args(argv)
    command = ["check", "--", *args.command]

    base_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SSHWALL_CACHE_DIR")}
    base_env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    with base_tree(args.base) as old, tempfile.TemporaryDirectory(prefix="sshwall-startup-") as tmp:
        cwd, cache = Path(tmp) / "cwd", Path(tmp) / "cache"
        cwd.mkdir()
        base_env["SSHWALL_CACHE_DIR"] = str(cache)
        variants = [
            Variant(f"base {args.base}", old),
            Variant("new", REPO),
            Variant("new, bashlex tables rebuilt (no cache)", REPO, {"SSHWALL_CACHE_DIR": "off"}),
            Variant("new, shipped YAML parsed (no parsed twins)", REPO, prelude=NO_TWINS),
            Variant("new, parsed by pure-Python YAML, no twins", REPO, prelude=NO_TWINS + PURE_YAML),
            Variant("new, all three undone", REPO, {"SSHWALL_CACHE_DIR": "off"}, prelude=NO_TWINS + PURE_YAML),
            Variant("new, stateful stages imported", REPO, prelude=STATEFUL),
            Variant("new, PYDANTIC_DISABLE_PLUGINS=__all__", REPO, {"PYDANTIC_DISABLE_PLUGINS": "__all__"}),
        ]
        cold, cold_cpu = run_once(Variant("new, cold cache", REPO), command, cwd, base_env)
        for v in variants:  # warm-up: the interpreter's own caches, the page cache
            run_once(v, command, cwd, base_env)
        for i in range(args.runs):
            shift = i % len(variants)
            for v in variants[shift:] + variants[:shift]:
                wall, cpu = run_once(v, command, cwd, base_env)
                v.times.append(wall)
                v.cpu.append(cpu)

    base = statistics.median(variants[0].times)
    base_cpu = statistics.median(variants[0].cpu)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"sshwall check -- {' '.join(args.command)}: median of {args.runs} runs each, in alternation "
          f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load:.1f})")
    width = max(len(v.name) for v in variants)
    print(f"  {'':<{width}}     wall time (median, ratio)     CPU time user+sys (median, ratio)")
    for v in variants:
        med, cpu = statistics.median(v.times), statistics.median(v.cpu)
        print(f"  {v.name:<{width}}  {med * 1e3:7.0f} ms  {med / base:5.2f}x of base"
              f"     {cpu * 1e3:7.0f} ms  {cpu / base_cpu:5.2f}x of base")
    new, new_cpu = statistics.median(variants[1].times), statistics.median(variants[1].cpu)
    print(f"  {'new, first run (cold cache)':<{width}}  {cold * 1e3:7.0f} ms  (one run)"
          f"                {cold_cpu * 1e3:7.0f} ms")
    for label, ratio in (("wall", new / base), ("CPU", new_cpu / base_cpu)):
        print(f"  aim: new <= {AIM_RATIO:.2f}x of base ({label}): {'met' if ratio <= AIM_RATIO else 'NOT met'}")
    rebuilt, parsed, pure, undone, stateful, no_plugins = (statistics.median(v.cpu) for v in variants[2:8])
    print(f"  CPU saved per process (medians): bashlex tables from the cache {(rebuilt - new_cpu) * 1e3:.0f} ms, "
          f"the shipped YAML's parsed twins {(parsed - new_cpu) * 1e3:.0f} ms, libyaml's parser (without twins) "
          f"{(pure - parsed) * 1e3:.0f} ms, all three {(undone - new_cpu) * 1e3:.0f} ms, the stateful stages "
          f"left unloaded {(stateful - new_cpu) * 1e3:.0f} ms; skipping pydantic's plugin scan would save "
          f"{(new_cpu - no_plugins) * 1e3:.0f} ms more")
    if variants[0].output != variants[1].output:
        print("  note: the base and the new code printed different decisions:")
        print("    base: " + (variants[0].output or "").replace("\n", "\n    "))
        print("    new:  " + (variants[1].output or "").replace("\n", "\n    "))
    print(yaml_figures(args.runs))
    print(plugin_figure())
    return 0


if __name__ == "__main__":
    sys.exit(main())
