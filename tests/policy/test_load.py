"""Loading policies: valid files load, every mistake is a PolicyError naming file, line and field."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from sshwall.engine import load_checked
from sshwall.errors import PolicyError
from sshwall.policy import (
    Decision,
    Policy,
    ToolRule,
    default_policy_path,
    format_duration,
    load_policy,
    load_profile,
    parse_duration,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "rules" / "readonly-ops.yaml"
FIXTURES = REPO / "fixtures" / "policies"


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    return str(info.value)


VALID = """
version: 1
name: small
profile: mcp-ssh
default: deny
tools:
  listConnections: allow
  executeCommand:
    commands: diag
    limits: [{counter: exec, window: minute, max: 60, scope: grant}]
  backgroundExecute:
    commands: diag
    interval: {min: 30s, max: 24h}
    background: {max_active: 2, ttl: 15m}
commands:
  diag:
    programs:
      ls: {operands: metadata}
      uptime: {}
examples:
  - {tool: executeCommand, arguments: {connectionId: c1, command: "ls -l"}, expect: allow}
"""


# -- valid policies ------------------------------------------------------------------------------


def test_valid_yaml_loads(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, VALID))
    assert isinstance(policy, Policy)
    assert policy.name == "small"
    assert policy.default == Decision.DENY
    assert policy.profile.name == "mcp-ssh"
    assert policy.tools["executeCommand"].commands == "diag"
    assert policy.tools["executeCommand"].limits[0].window == 60_000
    assert policy.tools["backgroundExecute"].interval is not None
    assert policy.tools["backgroundExecute"].interval.min == 30_000
    assert policy.tools["backgroundExecute"].interval.max == 86_400_000
    assert policy.tools["backgroundExecute"].background.ttl == 900_000  # type: ignore[union-attr]
    assert set(policy.commands["diag"].programs) == {"ls", "uptime"}
    assert len(policy.examples) == 1


def test_policy_is_frozen(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, VALID))
    with pytest.raises(Exception):  # noqa: B017 - whichever error the frozen model raises
        policy.name = "changed"  # type: ignore[misc]


def test_shipped_policy_loads_and_passes_its_examples() -> None:
    policy = load_checked(SHIPPED)
    assert policy.name == "readonly-ops"
    assert policy.examples
    assert default_policy_path().resolve() == SHIPPED.resolve()


def test_json_policy_loads(tmp_path: Path) -> None:
    data = {
        "version": 1,
        "profile": "mcp-ssh",
        "tools": {
            "listConnections": "allow",
            "executeCommand": {"commands": "diag"},
        },
        "commands": {"diag": {"programs": {"uptime": {}}}},
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    policy = load_policy(path)
    assert policy.tools["listConnections"].decision == "allow"
    assert policy.tools["executeCommand"].commands == "diag"
    assert "uptime" in policy.commands["diag"].programs


@pytest.mark.parametrize("decision", ["allow", "prompt", "deny", "hide"])
def test_tool_shorthand(tmp_path: Path, decision: str) -> None:
    policy = load_policy(write(tmp_path, f"version: 1\ntools:\n  listConnections: {decision}\n"))
    assert policy.tools["listConnections"] == ToolRule(decision=decision)  # type: ignore[arg-type]


def test_profile_defaults_to_mcp_ssh(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, "version: 1\ntools: {listConnections: allow}\n"))
    assert policy.profile.name == "mcp-ssh"


def test_fixture_policy_loads() -> None:
    policy = load_checked(FIXTURES / "custom.yaml")
    assert policy.name == "custom"


# -- unknown fields: file, line and field path ---------------------------------------------------


def test_unknown_top_level_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        profile: mcp-ssh
        defualt: deny
        tools: {listConnections: allow}
        """,
    )
    msg = load_error(path)
    assert f"{path}:3:" in msg
    assert "defualt" in msg


def test_unknown_tool_rule_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        tools:
          listConnections: allow
          executeCommand:
            commands: diag
            comands: other
        commands:
          diag:
            programs: {ls: {}}
        """,
    )
    msg = load_error(path)
    assert f"{path}:6:" in msg
    assert "tools.executeCommand.comands" in msg


def test_unknown_program_spec_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        tools:
          executeCommand: {commands: diag}
        commands:
          diag:
            programs:
              ls: {operands: metadata}
              find:
                deny_flags: [-exec]
                deny_flag: [-delete]
        """,
    )
    msg = load_error(path)
    assert f"{path}:10:" in msg
    assert "commands.diag.programs.find.deny_flag" in msg


