"""Whole tool calls through ``evaluate``: the shipped policy and small custom ones."""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sshwall.engine import Decision, Hit, ToolCall, Verdict, effective_interval, evaluate
from sshwall.engine.workdir import Workdir
from sshwall.policy import Policy, load_policy

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "rules" / "readonly-ops.yaml"
CUSTOM = REPO / "fixtures" / "policies" / "custom.yaml"


@pytest.fixture(scope="module")
def shipped() -> Policy:
    return load_policy(SHIPPED)


@pytest.fixture(scope="module")
def custom() -> Policy:
    return load_policy(CUSTOM)


def decide(policy: Policy, tool: str, arguments: Any) -> Verdict:
    verdict = evaluate(policy, ToolCall(tool, arguments))
    # Every verdict says which rules decided and why.
    assert verdict.rules, verdict
    assert verdict.reasons, verdict
    assert all(r.strip() for r in verdict.reasons)
    return verdict


def run(policy: Policy, command: str, **extra: Any) -> Verdict:
    return decide(policy, "executeCommand", {"connectionId": "c1", "command": command, **extra})


# -- tool-level decisions ------------------------------------------------------------------------


def test_unknown_tool_gets_the_default(shipped: Policy) -> None:
    verdict = decide(shipped, "formatDisk", {})
    assert verdict.decision == Decision.DENY
    assert verdict.rules == ["default"]
    assert "`formatDisk`" in verdict.reasons[0]
    assert "readonly-ops" in verdict.reasons[0]


@pytest.mark.parametrize("default", ["allow", "prompt"])
def test_unknown_tool_default_allow_or_prompt(tmp_path: Path, default: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"version: 1\ndefault: {default}\ntools: {{}}\n")
    verdict = decide(load_policy(path), "anything", {})
    assert verdict.decision == Decision(default)
    assert verdict.rules == ["default"]


def test_allowed_tool_without_arguments(shipped: Policy) -> None:
    verdict = decide(shipped, "listConnections", {})
    assert verdict.decision == Decision.ALLOW
    assert verdict.rules == ["tools.listConnections"]


@pytest.mark.parametrize(
    ("tool", "arguments", "reason"),
    [
        ("uploadFile", {"connectionId": "c1", "localPath": "/a", "remotePath": "/b"}, "no file transfers"),
        ("createTunnel", {"connectionId": "c1", "localPort": 8080, "remoteHost": "h", "remotePort": 80}, "no tunnels"),
        ("mcp_ssh_mcp_writeToTerminal", {"sessionId": "s1", "data": "ls\n"}, "terminal input is denied"),
    ],
)
def test_denied_tools_give_their_reason(shipped: Policy, tool: str, arguments: dict[str, Any], reason: str) -> None:
    verdict = decide(shipped, tool, arguments)
    assert verdict.decision == Decision.DENY
    assert verdict.rules == [f"tools.{tool}"]
    assert reason in verdict.reasons[0]


def test_hidden_tool_is_denied(custom: Policy) -> None:
    verdict = decide(custom, "listTunnels", {})
    assert verdict.decision == Decision.DENY
    assert verdict.rules == ["tools.listTunnels"]


def test_denied_tool_with_custom_reason(custom: Policy) -> None:
    verdict = decide(custom, "stopBackground", {"connectionId": "c1"})
    assert verdict.decision == Decision.DENY
    assert verdict.reasons == ["stopping is for humans"]


def test_prompted_tool(custom: Policy) -> None:
    verdict = decide(custom, "getConnection", {"connectionId": "c1"})
    assert verdict.decision == Decision.PROMPT
    assert verdict.rules == ["tools.getConnection"]


