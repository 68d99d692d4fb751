"""Policy layering (docs/layering.md): ``extends`` chains merge per key, ``null`` removes, a set
may ``include`` others, cycles and missing layers are errors naming the files, the examples of
every layer are checked against the merged policy, and the merged revision follows each layer."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sshwall.engine import Decision, ToolCall, evaluate, load_checked
from sshwall.engine.examples import load_checked_layers
from sshwall.errors import PolicyError
from sshwall.policy import load_policy
from sshwall.policy.load import embedded_rules, load_policy_layers

REPO = Path(__file__).resolve().parents[2]
READONLY = REPO / "rules" / "readonly-ops.yaml"
SITE = REPO / "rules" / "examples" / "site-restart.yaml"

BASE = """
version: 1
name: base
description: the base layer
profile: mcp-ssh
default: deny
approval: {channels: [queue], timeout: 60, approvers: [lead]}
limits:
  - {counter: all, window: minute, max: 100}
  - {counter: slow, window: hour, max: 5}
  - {counter: burst, window: minute, max: 10}
  - {counter: burst, window: hour, max: 100}
tools:
  listConnections: allow
  getConnection: allow
  executeCommand: {commands: diag}
commands:
  diag:
    max_length: 4096
    operators: [pipe, and]
    deny_programs: {rm: "deletes files", dd: "writes devices"}
    programs:
      ls: {operands: metadata, flags: [-l, -a]}
      cat: {operands: read, flags: [-A, -n]}
      uptime: {max_operands: 0, flags: []}
examples:
  - {tool: executeCommand, arguments: {connectionId: c1, command: "uptime"}, expect: allow}
"""

TOP = """
extends: [./base.yaml]
name: top
approval: {timeout: 30}
limits:
  - {counter: all, window: minute, max: 10}
  - {counter: slow, remove: true}
  - {counter: new, window: day, max: 1000}
tools:
  getConnection: null
  getCurrentDirectory: allow
commands:
  diag:
    max_length: 2048
    deny_programs: {dd: null}
    programs:
      ls: null
      cat: {operands: read, flags: [-n]}
      df: {operands: read, flags: [-h]}
examples:
  - {tool: executeCommand, arguments: {connectionId: c1, command: "df -h"}, expect: allow}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def decide(policy: object, command: str, tool: str = "executeCommand") -> Decision:
    arguments: dict[str, object] = {"connectionId": "c1", "command": command}
    if tool == "backgroundExecute":
        arguments["interval"] = 60000
    return evaluate(policy, ToolCall(tool, arguments)).decision  # type: ignore[arg-type]


def error(path: Path) -> str:
    with pytest.raises(PolicyError) as info:
        load_checked(path)
    return str(info.value)


@pytest.fixture
def layered(tmp_path: Path) -> Path:
    write(tmp_path, "base.yaml", BASE)
    return write(tmp_path, "top.yaml", TOP)


def test_merge_per_key_with_removals(layered: Path) -> None:
    policy = load_checked(layered)
    # scalars: the later value; the description only the base gave stays
    assert (policy.name, policy.description) == ("top", "the base layer")
    # tools per key: null removes (the default decides), a new one is added, the rest stay
    assert sorted(policy.tools) == ["executeCommand", "getCurrentDirectory", "listConnections"]
    assert evaluate(policy, ToolCall("getConnection", {"connectionId": "c1"})).decision == Decision.DENY
    # a command set per field: a later scalar replaces, an untouched field stays
    diag = policy.commands["diag"]
    assert diag.max_length == 2048 and diag.operators == ("pipe", "and")
    # programs per key: ls removed, cat replaced whole (its -A is gone), uptime kept, df added
    assert sorted(diag.programs) == ["cat", "df", "uptime"]
    assert diag.programs["cat"].flags == ("-n",)
    assert decide(policy, "ls -l /") == Decision.DENY
    assert decide(policy, "cat -A /etc/hostname") == Decision.DENY
    assert decide(policy, "cat -n /etc/hostname") == Decision.ALLOW
    assert decide(policy, "uptime | df -h") == Decision.ALLOW
    assert diag.deny_programs == {"rm": "deletes files"}
    # other mappings per key: approval keeps channels and approvers, takes the later timeout
    assert policy.approval.channels == ("queue",) and policy.approval.approvers == ("lead",)
    assert policy.approval.timeout == 30
    # limits by counter: replaced, removed, added (in place, new ones after)
    assert [(lim.counter, lim.max) for lim in policy.limits] == [("all", 10), ("burst", 10), ("burst", 100), ("new", 1000)]


