"""The ``sshwall`` command line: check | test | serve | backend | demo | verify | audit | replay.

Exit codes of ``check``: 0 allow, 1 deny, 3 prompt, 2 bad usage or bad policy.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from sshwall.engine import Decision, Hit, ToolCall, Verdict, evaluate, load_checked, run_examples
from sshwall.engine.examples import ExampleResult
from sshwall.engine.workdir import Workdir
from sshwall.errors import PolicyError, SshwallError, UsageError
from sshwall.policy import Example, Policy, default_policy_path, load_policy

EXIT = {Decision.ALLOW: 0, Decision.DENY: 1, Decision.PROMPT: 3}
EXIT_USAGE = 2


def _policy_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rules",
        type=Path,
        default=None,
        help="policy file (YAML, JSON or PolicyLayer policy.json); default: the embedded readonly-ops",
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sshwall", description="An argument-validating firewall for AI agents' SSH access.")
    sub = parser.add_subparsers(dest="cmd", required=True)

    check = sub.add_parser("check", help="decide one command, or a batch of tool calls")
    _policy_arg(check)
    check.add_argument("--tool", default="executeCommand", help="tool the command is given to (default executeCommand)")
    check.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                       help="another argument of the call (VALUE is parsed as JSON when it can be)")
    check.add_argument("--json", action="store_true", help="print the verdict as JSON")
    check.add_argument("--batch", type=Path, metavar="IN.jsonl", help="decide each {tool, arguments} line")
    check.add_argument("--cwd", metavar="DIR", default=None,
                       help="the connection's current folder (absolute): relative paths are resolved against it; "
                            "a batch line's own `cwd` key wins (see docs/working-folder.md)")
    check.add_argument("--home", metavar="DIR", default=None,
                       help="the user's home folder (absolute), for `~`, `$HOME` and `cd`; a batch line's `home` key wins")
    check.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND (words are joined with spaces)")

    test = sub.add_parser("test", help="run the policy's own examples, and a corpus")
    _policy_arg(test)
    test.add_argument("corpus", nargs="*", type=Path, help="JSONL files of {tool, arguments, expect}")
    test.add_argument("--verbose", "-v", action="store_true", help="list passing cases too")
    test.add_argument("--oracle", action="store_true",
                      help="also run every allowed case in the execution oracle (Linux, root); see docs/oracle.md")

    for name, text in _DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


# Subcommands with their own argument parsers: everything after the name is theirs.
_DELEGATED = {
    "serve": "serve the firewall in front of an SSH MCP server (stdio or --listen HTTP)",
    "backend": "the built-in SSH MCP server (no policy checks: put sshwall in front of it)",
    "audit": "verify or tail an audit log",
    "verify": "check a policy's hosts against the real machines: reachability, host keys, algorithms, canary",
    "demo": "a scripted agent session through the gateway against a throwaway sshd",
}


def _delegate(name: str, rest: list[str], out: TextIO) -> int:
    if name == "serve":
        from sshwall.proxy.serve import main as serve_main

        return serve_main(rest)
    if name == "demo":
        from sshwall.demo import main as demo_main

        return demo_main(rest)
    if name == "backend":
        from sshwall.backend.command import main as backend_main

        return backend_main(rest)
    if name == "verify":
        from sshwall.targets.command import main as verify_main

        return verify_main(rest, out=out)
    from sshwall.audit.command import main as audit_main

    return audit_main(rest, out=out)


def _load(path: Path | None, check_examples: bool = True) -> Policy:
    path = path or default_policy_path()
    return load_checked(path) if check_examples else load_policy(path)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _single_call(args: argparse.Namespace, policy: Policy) -> ToolCall:
    words = list(args.command)
    if words and words[0] == "--":
        words = words[1:]
    arguments: dict[str, Any] = {}
    prof = policy.profile.tools.get(args.tool)
    if prof is not None:
        for name, spec in prof.arguments.items():
            if spec.required and spec.kind in ("connection", "session"):
                arguments[name] = "cli"
        commands = prof.args_of_kind("command") or prof.args_of_kind("terminal-input")
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


def decide_line(policy: Policy, line: str, workdir: Workdir | None = None) -> Verdict:
    """Decide one batch line; a malformed line is a deny, never an exception.

    A line's own ``cwd`` / ``home`` keys (strings) replace ``workdir``'s (the connection's
    folder and the user's home, as ``--cwd`` / ``--home`` give them).
    """
    try:
        item = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as err:
        return Verdict.of([Hit("input.malformed", Decision.DENY, f"line is not valid JSON: {err}")])
    if not isinstance(item, dict):
        return Verdict.of([Hit("input.malformed", Decision.DENY, "line is not a JSON object")])
    tool = item.get("tool")
    if not isinstance(tool, str):
        return Verdict.of([Hit("input.malformed", Decision.DENY, "line has no string `tool`")])
    base = workdir or Workdir()
    cwd, home = item.get("cwd", base.cwd), item.get("home", base.home)
    for key, value in (("cwd", cwd), ("home", home)):
        if value is not None and not (isinstance(value, str) and value.startswith("/")):
            return Verdict.of([Hit("input.malformed", Decision.DENY, f"line's `{key}` must be an absolute path")])
    return evaluate(policy, ToolCall(tool, item.get("arguments", {})), workdir=Workdir(cwd, home))


def _workdir(args: argparse.Namespace) -> Workdir:
    """``--cwd`` / ``--home`` as a Workdir (absolute paths only)."""
    for flag, value in (("--cwd", args.cwd), ("--home", args.home)):
        if value is not None and not value.startswith("/"):
            raise UsageError(f"{flag} {value!r}: give an absolute path")
    return Workdir(args.cwd, args.home)


def _check(args: argparse.Namespace, out: TextIO) -> int:
    policy = _load(args.rules)
    workdir = _workdir(args)
    if args.batch is not None:
        if args.command:
            raise UsageError("give either --batch or a command, not both")
        with open(args.batch, encoding="utf-8") as src:
            for line in src:
                if not line.strip():
                    continue
                out.write(json.dumps(decide_line(policy, line, workdir).to_json()) + "\n")
        return 0
    verdict = evaluate(policy, _single_call(args, policy), workdir=workdir)
    if args.json:
        body = verdict.to_json()
        body["hits"] = [
            {"rule": h.rule, "decision": h.decision.value, "reason": h.reason} for h in verdict.hits
        ]
        out.write(json.dumps(body, indent=2) + "\n")
    else:
        out.write(f"{verdict.decision.value}\n")
        for hit in verdict.deciding:
            out.write(f"  {hit.reason} (rule {hit.rule})\n")
    return EXIT[verdict.decision]


def _corpus(path: Path) -> list[Example]:
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


def _test(args: argparse.Namespace, out: TextIO) -> int:
    policy = _load(args.rules, check_examples=False)
    suites: list[tuple[str, list[ExampleResult]]] = [("examples", run_examples(policy))]
    for path in args.corpus:
        suites.append((str(path), run_examples(policy, tuple(_corpus(path)))))
    failures = 0
    out.write(f"{'':4} {'expect':6} {'got':6} {'tool':20} arguments\n")
    for name, results in suites:
        bad = [r for r in results if not r.passed]
        failures += len(bad)
        out.write(f"== {name}: {len(results) - len(bad)} passed, {len(bad)} failed\n")
        for r in results:
            if args.verbose or not r.passed:
                out.write(_row(r) + "\n")
    total = sum(len(r) for _, r in suites)
    out.write(f"{total - failures} passed, {failures} failed\n")
    code = 1 if failures else 0
    if args.oracle:
        from sshwall.oracle.report import allowed_commands, run_cases

        code = max(code, run_cases(allowed_commands(policy, suites), out, policy))
    return code


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the CLI; returns the exit code."""
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _DELEGATED:
        try:
            return _delegate(argv[0], argv[1:], out)
        except SshwallError as err:
            sys.stderr.write(f"sshwall {argv[0]}: {err}\n")
            return EXIT_USAGE
    args = _build_parser().parse_args(argv)
    try:
        if args.cmd == "check":
            return _check(args, out)
        if args.cmd == "test":
            return _test(args, out)
        if args.cmd == "backend":
            from sshwall.backend.command import main as backend_main

            return backend_main(list(args.rest))
        raise UsageError(f"`sshwall {args.cmd}` is not built yet")
    except (PolicyError, UsageError) as err:
        sys.stderr.write(f"sshwall: {err}\n")
        return EXIT_USAGE
    except SshwallError as err:
        sys.stderr.write(f"sshwall: {err}\n")
        return 1
    except OSError as err:
        sys.stderr.write(f"sshwall: {err}\n")
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