def test_tool_outside_profile(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\ntools:\n  customTool: allow\n  anyTool: {commands: any}\n")
    policy = load_policy(path)
    assert decide(policy, "customTool", {}).decision == Decision.ALLOW
    verdict = decide(policy, "customTool", {"x": 1})
    assert verdict.decision == Decision.DENY
    assert "cannot be checked" in verdict.reasons[0]
    assert decide(policy, "anyTool", {"x": 1}).decision == Decision.ALLOW


# -- argument validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "typename"),
    [(["ls"], "list"), (5, "int"), ({"cmd": "ls"}, "dict"), (True, "bool"), (1.5, "float")],
)
def test_command_of_wrong_type(shipped: Policy, value: Any, typename: str) -> None:
    verdict = decide(shipped, "executeCommand", {"connectionId": "c1", "command": value})
    assert verdict.decision == Decision.DENY
    assert f"argument `command` must be string, not {typename}" in verdict.reasons


def test_command_null(shipped: Policy) -> None:
    verdict = decide(shipped, "executeCommand", {"connectionId": "c1", "command": None})
    assert verdict.decision == Decision.DENY
    assert any("`command`" in r for r in verdict.reasons)


@pytest.mark.parametrize(
    ("arguments", "missing"),
    [
        ({"command": "ls"}, "connectionId"),
        ({"connectionId": "c1"}, "command"),
        ({}, "connectionId"),
    ],
)
def test_missing_required_argument(shipped: Policy, arguments: dict[str, Any], missing: str) -> None:
    verdict = decide(shipped, "executeCommand", arguments)
    assert verdict.decision == Decision.DENY
    assert f"required argument `{missing}` is missing" in verdict.reasons


def test_unknown_extra_argument(shipped: Policy) -> None:
    verdict = decide(shipped, "executeCommand", {"connectionId": "c1", "command": "ls", "sudo": True})
    assert verdict.decision == Decision.DENY
    assert "argument `sudo` is not in the profile of `executeCommand`" in verdict.reasons


def test_unknown_argument_on_tool_without_arguments(shipped: Policy) -> None:
    verdict = decide(shipped, "listConnections", {"all": True})
    assert verdict.decision == Decision.DENY
    assert "argument `all`" in verdict.reasons[0]


@pytest.mark.parametrize("arguments", [["ls"], "ls", None, 5], ids=["list", "str", "null", "int"])
def test_arguments_not_an_object(shipped: Policy, arguments: Any) -> None:
    verdict = decide(shipped, "executeCommand", arguments)
    assert verdict.decision == Decision.DENY
    assert f"arguments of `executeCommand` must be an object, not {type(arguments).__name__}" in verdict.reasons


# The real schema says `number` for timeout (issue 10): 5.5 ms is a valid timeout, a list is not.
@pytest.mark.parametrize(("name", "value"), [("timeout", "5"), ("timeout", [5]), ("timeout", True), ("cwd", 7), ("force", "yes")])
def test_optional_argument_of_wrong_type(shipped: Policy, name: str, value: Any) -> None:
    verdict = decide(shipped, "executeCommand", {"connectionId": "c1", "command": "ls", name: value})
    assert verdict.decision == Decision.DENY
    assert any(f"argument `{name}` must be" in r for r in verdict.reasons)


def test_optional_argument_null_is_absent(shipped: Policy) -> None:
    assert run(shipped, "ls", cwd=None, timeout=None).decision == Decision.ALLOW


def test_nested_items_are_checked(custom: Policy) -> None:
    base = {"connectionId": "c1"}
    cases = [
        ({"files": ["x"]}, "argument `files[0]` must be an object"),
        ({"files": [{"localPath": "/srv/outbox/a"}]}, "required argument `files[0].remotePath` is missing"),
        ({"files": [{"localPath": "/srv/outbox/a", "remotePath": "/tmp/a", "mode": 1}]},
         "argument `files[0].mode` is not in the profile"),
        ({"files": [{"localPath": 1, "remotePath": "/tmp/a"}]}, "argument `files[0].localPath` must be string"),
        ({"files": "x"}, "argument `files` must be array"),
    ]
    for arguments, reason in cases:
        verdict = decide(custom, "batchUploadFiles", {**base, **arguments})
        assert verdict.decision == Decision.DENY, arguments
        assert any(reason in r for r in verdict.reasons), (arguments, verdict.reasons)


# -- backgroundExecute intervals ---------------------------------------------------------------


