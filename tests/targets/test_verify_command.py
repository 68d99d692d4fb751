"""``sshwall verify`` against real sshd servers: table, --json, exit codes, canary rules."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest

from sshwall.cli import main as cli_main
from sshwall.cli.parser import parse_host
from sshwall.cli.verify import targets_of
from sshwall.policy import load_policy
from tests.support.sshd import SshdServer

HEAD = """\
version: 1
name: verify-test
profile: mcp-ssh
tools:
  connect: allow
  executeCommand: {commands: diag}
commands:
  diag:
    programs: {"true": {}, uptime: {}, id: {}, "false": {}}
"""


def verify_main(argv: list[str], out: io.StringIO | None = None, err: io.StringIO | None = None) -> int:
    """``sshwall verify ARGV...`` in-process."""
    return cli_main(["verify", *argv], out=out, err=err)


def policy_file(tmp_path: Path, hosts: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + textwrap.dedent(hosts), encoding="utf-8")
    return path


def lab(sshd: SshdServer, pin: str, canary: str = "uptime", extra: str = "") -> str:
    return f"""
        hosts:
          lab:
            match: [127.0.0.1]
            users: [{sshd.user}]
            ports: [{sshd.port}]
            host_keys: ["{pin}"]
            canary: "{canary}"
            {extra}
        """


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli_main(["verify", *argv], out=out), out.getvalue()


def test_all_checks_pass(sshd: SshdServer, tmp_path: Path) -> None:
    rules = policy_file(tmp_path, lab(sshd, sshd.host_key_fingerprint))
    code, text = run("--rules", str(rules), "--key", str(sshd.client_key_path))
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].split() == ["HOST", "PORT", "GROUP", "POLICY", "REACHABLE", "HOST", "KEY", "ALGORITHMS",
                                "LOGIN", "CANARY", "RESULT"]
    row = lines[1].split()
    assert row[:6] == ["127.0.0.1", str(sshd.port), "lab", "allow", "yes", "match"]
    assert row[-3:] == ["ok", "ok", "ok"]
    assert f"host key:   ssh-ed25519 {sshd.host_key_fingerprint}: match (host_keys)" in text
    assert "canary:     `uptime` ok: exit 0" in text
    assert f"login:      ok: as {sshd.user}" in text
    assert text.rstrip().endswith("1 checked: 1 passed, 0 failed")


def test_wrong_pin_fails_and_sends_no_credentials(sshd: SshdServer, other_sshd: SshdServer, tmp_path: Path) -> None:
    rules = policy_file(tmp_path, lab(sshd, other_sshd.host_key_fingerprint))
    code, text = run("--rules", str(rules), "--key", str(sshd.client_key_path))
    assert code == 1
    assert "MISMATCH" in text.splitlines()[1] and text.splitlines()[1].split()[-1] == "FAIL"
    assert sshd.host_key_fingerprint in text and other_sshd.host_key_fingerprint in text
    assert "host key not accepted: no credentials sent" in text


def test_json_shape(sshd: SshdServer, tmp_path: Path) -> None:
    rules = policy_file(tmp_path, lab(sshd, sshd.host_key_fingerprint, canary="id -un"))
    out = io.StringIO()
    code = verify_main(["--rules", str(rules), "--json", "--key", str(sshd.client_key_path)], out=out)
    assert code == 0
    [report] = json.loads(out.getvalue())
    assert set(report) == {"host", "port", "group", "address", "ok", "policy", "reachable", "error", "host_key",
                           "algorithms", "algorithms_error", "weak_algorithms", "user", "login", "canary"}
    assert (report["host"], report["port"], report["group"], report["ok"]) == ("127.0.0.1", sshd.port, "lab", True)
    assert report["policy"] == {"allowed": True, "problem": None}
    assert report["host_key"] == {"type": "ssh-ed25519", "fingerprint": sshd.host_key_fingerprint, "status": "match",
                                  "source": "host_keys", "expected": [sshd.host_key_fingerprint], "problem": None}
    assert set(report["algorithms"]) == {"banner", "kex", "host_key", "ciphers", "macs", "compression"}
    assert report["login"]["status"] == "ok" and report["user"] == sshd.user
    assert report["canary"] == {"command": "id -un", "status": "ok", "detail": "exit 0", "exit_status": 0,
                                "stdout": f"{sshd.user}\n", "stderr": ""}


def test_without_key_checks_reachability_and_keys_only(sshd: SshdServer, tmp_path: Path) -> None:
    rules = policy_file(tmp_path, lab(sshd, sshd.host_key_fingerprint))
    out = io.StringIO()
    assert verify_main(["--rules", str(rules), "--json"], out=out) == 0
    [report] = json.loads(out.getvalue())
    assert report["login"]["status"] == "skipped" and report["canary"]["status"] == "skipped"


def test_canary_the_policy_denies_is_not_run(sshd: SshdServer, tmp_path: Path) -> None:
    marker = tmp_path / "canary-ran"
    rules = policy_file(tmp_path, lab(sshd, sshd.host_key_fingerprint, canary=f"touch {marker}"))
    code, text = run("--rules", str(rules), "--key", str(sshd.client_key_path))
    assert code == 1
    assert "DENIED" in text.splitlines()[1]
    assert "the policy denies it" in text and "login:      ok" in text
    assert not marker.exists()


def test_failing_canary(sshd: SshdServer, tmp_path: Path) -> None:
    rules = policy_file(tmp_path, lab(sshd, sshd.host_key_fingerprint, canary="false"))
    code, text = run("--rules", str(rules), "--key", str(sshd.client_key_path))
    assert code == 1 and "canary:     `false` failed: exit 1" in text


def test_group_command_set_decides_the_canary(sshd: SshdServer, tmp_path: Path) -> None:
    # The group's own command set replaces the tool's on its hosts: uptime is in diag, not in tight.
    head = HEAD.replace("commands:\n  diag:", "commands:\n  tight: {programs: {id: {}}}\n  diag:")
    for canary, expected in (("uptime", 1), ("id -un", 0)):
        path = tmp_path / "p.yaml"
        path.write_text(head + textwrap.dedent(lab(sshd, sshd.host_key_fingerprint, canary, "commands: tight")))
        code, text = run("--rules", str(path))
        assert code == expected, text
        assert ("DENIED" in text.splitlines()[1]) == (expected == 1)


def test_wrong_user_is_a_policy_denial(sshd: SshdServer, tmp_path: Path) -> None:
    rules = policy_file(tmp_path, lab(sshd, sshd.host_key_fingerprint))
    code, text = run("--rules", str(rules), "--key", str(sshd.client_key_path), "--user", "mallory")
    assert code == 1
    assert "user mallory may not log in to group lab" in text and "the policy denies this target" in text


def test_unreachable_and_extra_hosts(sshd: SshdServer, tmp_path: Path) -> None:
    rules = policy_file(tmp_path, f"""
        hosts:
          lab: {{match: [127.0.0.1, localhost], ports: [{sshd.port}, 1]}}
        """)
    out = io.StringIO()
    code = verify_main(["--rules", str(rules), "--json", "--timeout", "2", "--host", f"127.0.0.2:{sshd.port}"], out=out)
    reports = {(r["host"], r["port"]): r for r in json.loads(out.getvalue())}
    assert code == 1
    assert reports[("127.0.0.1", sshd.port)]["ok"] is True
    assert reports[("127.0.0.1", sshd.port)]["host_key"]["status"] == "unchecked"
    assert reports[("127.0.0.1", 1)]["reachable"] is False and "refused" in reports[("127.0.0.1", 1)]["error"]
    extra = reports[("127.0.0.2", sshd.port)]
    assert extra["policy"] == {"allowed": False, "problem": "host 127.0.0.2 is in no host group"}
    assert extra["ok"] is False


@pytest.mark.parametrize("argv", [[], ["--rules"], ["--rules", "x.yaml", "--timeout", "0"],
                                  ["--rules", "x.yaml", "--host", "[::1"], ["--rules", "x.yaml", "--host", "h:99999"]])
def test_bad_usage_exits_2(argv: list[str]) -> None:
    err = io.StringIO()
    assert verify_main(argv, out=io.StringIO(), err=err) == 2
    assert "usage: sshwall verify" in err.getvalue()


def test_bad_policy_or_nothing_to_check_exits_2(tmp_path: Path, sshd: SshdServer) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nhosts: {x: {match: []}}\n")
    err = io.StringIO()
    assert verify_main(["--rules", str(bad)], out=io.StringIO(), err=err) == 2
    assert "host group needs at least one match entry" in err.getvalue()
    only_ranges = policy_file(tmp_path, 'hosts:\n  all: {match: ["*.example.com", 10.0.0.0/8]}\n', "r.yaml")
    err = io.StringIO()
    assert verify_main(["--rules", str(only_ranges)], out=io.StringIO(), err=err) == 2
    assert "give --host" in err.getvalue()
    rules = policy_file(tmp_path, lab(sshd, sshd.host_key_fingerprint), "k.yaml")
    assert verify_main(["--rules", str(rules), "--key", str(tmp_path / "nokey")], out=io.StringIO(), err=io.StringIO()) == 2


def test_host_parsing_and_target_list(tmp_path: Path) -> None:
    assert parse_host("db:2222") == ("db", 2222)
    assert parse_host("db") == ("db", None)
    assert parse_host("[::1]:22") == ("::1", 22)
    assert parse_host("::1") == ("::1", None)
    policy = load_policy(policy_file(tmp_path, """
        hosts:
          a: {match: [a.example, "*.b.example", 10.0.0.0/8, 10.1.1.1], ports: [22, 2222]}
        """))
    assert targets_of(policy, [("x.b.example", None), ("a.example", 22), ("z.example", None)]) == [
        ("a.example", 22), ("a.example", 2222), ("10.1.1.1", 22), ("10.1.1.1", 2222),
        ("x.b.example", 22), ("x.b.example", 2222), ("z.example", 22),
    ]