def test_a_counter_restated_replaces_all_its_caps(layered: Path) -> None:
    top = write(layered.parent, "more.yaml", """
        extends: [./top.yaml]
        limits: [{counter: new, window: hour, max: 50}, {counter: burst, window: 30s, max: 3}, {counter: new, window: 1s, max: 2}]
    """)
    policy = load_checked(top)
    assert [(lim.counter, lim.window, lim.max) for lim in policy.limits] == [
        ("all", 60000, 10), ("burst", 30000, 3), ("new", 3600000, 50), ("new", 1000, 2)]


def test_the_base_alone_is_unchanged(layered: Path) -> None:
    base = load_checked(layered.parent / "base.yaml")
    assert sorted(base.commands["diag"].programs) == ["cat", "ls", "uptime"]
    assert decide(base, "ls -l /") == Decision.ALLOW


def test_examples_of_every_layer_concatenate_and_name_their_file(layered: Path) -> None:
    loaded = load_checked_layers(layered)
    assert [ex.arguments["command"] for ex in loaded.policy.examples] == ["uptime", "df -h"]
    assert loaded.example_layers == (layered.parent / "base.yaml", layered)
    # a base example that the top layer breaks fails the merged policy, naming the base file
    write(layered.parent, "base.yaml", BASE + """
  - {tool: executeCommand, arguments: {connectionId: c1, command: "ls -a"}, expect: allow}
""")
    text = error(layered)
    assert "1 example(s) fail" in text and "ls -a" in text
    assert f"[example of {layered.parent / 'base.yaml'}]" in text
    assert load_checked(layered.parent / "base.yaml").name == "base"  # alone it still passes


def test_examples_cannot_be_removed(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE)
    top = write(tmp_path, "top.yaml", "extends: [./base.yaml]\nexamples: null\n")
    assert "examples: a list" in error(top)


def test_layers_and_files_are_reported(layered: Path) -> None:
    loaded = load_policy_layers(layered)
    assert loaded.layers == (layered.parent / "base.yaml", layered)
    assert loaded.files == (
        (layered.parent / "base.yaml").resolve(), layered.resolve(),
        (embedded_rules() / "profiles" / "mcp-ssh.yaml").resolve(),
    )
    shipped = load_policy_layers(SITE)
    assert [p.resolve() for p in shipped.layers] == [READONLY.resolve(), SITE.resolve()]
    assert (embedded_rules() / "protected-paths.yaml").resolve() in shipped.files


def test_each_file_is_applied_once_at_its_first_place(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE)
    write(tmp_path, "a.yaml", "extends: [./base.yaml]\ncommands: {diag: {max_length: 1000}}\n")
    write(tmp_path, "b.yaml", "extends: [./base.yaml]\ntools: {getCurrentDirectory: allow}\n")
    top = write(tmp_path, "top.yaml", "extends: [./a.yaml, ./b.yaml]\n")
    loaded = load_policy_layers(top)
    assert [p.name for p in loaded.layers] == ["base.yaml", "a.yaml", "b.yaml", "top.yaml"]
    # base is not applied again after a.yaml: a's max_length survives b's extends
    assert loaded.policy.commands["diag"].max_length == 1000
    assert "getCurrentDirectory" in loaded.policy.tools


def test_a_cycle_is_an_error_naming_the_files(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "extends: [./b.yaml]\nname: a\n")
    b = write(tmp_path, "b.yaml", "extends: [./c.yaml]\nname: b\n")
    c = write(tmp_path, "c.yaml", "extends: [./a.yaml]\nname: c\n")
    text = error(a)
    assert "a cycle" in text
    assert f"{c.resolve()} -> {a.resolve()}" in text and str(b.resolve()) in text
    assert text.startswith(f"{c}:1:")  # the line that closes the cycle
    selfish = write(tmp_path, "self.yaml", "extends: [./self.yaml]\n")
    assert "a cycle" in error(selfish)