def background(policy: Policy, **interval: Any) -> Verdict:
    return decide(policy, "backgroundExecute", {"connectionId": "c1", "command": "uptime", **interval})


def test_interval_missing_uses_upstream_default(shipped: Policy) -> None:
    verdict = background(shipped)
    assert verdict.decision == Decision.DENY
    assert verdict.rules == ["tools.backgroundExecute.interval"]
    assert "10s" in verdict.reasons[0] and "upstream default" in verdict.reasons[0]
    assert effective_interval(shipped, ToolCall("backgroundExecute", {"command": "uptime"})) == 10_000


def test_interval_null_is_missing(shipped: Policy) -> None:
    assert background(shipped, interval=None).decision == Decision.DENY


@pytest.mark.parametrize(
    ("interval", "decision"),
    [
        (29_999, Decision.DENY),
        (30_000, Decision.ALLOW),
        (60_000, Decision.ALLOW),
        (86_400_000, Decision.ALLOW),
        (86_400_001, Decision.DENY),
        (0, Decision.DENY),
        (-1, Decision.DENY),
        (10**30, Decision.DENY),
    ],
)
def test_interval_bounds(shipped: Policy, interval: int, decision: Decision) -> None:
    verdict = background(shipped, interval=interval)
    assert verdict.decision == decision
    if decision == Decision.DENY:
        assert verdict.rules == ["tools.backgroundExecute.interval"]


@pytest.mark.parametrize("interval", [True, False, "60000", [60000], {"ms": 60000}])
def test_interval_of_wrong_type(shipped: Policy, interval: Any) -> None:
    verdict = background(shipped, interval=interval)
    assert verdict.decision == Decision.DENY
    assert any("argument `interval` must be number" in r for r in verdict.reasons)


@pytest.mark.parametrize("interval", [60000.5, 60000.0])
def test_interval_is_a_json_number_as_in_the_real_schema(shipped: Policy, interval: float) -> None:
    # Issue 10: Mcp Ssh declares `number`; `60000.0` was wrongly denied as "not an integer".
    assert background(shipped, interval=interval).decision == Decision.ALLOW


def test_interval_reason_names_bound(shipped: Policy) -> None:
    assert "below the minimum 30s" in background(shipped, interval=29_999).reasons[0]
    assert "above the maximum 1d" in background(shipped, interval=86_400_001).reasons[0]


def test_policy_interval_default(custom: Policy) -> None:
    # custom.yaml: interval {min: 30s, max: 1h, default: 1m}
    assert background(custom).decision == Decision.ALLOW
    assert effective_interval(custom, ToolCall("backgroundExecute", {"command": "uptime"})) == 60_000
    assert background(custom, interval=3_600_001).decision == Decision.DENY


def test_interval_and_command_both_checked(shipped: Policy) -> None:
    verdict = decide(shipped, "backgroundExecute", {"connectionId": "c1", "command": "rm -rf /", "interval": 10})
    assert verdict.decision == Decision.DENY
    assert "tools.backgroundExecute.interval" in verdict.rules
    assert "diagnostics.deny_programs" in verdict.rules


# -- commands: reasons name the program and the flag ---------------------------------------------


def test_allowed_command_names_its_rules(shipped: Policy) -> None:
    verdict = run(shipped, "df -h")
    assert verdict.decision == Decision.ALLOW
    assert verdict.rules == ["tools.executeCommand", "diagnostics.df"]
    assert any("`df`" in r for r in verdict.reasons)


