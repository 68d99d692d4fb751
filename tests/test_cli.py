"""The command line: ``sshwall check`` and ``sshwall test``, in-process and as a real process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sshwall.cli import main
from sshwall.policy import load_policy

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "rules" / "readonly-ops.yaml"
# The shipped policy's own examples, counted from the file (they grow as programs are added).
N_EXAMPLES = len(load_policy(SHIPPED).examples)
PROMPT = REPO / "fixtures" / "policies" / "prompt.yaml"
# The shared acceptance corpus sits beside the checkout (../shared); SSHWALL_CORPUS overrides.
CORPUS = Path(os.environ.get("SSHWALL_CORPUS", REPO.parent / "shared" / "corpus" / "readonly-ops.jsonl"))


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


# -- check: one command ------------------------------------------------------------------------


def test_check_allow() -> None:
    code, out = cli("check", "--rules", str(SHIPPED), "--", "df -h")
    assert code == 0
    assert out.splitlines()[0] == "allow"


def test_check_words_are_joined() -> None:
    code, out = cli("check", "--rules", str(SHIPPED), "--", "df", "-h")
    assert code == 0
    assert out.startswith("allow\n")


def test_check_default_policy_is_readonly_ops() -> None:
    assert cli("check", "--", "df -h")[0] == 0
    assert cli("check", "--", "rm -rf /")[0] == 1


def test_check_deny_prints_reason_and_rule() -> None:
    code, out = cli("check", "--rules", str(SHIPPED), "--", "rm -rf /")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "deny"
    assert "`rm`: deletes files (rule diagnostics.deny_programs)" in out


def test_check_deny_names_flag() -> None:
    code, out = cli("check", "--rules", str(SHIPPED), "--", "find / -name x -exec rm {} +")
    assert code == 1
    assert "`-exec`" in out and "(rule diagnostics.find)" in out


def test_check_prompt_exits_3() -> None:
    code, out = cli("check", "--rules", str(PROMPT), "--", "uptime")
    assert code == 3
    assert out.splitlines()[0] == "prompt"
    assert "every command needs a human here (rule ask.uptime)" in out


def test_check_prompt_loses_to_deny() -> None:
    assert cli("check", "--rules", str(PROMPT), "--", "uptime; rm -rf /")[0] == 1


def test_check_other_tool_with_args() -> None:
    base = ("check", "--rules", str(SHIPPED), "--tool", "backgroundExecute")
    assert cli(*base, "--arg", "interval=60000", "--", "uptime")[0] == 0
    assert cli(*base, "--", "uptime")[0] == 1  # upstream default 10 s
    assert cli(*base, "--arg", "interval=\"60000\"", "--", "uptime")[0] == 1  # a JSON string
    assert cli("check", "--rules", str(SHIPPED), "--tool", "listConnections")[0] == 0
    assert cli("check", "--rules", str(SHIPPED), "--tool", "uploadFile")[0] == 1


def test_check_json() -> None:
    code, out = cli("check", "--rules", str(SHIPPED), "--json", "--", "cat /etc/shadow")
    assert code == 1
    body = json.loads(out)
    assert body["decision"] == "deny"
    assert body["rules"] == ["diagnostics.cat"]
    assert any("/etc/shadow" in r for r in body["reasons"])
    assert body["hits"] and all(set(h) == {"rule", "decision", "reason"} for h in body["hits"])
    assert {"rule": "tools.executeCommand", "decision": "allow",
            "reason": "tool `executeCommand` is allowed by policy readonly-ops"} in body["hits"]


def test_check_json_allow() -> None:
    code, out = cli("check", "--rules", str(SHIPPED), "--json", "--", "uptime")
    body = json.loads(out)
    assert code == 0
    assert body["decision"] == "allow"
    assert body["rules"] == ["tools.executeCommand", "diagnostics.uptime"]
    assert len(body["reasons"]) == 2
    assert len(body["hits"]) == 2


# -- check: bad policies and bad usage -----------------------------------------------------------


def test_check_bad_policy_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntools:\n  listConnections: {decison: allow}\n")
    code, out = cli("check", "--rules", str(bad), "--", "df -h")
    assert code == 2
    assert out == ""
    err = capsys.readouterr().err
    assert err.startswith("sshwall: ")
    assert f"{bad}:3:" in err and "tools.listConnections.decison" in err


def test_check_invalid_yaml_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntools: [\n")
    assert cli("check", "--rules", str(bad), "--", "df -h")[0] == 2
    assert "invalid YAML" in capsys.readouterr().err


def test_check_missing_policy_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("check", "--rules", str(tmp_path / "nope.yaml"), "--", "df -h")[0] == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_check_policy_with_failing_example_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "version: 1\ntools:\n  executeCommand: {commands: d}\ncommands:\n  d: {programs: {ls: {}}}\n"
        "examples:\n  - {tool: executeCommand, arguments: {connectionId: c, command: uptime}, expect: allow}\n"
    )
    assert cli("check", "--rules", str(bad), "--", "ls")[0] == 2
    assert "1 example(s) fail" in capsys.readouterr().err


def test_check_policy_with_bad_regex_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "version: 1\ntools:\n  executeCommand: {commands: d}\ncommands:\n"
        "  d: {programs: {date: {operand_rule: {match: '[x'}}}}\n"
    )
    assert cli("check", "--rules", str(bad), "--", "date")[0] == 2


def test_check_pl_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"version": "1", "default": "deny", "tools": {"backgroundExecute": {"limits": '
                    '[{"counter": "calls", "window": "minute", "max": 10, "scope": "grant"}]}}}')
    assert cli("check", "--rules", str(path), "--tool", "backgroundExecute", "--", "rm -rf /")[0] == 0
    assert cli("check", "--rules", str(path), "--", "df -h")[0] == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--tool", "noSuchTool", "--", "ls"],
        ["check", "--arg", "novalue", "--", "ls"],
    ],
)
def test_check_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(*argv)[0] == 2
    assert capsys.readouterr().err.startswith("sshwall: ")


def test_check_batch_and_command_is_usage_error(tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text("{}\n")
    assert cli("check", "--batch", str(batch), "--", "ls")[0] == 2


def test_check_batch_missing_file_exits_2(tmp_path: Path) -> None:
    assert cli("check", "--batch", str(tmp_path / "none.jsonl"))[0] == 2


def test_unknown_option_is_usage_error() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["check", "--bogus"], out=out, err=err) == 2
    assert out.getvalue() == ""
    assert err.getvalue().startswith("usage: sshwall") and "unrecognized arguments: --bogus" in err.getvalue()


# -- check --batch -------------------------------------------------------------------------------


BATCH_LINES = [
    ('{"tool": "executeCommand", "arguments": {"connectionId": "c1", "command": "df -h"}}', "allow"),
    ('{"tool": "executeCommand", "arguments": {"connectionId": "c1", "command": "rm -rf /"}, "expect": "deny"}', "deny"),
    ("", None),
    ('{"tool": "executeCommand", "arguments": {"connectionId": "c1", "command": ', "deny"),  # malformed
    ("[1, 2, 3]", "deny"),  # not an object
    ('"just a string"', "deny"),
    ('{"arguments": {"command": "ls"}}', "deny"),  # no tool
    ('{"tool": 5, "arguments": {}}', "deny"),
    ("   ", None),
    ('{"tool": "listConnections"}', "allow"),  # arguments default to {}
    ('{"tool": "executeCommand", "arguments": ["ls"]}', "deny"),
    ("[" * 100_000 + "]" * 100_000, "deny"),  # nesting deep enough to exhaust the JSON parser
    ('{"tool": "backgroundExecute", "arguments": {"connectionId": "c1", "command": "uptime", "interval": 60000}}', "allow"),
    ("\t", None),
]


def test_batch(tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text("\n".join(line for line, _ in BATCH_LINES) + "\n")
    code, out = cli("check", "--rules", str(SHIPPED), "--batch", str(batch))
    assert code == 0
    expected = [d for _, d in BATCH_LINES if d is not None]
    lines = out.splitlines()
    assert len(lines) == len(expected)
    for line, decision in zip(lines, expected):
        body = json.loads(line)
        assert set(body) == {"decision", "rules", "reasons"}
        assert body["decision"] == decision, body
        assert body["rules"] and body["reasons"]
    malformed = [json.loads(line) for line in lines[2:7]]
    assert all(b["rules"] == ["input.malformed"] for b in malformed)
    assert "not valid JSON" in malformed[0]["reasons"][0]
    assert "not a JSON object" in malformed[1]["reasons"][0]
    assert "no string `tool`" in malformed[3]["reasons"][0]


def test_batch_prompt_lines(tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text(
        '{"tool": "executeCommand", "arguments": {"connectionId": "c1", "command": "uptime"}}\n'
        '{"tool": "executeCommand", "arguments": {"connectionId": "c1", "command": "ls"}}\n'
    )
    code, out = cli("check", "--rules", str(PROMPT), "--batch", str(batch))
    assert code == 0  # the process exit does not reflect decisions in batch mode
    assert [json.loads(line)["decision"] for line in out.splitlines()] == ["prompt", "deny"]


def test_batch_corpus_in_order() -> None:
    if not CORPUS.is_file():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    cases = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    code, out = cli("check", "--rules", str(SHIPPED), "--batch", str(CORPUS))
    assert code == 0
    got = [json.loads(line)["decision"] for line in out.splitlines()]
    assert got == [c["expect"] for c in cases]


# -- test ----------------------------------------------------------------------------------------


def test_test_examples_only() -> None:
    code, out = cli("test", "--rules", str(SHIPPED))
    assert code == 0
    assert N_EXAMPLES >= 13
    assert out.splitlines()[-1] == f"{N_EXAMPLES} passed, 0 failed"


def test_test_with_shared_corpus() -> None:
    if not CORPUS.is_file():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    n_corpus = sum(1 for line in CORPUS.read_text().splitlines() if line.strip())
    code, out = cli("test", "--rules", str(SHIPPED), str(CORPUS))
    assert code == 0, out
    assert out.splitlines()[-1] == f"{N_EXAMPLES + n_corpus} passed, 0 failed"
    assert f"== {CORPUS}: {n_corpus} passed, 0 failed" in out


def test_test_verbose_lists_passing_cases() -> None:
    code, out = cli("test", "--rules", str(SHIPPED), "-v")
    assert code == 0
    assert sum(1 for line in out.splitlines() if line.startswith("ok  ")) == N_EXAMPLES


def test_test_with_wrong_expectation(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        '{"tool": "executeCommand", "arguments": {"connectionId": "c1", "command": "df -h"}, "expect": "allow"}\n'
        "\n"
        '{"tool": "executeCommand", "arguments": {"connectionId": "c1", "command": "rm -rf /"}, "expect": "allow", "why": "wrong"}\n'
    )
    code, out = cli("test", "--rules", str(SHIPPED), str(corpus))
    assert code == 1
    assert out.splitlines()[-1] == f"{N_EXAMPLES + 1} passed, 1 failed"
    fail = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(fail) == 1
    assert "rm -rf /" in fail[0] and "deletes files" in fail[0]


def test_test_reports_failing_policy_examples(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "version: 1\ntools:\n  executeCommand: {commands: d}\ncommands:\n  d: {programs: {ls: {}}}\n"
        "examples:\n  - {tool: executeCommand, arguments: {connectionId: c, command: uptime}, expect: allow}\n"
    )
    code, out = cli("test", "--rules", str(policy))
    assert code == 1
    assert out.splitlines()[-1] == "0 passed, 1 failed"


def test_test_malformed_corpus_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"tool": "listConnections"}\n')  # no expect
    assert cli("test", "--rules", str(SHIPPED), str(corpus))[0] == 2
    assert f"{corpus}:1" in capsys.readouterr().err


def test_test_prompt_expectation() -> None:
    code, out = cli("test", "--rules", str(PROMPT))
    assert code == 0
    assert out.splitlines()[-1] == "2 passed, 0 failed"


# -- the real console script ---------------------------------------------------------------------


def _script() -> list[str]:
    exe = Path(sys.executable).parent / "sshwall"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "sshwall.cli"]


def test_console_script_check_and_batch(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [*_script(), "check", "--rules", str(SHIPPED), "--json", "--", "rm -rf /"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["rules"] == ["diagnostics.deny_programs"]

    batch = tmp_path / "in.jsonl"
    batch.write_text('{"tool": "executeCommand", "arguments": {"connectionId": "c1", "command": "df -h"}}\nnot json\n')
    done = subprocess.run(
        [sys.executable, "-m", "sshwall.cli", "check", "--rules", str(SHIPPED), "--batch", str(batch)],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["decision"] for line in done.stdout.splitlines()] == ["allow", "deny"]


def test_console_script_bad_policy(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nbogus: true\n")
    done = subprocess.run([*_script(), "check", "--rules", str(bad), "--", "ls"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"{bad}:2: bogus" in done.stderr


def test_console_script_infinite_duration_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "inf.yaml"
    bad.write_text("version: 1\ntools:\n  backgroundExecute:\n    commands: any\n    interval: {min: .inf}\n")
    done = subprocess.run([*_script(), "check", "--rules", str(bad), "--", "ls"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