def test_a_missing_layer_is_an_error_naming_the_line(tmp_path: Path) -> None:
    top = write(tmp_path, "top.yaml", "name: t\nextends:\n  - readonly-ops\n  - ./nowhere.yaml\n")
    text = error(top)
    assert text.startswith(f"{top}:4: extends[1]: no policy file {tmp_path / 'nowhere.yaml'}")
    unknown = write(tmp_path, "unknown.yaml", "extends: [readonly-opz]\n")
    text = error(unknown)
    assert "no policy file" in text and "readonly-ops" in text and "examples/site-restart" in text
    for bad in ("../../etc/x", "a..b/../c", ""):
        assert "extends[0]" in error(write(tmp_path, "bad.yaml", f"extends: [{bad!r}]\n"))
    assert "a list" in error(write(tmp_path, "bad.yaml", "extends: {a: 1}\n"))


def test_a_policylayer_file_is_no_layer(tmp_path: Path) -> None:
    write(tmp_path, "pl.json", '{"version": "1", "default": "deny", "tools": {"listConnections": {}}}')
    top = write(tmp_path, "top.yaml", "extends: [./pl.json]\n")
    assert "cannot be a layer" in error(top)


def test_validation_errors_name_the_layer_that_wrote_the_key(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE)
    top = write(tmp_path, "top.yaml", "extends: [./base.yaml]\n\ntools:\n  listConnections: {decision: maybe}\n")
    text = error(top)
    assert text.startswith(f"{top}:4: tools.listConnections.decision"), text
    write(tmp_path, "base.yaml", BASE.replace("max_length: 4096", "max_length: lots"))
    top = write(tmp_path, "top.yaml", "extends: [./base.yaml]\nname: top\n")
    text = error(top)
    assert text.startswith(f"{tmp_path / 'base.yaml'}:"), text
    assert "commands.diag.max_length" in text


def test_include_merges_sets_of_the_merged_policy(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE)
    top = write(tmp_path, "top.yaml", """
        extends: [./base.yaml]
        tools:
          executeCommand: {commands: wide}
          backgroundExecute: {commands: diag, interval: {min: 30s}}
        commands:
          extra:
            operators: [pipe, and, or]
            programs:
              df: {operands: read, flags: [-h]}
          wide:
            include: [diag, extra]
            max_length: 8192
            programs:
              uptime: null
              free: {max_operands: 0, flags: [-m]}
    """)
    policy = load_policy(top)  # base's example `uptime` fails here: wide drops it
    wide = policy.commands["wide"]
    assert sorted(wide.programs) == ["cat", "df", "free", "ls"]
    assert wide.operators == ("pipe", "and", "or")  # extra's, on top of diag's
    assert wide.max_length == 8192 and wide.deny_programs == {"rm": "deletes files", "dd": "writes devices"}
    assert decide(policy, "df -h || free -m") == Decision.ALLOW
    assert decide(policy, "uptime") == Decision.DENY
    assert decide(policy, "uptime", "backgroundExecute") == Decision.ALLOW  # diag itself is untouched


@pytest.mark.parametrize(("sets", "needle"), [
    ("a: {include: [b]}\n  b: {include: [a]}", "a cycle: a -> b -> a"),
    ("a: {include: [a]}", "a cycle: a -> a"),
    ("a: {include: [nope]}", "unknown command set 'nope'"),
    ("a: {include: 3}", "a list of command set names"),
])
def test_include_errors(tmp_path: Path, sets: str, needle: str) -> None:
    path = write(tmp_path, "p.yaml", f"version: 1\ncommands:\n  {sets}\n")
    with pytest.raises(PolicyError, match=needle):
        load_policy(path)