@pytest.mark.parametrize(
    ("command", "rule", "words"),
    [
        ("find / -name x -exec rm {} +", "diagnostics.find", ["`find`", "`-exec`"]),
        ("find /tmp -delete", "diagnostics.find", ["`find`", "`-delete`"]),
        ("sort --out=/etc/passwd x", "diagnostics.sort", ["`sort`", "`--output`"]),
        ("systemctl restart nginx", "diagnostics.systemctl", ["`systemctl restart`"]),
        ("git -p log", "diagnostics.git.log", ["`git log`", "`-p`"]),
        ("ping -c 30 127.0.0.1", "diagnostics.ping", ["`ping`", "`-c`", "`30`"]),
        ("cat /etc/shadow", "diagnostics.cat", ["`cat`", "`/etc/shadow`"]),
        ("rm -rf /", "diagnostics.deny_programs", ["`rm`"]),
        ("vim /etc/hosts", "diagnostics.programs", ["`vim`"]),
        ("sed -n 'w /tmp/x' /etc/hosts", "diagnostics.sed", ["`sed`", "`w`"]),
        ("awk '{system(\"id\")}' /etc/hosts", "diagnostics.awk", ["`awk`", "`system`"]),
        ("ls > /tmp/x", "diagnostics.redirects", ["`> /tmp/x`"]),
        ("ls &", "diagnostics.operators", ["`&`"]),
        ("ls $(id)", "diagnostics.substitutions", ["substitution"]),
    ],
)
def test_denied_command_names_program_and_flag(shipped: Policy, command: str, rule: str, words: list[str]) -> None:
    verdict = run(shipped, command)
    assert verdict.decision == Decision.DENY
    assert rule in verdict.rules
    text = " ".join(verdict.reasons)
    for word in words:
        assert word in text, (word, text)


def test_git_log_patch_is_allowed(shipped: Policy) -> None:
    assert run(shipped, "git log -p").decision == Decision.ALLOW
    assert run(shipped, "git --no-pager log -p -n 5").decision == Decision.ALLOW


def test_deny_lists_every_problem(shipped: Policy) -> None:
    verdict = run(shipped, "cat /etc/shadow; rm -rf /")
    assert verdict.decision == Decision.DENY
    assert {"diagnostics.cat", "diagnostics.deny_programs"} <= set(verdict.rules)


def test_oversized_command_is_denied(shipped: Policy) -> None:
    verdict = run(shipped, "x" * 1_000_000)
    assert verdict.decision == Decision.DENY
    assert verdict.rules == ["analysis.too-long"]


def test_working_folder_decides_relative_paths(shipped: Policy) -> None:
    # The upstream runs `cd CWD >/dev/null 2>&1; COMMAND`: where CWD does not exist the command
    # runs in the connection's folder, so that one must be known too (docs/working-folder.md).
    def in_folder(command: str, cwd: str) -> Verdict:
        call = ToolCall("executeCommand", {"connectionId": "c1", "command": command, "cwd": cwd})
        return evaluate(shipped, call, workdir=Workdir("/srv", "/root"))

    assert in_folder("cat config", "/srv").decision == Decision.ALLOW
    assert run(shipped, "cat config", cwd="/srv").decision == Decision.DENY  # the fallback folder is unknown
    assert in_folder("cat .env", "/srv/app").decision == Decision.DENY
    verdict = run(shipped, "cat id_rsa", cwd="/root/.ssh")
    assert verdict.decision == Decision.DENY
    assert "protected path" in verdict.reasons[0] and "id_rsa" in verdict.reasons[0]


def test_recursive_read_of_folder_holding_secrets(shipped: Policy) -> None:
    assert run(shipped, "grep -r key /home").decision == Decision.DENY
    assert run(shipped, "grep --recursive key /home").decision == Decision.DENY
    assert run(shipped, "grep -r key /var/log").decision == Decision.ALLOW


def test_abbreviated_recursive_flag_is_recursive(shipped: Policy) -> None:
    assert run(shipped, "grep --recur key /home").decision == Decision.DENY


@pytest.mark.parametrize("command", ["grep -d recurse key /home", "grep --directories=recurse key /home"])
def test_grep_directories_recurse_is_recursive(shipped: Policy, command: str) -> None:
    assert run(shipped, command).decision == Decision.DENY


# -- prompt decisions and the strictest match ------------------------------------------------------


def test_program_prompt(custom: Policy) -> None:
    verdict = run(custom, "reboot")
    assert verdict.decision == Decision.PROMPT
    assert verdict.rules == ["ops.reboot"]
    assert verdict.reasons == ["a reboot needs a human"]


