"""``sshwall test --oracle``: a violation table and exit 1 on any violation, exit 2 when unavailable."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

import sshwall.oracle
from sshwall.cli import main
from sshwall.oracle.report import OracleCase, run_cases
from tests.oracle.oracle_support import REPO, require_oracle


def test_violation_table_and_exit_1() -> None:
    require_oracle()
    out = io.StringIO()
    cases = [OracleCase("t", "executeCommand", "touch /etc/x"), OracleCase("t", "executeCommand", "df -h")]
    assert run_cases(cases, out) == 1
    text = out.getvalue()
    assert "oracle: 2 run, 1 violations" in text
    assert "write" in text and "touch /etc/x" in text and "created file /etc/x" in text


def test_cli_flag(tmp_path: Path) -> None:
    require_oracle()
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"tool": "executeCommand", "arguments": {"connectionId": "c1", "command": c},
                                          "expect": "allow"}) + "\n" for c in ("df -h", "uptime")))
    out = io.StringIO()
    code = main(["test", "--rules", str(REPO / "rules" / "readonly-ops.yaml"), str(corpus), "--oracle"], out=out)
    text = out.getvalue()
    line = next(x for x in text.splitlines() if x.startswith("oracle: "))
    violations = int(line.split(",")[1].split()[0])
    totals = re.search(r"(\d+) passed, (\d+) failed\n== oracle", text)
    assert totals is not None, text
    assert code == (1 if violations or int(totals.group(2)) else 0), text


def test_unavailable_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sshwall.oracle, "unavailable", lambda: "not root (test)")
    out = io.StringIO()
    assert run_cases([OracleCase("t", "executeCommand", "true")], out) == 2
    assert "the oracle cannot run here: not root (test)" in out.getvalue()