def test_the_catalogue_applies_to_the_merged_policy(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE)
    top = write(tmp_path, "top.yaml", """
        extends: [./base.yaml]
        commands:
          diag: {protected_catalogue: [all], protected_paths: [/srv/secret/*]}
    """)
    policy = load_checked(top)
    assert decide(policy, "cat /etc/shadow") == Decision.DENY
    assert decide(policy, "cat /srv/secret/key") == Decision.DENY
    assert decide(policy, "cat /etc/hostname") == Decision.ALLOW
    # a set that includes readonly-ops' diagnostics gets its catalogue too
    site = load_checked(SITE)
    assert "/etc/shadow" in " ".join(site.commands["site"].protected_paths)
    assert decide(site, "cat /etc/shadow") == Decision.DENY


def test_the_revision_follows_every_layer(layered: Path) -> None:
    first = load_policy(layered).revision
    assert load_policy(layered).revision == first
    base = layered.parent / "base.yaml"
    base.write_text(base.read_text() + "# a comment changes nothing\n")
    assert load_policy(layered).revision == first
    base.write_text(base.read_text().replace("max_operands: 0, flags: []", "max_operands: 0, flags: [-p]"))
    assert load_policy(layered).revision != first


def test_the_shipped_site_restart_policy() -> None:
    site, readonly = load_checked(SITE), load_checked(READONLY)
    assert len(site.examples) == len(readonly.examples) + 10  # readonly-ops' examples run too
    assert decide(site, "systemctl restart app-web") == Decision.PROMPT
    assert decide(readonly, "systemctl restart app-web") == Decision.DENY
    assert decide(site, "systemctl --user status app-web") == Decision.DENY
    assert decide(readonly, "systemctl --user status app-web") == Decision.ALLOW
    assert decide(site, "git log -1") == Decision.DENY
    assert decide(site, "git log -1", "backgroundExecute") == Decision.ALLOW
    assert decide(site, "systemctl restart app-web", "backgroundExecute") == Decision.DENY
    verdict = evaluate(site, ToolCall("executeCommand", {"connectionId": "c1", "command": "systemctl restart app-web"}))
    assert list(verdict.rules) == ["site.systemctl.restart"]
    # everything readonly-ops has besides is the same
    assert site.commands["diagnostics"] == readonly.commands["diagnostics"]
    assert {k: v for k, v in site.tools.items() if k != "executeCommand"} == \
        {k: v for k, v in readonly.tools.items() if k != "executeCommand"}


def test_a_file_without_extends_loads_as_before(tmp_path: Path) -> None:
    # the same text outside the rules folder: parsed, not read from rules/parsed.json
    copy = tmp_path / "readonly-ops.yaml"
    copy.write_text(READONLY.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_policy(copy).revision == load_policy(READONLY).revision
    loaded = load_policy_layers(copy)
    assert loaded.layers == (copy,) and set(loaded.example_layers) == {copy}


@pytest.mark.parametrize("version", ["1", '"1"'])
def test_a_layer_with_only_tools_is_no_policylayer_or_intercept_file(tmp_path: Path, version: str) -> None:
    # version "1" without profile or commands is how PolicyLayer and Intercept files look: extends says sshwall
    top = write(tmp_path, "top.yaml", f"version: {version}\nextends: [readonly-ops]\ndescription: mine\n"
                                      "tools: {listTunnels: null}\n")
    policy = load_checked(top)
    assert policy.description == "mine" and "listTunnels" not in policy.tools
    assert policy.commands == load_policy(READONLY).commands


def test_a_profile_path_is_relative_to_the_layer_that_names_it(tmp_path: Path) -> None:
    profile = tmp_path / "sub" / "prof.yaml"
    profile.parent.mkdir()
    profile.write_text((embedded_rules() / "profiles" / "mcp-ssh.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    write(tmp_path, "sub/base.yaml", BASE.replace("profile: mcp-ssh", "profile: ./prof.yaml"))
    top = write(tmp_path, "top.yaml", "extends: [./sub/base.yaml]\nname: top\n")
    loaded = load_policy_layers(top)
    assert loaded.policy.profile == load_policy(READONLY).profile
    assert profile.resolve() in loaded.files
    assert loaded.shown["profile"] == str(profile.resolve())  # loads from anywhere
    assert load_policy_layers(SITE).shown["profile"] == "mcp-ssh"