def test_subcommand_prompt(custom: Policy) -> None:
    verdict = run(custom, "systemctl restart nginx")
    assert verdict.decision == Decision.PROMPT
    assert verdict.rules == ["ops.systemctl.restart"]
    assert "`systemctl restart`" in verdict.reasons[0]
    assert run(custom, "systemctl status nginx").decision == Decision.ALLOW


def test_prompt_beats_allow(custom: Policy) -> None:
    verdict = run(custom, "uptime && reboot")
    assert verdict.decision == Decision.PROMPT
    assert verdict.rules == ["ops.reboot"]  # only the deciding hits are named
    assert {h.rule for h in verdict.hits} >= {"tools.executeCommand", "ops.uptime", "ops.reboot"}


@pytest.mark.parametrize("command", ["reboot; rm -rf /tmp/x", "rm x && reboot", "reboot | nosuchprogram"])
def test_deny_beats_prompt(custom: Policy, command: str) -> None:
    verdict = run(custom, command)
    assert verdict.decision == Decision.DENY
    assert "ops.reboot" not in verdict.rules
    assert all(h.decision == Decision.DENY for h in verdict.deciding)


def test_verdict_of_no_hits_denies() -> None:
    verdict = Verdict.of([])
    assert verdict.decision == Decision.DENY
    assert verdict.rules == ["default"]


def test_verdict_strictest_wins() -> None:
    hits = [Hit("a", Decision.ALLOW, "ok"), Hit("b", Decision.PROMPT, "ask"), Hit("c", Decision.ALLOW, "ok")]
    assert Verdict.of(hits).decision == Decision.PROMPT
    assert Verdict.of(hits + [Hit("d", Decision.DENY, "no")]).rules == ["d"]
    assert [d.severity for d in (Decision.ALLOW, Decision.PROMPT, Decision.DENY)] == [0, 1, 2]


def test_engine_error_denies(shipped: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    # `sshwall.engine.evaluate` the attribute is the function; the module is in sys.modules.
    ev = importlib.import_module("sshwall.engine.evaluate")

    def boom(*_: Any, **__: Any) -> list[Hit]:
        raise RuntimeError("kaput")

    monkeypatch.setattr(ev, "check_commands", boom)
    verdict = run(shipped, "df -h")
    assert verdict.decision == Decision.DENY
    assert verdict.rules == ["engine.error"]
    assert "kaput" in verdict.reasons[0]


# -- terminal input ----------------------------------------------------------------------------


def terminal(policy: Policy, data: Any) -> Verdict:
    return decide(policy, "mcp_ssh_mcp_writeToTerminal", {"sessionId": "s1", "data": data})


@pytest.mark.parametrize("data", ["ls\n", "ls -l /tmp\npwd\n", "ls\r", "ls\r\npwd\r\n", "", "\n\n", "\x03", "pwd"])
def test_terminal_lines_allowed(custom: Policy, data: str) -> None:
    assert terminal(custom, data).decision == Decision.ALLOW


def test_terminal_checks_each_line(custom: Policy) -> None:
    verdict = terminal(custom, "ls\nrm -rf /\npwd\n")
    assert verdict.decision == Decision.DENY
    assert verdict.rules == ["term.programs"]
    assert "`rm`" in verdict.reasons[0]
    assert terminal(custom, "ls\npwd\n").rules == ["tools.mcp_ssh_mcp_writeToTerminal", "term.ls", "term.pwd"]


def test_terminal_uses_the_terminal_command_set(custom: Policy) -> None:
    assert terminal(custom, "cat /etc/shadow\n").decision == Decision.DENY
    assert terminal(custom, "uptime\n").decision == Decision.DENY  # in `ops`, not in `term`


@pytest.mark.parametrize(
    ("data", "key"),
    [("\x04", "ctrl-d"), ("\x1a", "ctrl-z"), ("\x1b[A", "escape (arrow keys recall and edit history)"), ("ls\x7f\n", "backspace"),
     ("\x00ls\n", "control character '\\x00'"), ("ls\x07\n", "control character '\\x07'")],
)
def test_terminal_control_characters_denied(custom: Policy, data: str, key: str) -> None:
    verdict = terminal(custom, data)
    assert verdict.decision == Decision.DENY
    assert verdict.rules == ["tools.mcp_ssh_mcp_writeToTerminal.terminal"]
    assert verdict.reasons == [f"terminal input contains {key}"]


def test_terminal_allowed_control_character(custom: Policy) -> None:
    assert terminal(custom, "\x03").decision == Decision.ALLOW  # allow_control: [ctrl-c]


def test_terminal_control_allowed_by_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent("""
        version: 1
        tools:
          mcp_ssh_mcp_writeToTerminal: {terminal: {commands: t, allow_control: [ctrl-d, ctrl-u]}}
        commands:
          t: {programs: {ls: {}}}
    """))
    policy = load_policy(path)
    assert terminal(policy, "\x04").decision == Decision.ALLOW
    assert terminal(policy, "ls\x15ls\n").decision == Decision.ALLOW
    assert terminal(policy, "\x1b").decision == Decision.DENY  # escape is never allowed
    assert terminal(policy, "\x03").decision == Decision.DENY


