"""The full mutation pass: every mutation of every seed, decided, every allowed one run in the oracle.

Run:  python bench/oracle.py [--rules FILE] [--corpus FILE.jsonl] [--budget N] [--seed S]
                             [--findings FILE.md] [--timeout SECONDS] [--programs a,b,...]

Prints the same figures as tests/oracle/test_mutations.py ("mutations: tried N, allowed M,
run K, violations V"), the time spent generating, deciding and running, runs per second, and
one line per violation with its mechanism. ``--findings`` appends the findings as markdown.
Linux, root (the oracle's namespaces); exits 2 with the reason when the oracle is unavailable,
1 when any allowed mutation committed a violation.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sshwall.oracle import Oracle, unavailable  # noqa: E402
from sshwall.oracle.mutate import (  # noqa: E402
    Tally,
    findings_markdown,
    generate,
    load_seeds,
    run_mutations,
)
from sshwall.policy import load_policy  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", type=Path, default=REPO / "rules" / "readonly-ops.yaml")
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus" / "readonly-ops.jsonl")
    ap.add_argument("--budget", type=int, default=None, help="mutations to try (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per oracle run")
    ap.add_argument("--findings", type=Path, default=None, help="append the findings (markdown) here")
    ap.add_argument("--programs", default=None, help="only mutations of these programs (comma-separated)")
    args = ap.parse_args(argv)

    reason = unavailable()
    if reason is not None:
        print(f"oracle unavailable: {reason}", file=sys.stderr)
        return 2
    policy = load_policy(args.rules)
    t0 = time.monotonic()
    seeds = load_seeds(policy, args.corpus)
    if args.programs:
        wanted = set(args.programs.split(","))
        seeds = [s for s in seeds if any(w in s for w in wanted)]
    mutations = generate(seeds, policy, args.budget, args.seed)
    if args.programs:
        mutations = [m for m in mutations if m.program in wanted]
    t1 = time.monotonic()
    with Oracle(timeout=args.timeout) as oracle:
        tally: Tally = run_mutations(policy, mutations, oracle)
    t2 = time.monotonic()

    print(tally.line())
    rate = tally.run / tally.seconds_running if tally.seconds_running else 0.0
    print(f"seeds {len(seeds)}; generate {t1 - t0:.1f} s; decide+run {t2 - t1:.1f} s; "
          f"runs/second {rate:.1f}")
    by_mech = Counter(f.mechanism.split(":")[0] for f in tally.findings)
    by_prog = Counter(f.mutation.program for f in tally.findings)
    if tally.findings:
        print("findings by mechanism: " + ", ".join(f"{k} x{v}" for k, v in by_mech.most_common()))
        print("findings by program: " + ", ".join(f"{k} x{v}" for k, v in by_prog.most_common()))
    for e in tally.errors[:20]:
        print(f"SANDBOX ERROR {e}")
    for f in tally.seed_findings:
        kinds = ",".join(sorted({k for k, _ in f.violations}))
        print(f"SEED VIOLATES [{kinds}] {f.mutation.command!r}: {f.violations[0][1][:160]}")
    for f in tally.findings:
        kinds = ",".join(sorted({k for k, _ in f.violations}))
        print(f"VIOLATION [{kinds}] {f.mutation.command!r}  ({f.mutation.flag} {f.mutation.how}; {f.mechanism})")
    if args.findings is not None:
        title = f"Mutation pass {time.strftime('%H:%M UTC', time.gmtime())}: {args.rules} budget={args.budget} seed={args.seed}"
        with args.findings.open("a") as out:
            out.write("\n" + findings_markdown(tally, title))
    return 1 if tally.findings or tally.errors else 0


if __name__ == "__main__":
    sys.exit(main())
