"""``sshwall test``: the policy's own examples and any corpus, decided as ``sshwall check`` does.

The cases are the policy's for everyone: no identity's grant narrows them unless
``--identity`` names one.

Prints a pass/fail table; exit 1 on any failure (or an oracle violation with ``--oracle``),
2 on bad usage or a bad policy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from sshwall.cli.check import Decider
from sshwall.engine import ToolCall
from sshwall.engine.examples import ExampleResult
from sshwall.errors import UsageError
from sshwall.policy import Example, default_policy_path
from sshwall.policy.load import load_policy_layers


def read_corpus(path: Path) -> list[Example]:
    """The cases of a JSONL corpus (``{tool, arguments, expect, why}`` lines)."""
    cases = []
    with open(path, encoding="utf-8") as src:
        for n, line in enumerate(src, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                cases.append(Example(tool=item["tool"], arguments=item.get("arguments", {}),
                                     expect=item["expect"], why=item.get("why")))
            except (json.JSONDecodeError, KeyError, ValueError, TypeError) as err:
                raise UsageError(f"{path}:{n}: not a corpus case: {err}") from err
    return cases


def _row(r: ExampleResult) -> str:
    mark = "ok  " if r.passed else "FAIL"
    shown = json.dumps(r.example.arguments, ensure_ascii=False)
    if len(shown) > 70:
        shown = shown[:67] + "..."
    why = "" if r.passed else f"  <- {'; '.join(r.verdict.reasons)[:160]}"
    return f"{mark} {r.example.expect.value:6} {r.verdict.decision.value:6} {r.example.tool:20.20} {shown}{why}"


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``sshwall test``: 0 when every case passed, 1 otherwise."""
    loaded = load_policy_layers(args.rules or default_policy_path())
    policy = loaded.policy
    decider = Decider(policy, args.identity)

    def results(cases: tuple[Example, ...] | list[Example]) -> list[ExampleResult]:
        return [ExampleResult(ex, decider.decide(ToolCall(ex.tool, ex.arguments))) for ex in cases]

    suites: list[tuple[str, list[ExampleResult]]] = [("examples", results(policy.examples))]
    if len(loaded.layers) > 1:  # a layered policy: the examples of each layer, named by its file
        suites = [(f"examples of {layer}", results([ex for ex, origin in zip(policy.examples, loaded.example_layers,
                                                                             strict=True) if origin == layer]))
                  for layer in loaded.layers]
    for path in args.corpus:
        suites.append((str(path), results(read_corpus(path))))
    failures = 0
    out.write(f"{'':4} {'expect':6} {'got':6} {'tool':20} arguments\n")
    for name, suite in suites:
        bad = [r for r in suite if not r.passed]
        failures += len(bad)
        out.write(f"== {name}: {len(suite) - len(bad)} passed, {len(bad)} failed\n")
        for r in suite:
            if args.verbose or not r.passed:
                out.write(_row(r) + "\n")
    total = sum(len(r) for _, r in suites)
    out.write(f"{total - failures} passed, {failures} failed\n")
    code = 1 if failures else 0
    if args.oracle:
        from sshwall.oracle.report import allowed_commands, run_cases

        code = max(code, run_cases(allowed_commands(policy, suites), out, policy))
    return code