def test_terminal_data_of_wrong_type(custom: Policy) -> None:
    verdict = terminal(custom, ["ls"])
    assert verdict.decision == Decision.DENY
    assert "argument `data` must be string, not list" in verdict.reasons


def test_terminal_ctrl_c_starts_a_new_line(custom: Policy) -> None:
    assert terminal(custom, "ls /\x03rm -rf /tmp/x\n").decision == Decision.DENY


def test_terminal_tab_is_a_control_key(custom: Policy) -> None:
    assert terminal(custom, "cat /etc/sha\t\n").decision == Decision.DENY


# -- transfer paths ----------------------------------------------------------------------------


def upload(policy: Policy, local: str, remote: str) -> Verdict:
    return decide(policy, "uploadFile", {"connectionId": "c1", "localPath": local, "remotePath": remote})


@pytest.mark.parametrize(
    ("local", "remote"),
    [("/srv/outbox/a.txt", "/tmp/a.txt"), ("/srv/outbox/x/y", "/srv/inbox/y"), ("/srv/outbox/*", "/tmp/a")],
)
def test_transfer_allowed(custom: Policy, local: str, remote: str) -> None:
    verdict = upload(custom, local, remote)
    assert verdict.decision == Decision.ALLOW
    assert verdict.rules == ["tools.uploadFile"]


@pytest.mark.parametrize(
    ("local", "remote", "reason"),
    [
        ("/srv/outbox/a", "/tmp/secret.txt", "remote-path `/tmp/secret.txt` matches denied path `/tmp/secret*`"),
        ("/home/u/.ssh/id_rsa", "/tmp/a", "local-path `/home/u/.ssh/id_rsa` matches denied path `**/.ssh/**`"),
        ("/srv/outbox/.ssh/k", "/tmp/a", "matches denied path `**/.ssh/**`"),
        ("/srv/outbox/a", "/etc/passwd", "remote-path `/etc/passwd` is not under an allowed path"),
        ("/etc/passwd", "/tmp/a", "local-path `/etc/passwd` is not under an allowed path"),
        ("/srv/outbox/../../etc/passwd", "/tmp/a", "must be an absolute path without `..`"),
        ("/srv/outbox/a", "/tmp/../etc/cron.d/x", "must be an absolute path without `..`"),
        ("outbox/a", "/tmp/a", "must be an absolute path"),
        ("/srv/outbox/a", "~/x", "must be an absolute path"),
        ("/srv/outboxer/a", "/tmp/a", "not under an allowed path"),
    ],
)
def test_transfer_denied(custom: Policy, local: str, remote: str, reason: str) -> None:
    verdict = upload(custom, local, remote)
    assert verdict.decision == Decision.DENY
    assert verdict.rules == ["tools.uploadFile.paths"]
    assert any(reason in r for r in verdict.reasons), verdict.reasons