def test_unknown_field_in_nested_subcommand(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        tools:
          executeCommand: {commands: diag}
        commands:
          diag:
            programs:
              git:
                subcommands:
                  log: {deny_flags: [--output]}
                  show: {bogus: true}
        """,
    )
    msg = load_error(path)
    assert f"{path}:10:" in msg
    assert "commands.diag.programs.git.subcommands.show.bogus" in msg


def test_every_unknown_field_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        extra_top: 1
        tools:
          listConnections: {decision: allow, why: x}
        """,
    )
    msg = load_error(path)
    assert f"{path}:2: extra_top" in msg
    assert f"{path}:4: tools.listConnections.why" in msg


def test_wrong_value_names_field_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        tools:
          listConnections: allow
          stopBackground: {decision: maybe}
        """,
    )
    msg = load_error(path)
    assert f"{path}:4:" in msg
    assert "tools.stopBackground.decision" in msg


def test_unknown_field_in_json_names_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"version": 1,\n "tools": {\n  "listConnections": {"decision": "allow", "bogus": 1}}}\n')
    msg = load_error(path)
    assert str(path) in msg
    assert "tools.listConnections.bogus" in msg


def test_unknown_field_in_json_names_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"version": 1,\n "tools": {\n  "listConnections": {"decision": "allow", "bogus": 1}}}\n')
    assert f"{path}:3:" in load_error(path)


# -- invalid documents ----------------------------------------------------------------------------


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        tools:
          listConnections: allow
          executeCommand: {commands: [diag
        """,
    )
    msg = load_error(path)
    assert "invalid YAML" in msg
    assert msg.startswith(f"{path}:")
    line = int(msg[len(str(path)) + 1 :].split(":", 1)[0])
    assert line >= 4


def test_invalid_yaml_bad_indentation(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\ntools:\n  a: allow\n b: allow\n")
    msg = load_error(path)
    assert "invalid YAML" in msg
    assert f"{path}:4:" in msg


def test_invalid_json_names_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"version": 1,\n "tools": {\n  listConnections: "allow"}}\n')
    msg = load_error(path)
    assert f"{path}:3:" in msg
    assert "invalid JSON" in msg


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n", "42\n"])
def test_policy_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    assert "mapping" in load_error(path)


def test_missing_file(tmp_path: Path) -> None:
    msg = load_error(tmp_path / "nope.yaml")
    assert "nope.yaml" in msg and "cannot read" in msg


# -- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms"),
    [("30s", 30_000), ("15m", 900_000), ("24h", 86_400_000), ("500ms", 500), ("1d", 86_400_000),
     (30, 30_000), ("45", 45_000), (0.5, 500), ("1.5s", 1_500), (" 2 m ", 120_000), ("0s", 0)],
)
def test_parse_duration(text: object, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "abc", "-5s", "5x", "1w", "1e3", "s", "5 s s", True, None, [], -1])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("ms", "text"), [(30_000, "30s"), (86_400_000, "1d"), (3_600_000, "1h"),
                                          (90_000, "90s"), (1_500, "1500ms"), (0, "0ms")])
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text


@pytest.mark.parametrize(
    ("value", "ms"),
    [("30s", 30_000), ("15m", 900_000), ("24h", 86_400_000), ("500ms", 500), ("90", 90_000), ("45", 45_000)],
)
def test_durations_in_a_policy(tmp_path: Path, value: str, ms: int) -> None:
    path = write(
        tmp_path,
        f"""
        version: 1
        tools:
          backgroundExecute:
            commands: any
            interval: {{min: {value}}}
            background: {{ttl: {value}}}
        """,
    )
    rule = load_policy(path).tools["backgroundExecute"]
    assert rule.interval is not None and rule.interval.min == ms
    assert rule.background is not None and rule.background.ttl == ms


@pytest.mark.parametrize("value", ["30 sec", "-1s", "soon", "true", "[30s]", "'1w'"])
def test_bad_duration_in_a_policy(tmp_path: Path, value: str) -> None:
    path = write(
        tmp_path,
        f"""
        version: 1
        tools:
          backgroundExecute:
            commands: any
            interval: {{min: {value}}}
        """,
    )
    msg = load_error(path)
    assert f"{path}:5:" in msg
    assert "tools.backgroundExecute.interval.min" in msg