def test_download_paths(custom: Policy) -> None:
    ok = {"connectionId": "c1", "remotePath": "/var/log/syslog", "localPath": "/srv/inbox/syslog"}
    assert decide(custom, "downloadFile", ok).decision == Decision.ALLOW
    verdict = decide(custom, "downloadFile", {"connectionId": "c1", "remotePath": "/etc/shadow", "localPath": "/srv/inbox/x"})
    assert verdict.decision == Decision.DENY
    assert "remote-path `/etc/shadow`" in verdict.reasons[0]
    verdict = decide(custom, "downloadFile", {"connectionId": "c1", "remotePath": "/var/log/x", "localPath": "/root/x"})
    assert verdict.decision == Decision.DENY


def test_batch_transfer_checks_every_item(custom: Policy) -> None:
    good = {"localPath": "/srv/outbox/a", "remotePath": "/tmp/a"}
    bad = {"localPath": "/etc/passwd", "remotePath": "/tmp/b"}
    assert decide(custom, "batchUploadFiles", {"connectionId": "c1", "files": [good]}).decision == Decision.ALLOW
    verdict = decide(custom, "batchUploadFiles", {"connectionId": "c1", "files": [good, bad]})
    assert verdict.decision == Decision.DENY
    assert "local-path `/etc/passwd`" in verdict.reasons[0]


# -- tunnels -------------------------------------------------------------------------------------


def tunnel(policy: Policy, host: str, port: Any, local: Any) -> Verdict:
    return decide(policy, "createTunnel", {"connectionId": "c1", "localPort": local, "remoteHost": host, "remotePort": port})


@pytest.mark.parametrize(
    ("host", "port", "local"),
    [("127.0.0.1", 5432, 15432), ("db-1.internal", 5432, 20000), ("db-east.internal", 5433, 20099),
     ("DB-1.internal", 5432, 20050)],
)
def test_tunnel_allowed(custom: Policy, host: str, port: int, local: int) -> None:
    verdict = tunnel(custom, host, port, local)
    assert verdict.decision == Decision.ALLOW
    assert verdict.rules == ["tools.createTunnel"]


@pytest.mark.parametrize(
    ("host", "port", "local", "reason"),
    [
        ("127.0.0.1", 5433, 15432, "tunnel target `127.0.0.1:5433` is not allowed"),
        ("db-1.internal", 5434, 20000, "tunnel target `db-1.internal:5434` is not allowed"),
        ("evil.example", 5432, 15432, "tunnel target `evil.example:5432`"),
        ("db-1.internal.evil.example", 5432, 15432, "is not allowed"),
        ("localhost", 5432, 15432, "tunnel target `localhost:5432`"),
        ("127.0.0.1", 5432, 15433, "local port 15433 is not in the allowed ranges"),
        ("127.0.0.1", 5432, 19999, "local port 19999"),
        ("127.0.0.1", 5432, 20100, "local port 20100"),
    ],
)
def test_tunnel_denied(custom: Policy, host: str, port: int, local: int, reason: str) -> None:
    verdict = tunnel(custom, host, port, local)
    assert verdict.decision == Decision.DENY
    assert verdict.rules == ["tools.createTunnel.tunnels"]
    assert any(reason in r for r in verdict.reasons), verdict.reasons


@pytest.mark.parametrize(("port", "local"), [("5432", 15432), (5432, "15432"), (5432, True), (5432.5, 15432)])
def test_tunnel_port_types(custom: Policy, port: Any, local: Any) -> None:
    verdict = tunnel(custom, "127.0.0.1", port, local)
    assert verdict.decision == Decision.DENY
    assert verdict.rules == ["tools.createTunnel"]
    assert any("must be number" in r or "must be a whole number" in r for r in verdict.reasons)


def test_tunnel_ports_are_json_numbers(custom: Policy) -> None:
    # Issue 10: the real schema says `number`, so 5432.0 is port 5432.
    assert tunnel(custom, "127.0.0.1", 5432.0, 15432.0).decision == tunnel(custom, "127.0.0.1", 5432, 15432).decision