def test_infinite_duration_in_a_policy(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\ntools:\n  backgroundExecute:\n    commands: any\n    interval: {min: .inf}\n")
    msg = load_error(path)
    assert "tools.backgroundExecute.interval.min" in msg


def test_nan_duration_in_a_policy(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\ntools:\n  backgroundExecute:\n    commands: any\n    interval: {min: .nan}\n")
    assert "tools.backgroundExecute.interval.min" in load_error(path)


@pytest.mark.parametrize(("name", "ms"), [("second", 1_000), ("minute", 60_000), ("hour", 3_600_000), ("day", 86_400_000), ("90s", 90_000)])
def test_limit_windows(tmp_path: Path, name: str, ms: int) -> None:
    path = write(
        tmp_path,
        f"""
        version: 1
        tools:
          listConnections:
            limits: [{{counter: c, window: {name}, max: 5}}]
        """,
    )
    limit = load_policy(path).tools["listConnections"].limits[0]
    assert (limit.window, limit.max, limit.scope) == (ms, 5, "grant")


def test_negative_limit_max(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\ntools:\n  listConnections:\n    limits: [{counter: c, window: minute, max: -1}]\n")
    assert "tools.listConnections.limits.0.max" in load_error(path)


# -- consistency checks --------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["executeCommand", "backgroundExecute"])
@pytest.mark.parametrize("decision", ["allow", "prompt"])
def test_command_tool_needs_a_command_set(tmp_path: Path, tool: str, decision: str) -> None:
    path = write(tmp_path, f"version: 1\ntools:\n  {tool}: {decision}\n")
    msg = load_error(path)
    assert f"tools.{tool}" in msg
    assert "command set" in msg


def test_denied_command_tool_needs_no_command_set(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, "version: 1\ntools:\n  executeCommand: deny\n  backgroundExecute: hide\n"))
    assert policy.tools["executeCommand"].decision == "deny"


def test_command_set_any_is_accepted(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, "version: 1\ntools:\n  executeCommand: {commands: any}\n"))
    assert policy.tools["executeCommand"].commands == "any"


def test_terminal_tool_needs_a_terminal_rule(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\ntools:\n  mcp_ssh_mcp_writeToTerminal: allow\n")
    assert "terminal" in load_error(path)


def test_unknown_command_set_reference(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        tools:
          executeCommand: {commands: diagnostic}
        commands:
          diagnostics: {programs: {ls: {}}}
        """,
    )
    msg = load_error(path)
    assert str(path) in msg
    assert "tools.executeCommand.commands" in msg
    assert "'diagnostic'" in msg


def test_unknown_terminal_command_set(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        tools:
          mcp_ssh_mcp_writeToTerminal: {terminal: {commands: nowhere}}
        """,
    )
    assert "'nowhere'" in load_error(path)


def test_unknown_host_group_command_set(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        tools: {listConnections: allow}
        hosts:
          web: {match: ["web-*"], commands: nowhere}
        """,
    )
    assert "hosts.web.commands" in load_error(path)


def test_bad_regex_in_value_rule(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        tools:
          executeCommand: {commands: diag}
        commands:
          diag:
            programs:
              date: {operand_rule: {match: '[unclosed'}}
        """,
    )
    msg = load_error(path)
    assert f"{path}:7:" in msg
    assert "commands.diag.programs.date.operand_rule.match" in msg


@pytest.mark.parametrize(("field", "value"), [("max_length", 0), ("max_length", 2 * 1024 * 1024), ("max_depth", 101)])
def test_command_set_caps_are_bounded(tmp_path: Path, field: str, value: int) -> None:
    path = write(tmp_path, f"version: 1\ntools:\n  executeCommand: {{commands: d}}\ncommands:\n  d: {{{field}: {value}}}\n")
    assert f"commands.d.{field}" in load_error(path)


def test_bad_operator_name(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\ntools:\n  executeCommand: {commands: d}\ncommands:\n  d: {operators: [pipe, semicolon]}\n")
    msg = load_error(path)
    assert "commands.d.operators" in msg


# -- embedded examples -----------------------------------------------------------------------------


def test_load_checked_refuses_failing_example(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        tools:
          executeCommand: {commands: diag}
        commands:
          diag:
            programs: {ls: {}}
        examples:
          - {tool: executeCommand, arguments: {connectionId: c1, command: "ls"}, expect: allow}
          - {tool: executeCommand, arguments: {connectionId: c1, command: "rm -rf /"}, expect: allow}
          - {tool: executeCommand, arguments: {connectionId: c1, command: "cat /etc/passwd"}, expect: deny}
        """,
    )
    load_policy(path)  # the plain loader does not run examples
    with pytest.raises(PolicyError) as info:
        load_checked(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "1 example(s) fail" in msg
    assert "rm -rf /" in msg
    assert "expected allow, got deny" in msg
    assert "`rm`" in msg  # the verdict's reason is shown


def test_bad_example_expectation(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\ntools: {listConnections: allow}\nexamples:\n  - {tool: listConnections, expect: maybe}\n")
    msg = load_error(path)
    assert f"{path}:4:" in msg
    assert "examples.0.expect" in msg


# -- profiles ----------------------------------------------------------------------------------


PROFILE = """
name: tiny
tools:
  run:
    arguments:
      cmd: {type: string, kind: command, required: true}
  ping: {}
"""


def test_profile_by_name() -> None:
    profile = load_profile("mcp-ssh")
    assert profile.name == "mcp-ssh"
    assert len(profile.tools) == 23
    assert profile.tools["executeCommand"].args_of_kind("command") == ("command",)
    assert profile.tools["backgroundExecute"].arguments["interval"].default == 10_000


def test_unknown_profile_name() -> None:
    with pytest.raises(PolicyError, match="unknown tool profile 'no-such-server'"):
        load_profile("no-such-server")


def test_profile_by_path(tmp_path: Path) -> None:
    write(tmp_path, PROFILE, "tiny.yaml")
    profile = load_profile("tiny.yaml", tmp_path)
    assert profile.name == "tiny"
    assert profile.tools["run"].args_of_kind("command") == ("cmd",)


def test_policy_with_profile_by_relative_path(tmp_path: Path) -> None:
    write(tmp_path, PROFILE, "tiny.yaml")
    path = write(
        tmp_path,
        """
        version: 1
        profile: tiny.yaml
        tools:
          run: {commands: d}
          ping: allow
        commands:
          d: {programs: {uptime: {}}}
        """,
    )
    policy = load_policy(path)
    assert policy.profile.name == "tiny"
    assert "executeCommand" not in policy.profile.tools


def test_policy_with_profile_by_absolute_path(tmp_path: Path) -> None:
    prof = write(tmp_path, PROFILE, "tiny.yaml")
    sub = tmp_path / "sub"
    sub.mkdir()
    path = write(sub, f"version: 1\nprofile: {prof}\ntools:\n  ping: allow\n")
    assert load_policy(path).profile.name == "tiny"


def test_policy_profile_by_name_from_local_profiles_folder(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    write(tmp_path / "profiles", PROFILE, "tiny.yaml")
    path = write(tmp_path, "version: 1\nprofile: tiny\ntools:\n  ping: allow\n")
    assert load_policy(path).profile.name == "tiny"


def test_inline_profile(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        profile:
          name: inline
          tools: {ping: {}}
        tools: {ping: allow}
        """,
    )
    assert load_policy(path).profile.name == "inline"


def test_profile_with_unknown_field(tmp_path: Path) -> None:
    prof = write(tmp_path, "name: bad\ntools:\n  run:\n    arguments:\n      cmd: {type: string, knd: command}\n", "bad.yaml")
    with pytest.raises(PolicyError) as info:
        load_profile("bad.yaml", tmp_path)
    msg = str(info.value)
    assert f"{prof}:5:" in msg
    assert "tools.run.arguments.cmd.knd" in msg


def test_command_tool_of_custom_profile_needs_command_set(tmp_path: Path) -> None:
    write(tmp_path, PROFILE, "tiny.yaml")
    path = write(tmp_path, "version: 1\nprofile: tiny.yaml\ntools:\n  run: allow\n")
    assert "tools.run runs shell commands" in load_error(path)


def test_profile_of_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nprofile: 5\ntools: {}\n")
    msg = load_error(path)
    assert f"{path}:2:" in msg and "profile" in msg
