"""PolicyLayer Intercept YAML policies loaded with ``--rules`` (docs/intercept.md).

Every field is either accepted with Intercept's meaning or refused with an error naming it;
each operator behaves as Intercept's evaluator does (and an unknown comparison never holds);
Intercept's rules only ever add denials to sshwall's own checks, whose command analysis stays.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sshwall.engine import Decision, ToolCall, evaluate
from sshwall.engine.conditions import holds, intercept_hits, limit_amount
from sshwall.errors import PolicyError
from sshwall.policy import load_policy
from sshwall.policy.intercept import Condition, is_intercept
from sshwall.policy.model import Policy
from sshwall.policy.tools import Limit

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "rules" / "examples" / "intercept-ops.yaml"


def load(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "intercept.yaml"
    path.write_text(textwrap.dedent(text))
    return load_policy(path)


def run(policy: Policy, tool: str, **arguments: Any) -> Any:
    return evaluate(policy, ToolCall(tool, arguments))


def exec_call(command: str, **extra: Any) -> dict[str, Any]:
    return {"connectionId": "c1", "command": command, **extra}


# -- the shipped example --------------------------------------------------------------------------


def test_the_example_loads_into_the_base_policy_with_intercept_rules_on_top() -> None:
    policy = load_policy(EXAMPLE)
    assert policy.name == "intercept" and policy.intercept is not None
    assert policy.tools["executeCommand"].commands == "diagnostics"
    assert {t for t, r in policy.tools.items() if r.decision == "hide"} == {"createTunnel", "uploadFile", "batchUploadFiles"}
    rate, budget = policy.tools["executeCommand"].limits
    assert (rate.counter, rate.window, rate.max, rate.scope, rate.align) == (
        "intercept:executeCommand._rate_minute", 60_000, 3, "global", "calendar")
    assert rate.reason == "At most 3 commands per minute: wait for the next minute"
    assert (budget.window, budget.max, budget.amount_from) == (3_600_000, 20_000, "timeout")
    (wildcard,) = [lim for lim in policy.limits if lim.counter.startswith("intercept:")]
    assert (wildcard.counter, wildcard.max) == ("intercept:_global._rate_minute", 60)
    assert wildcard.reason == "Rate limit of 60 per minute reached. Try again later."
    assert policy.examples == ()  # the base's examples describe the base, not this policy


def test_the_example_decides_conditions_and_sshwall_checks_together() -> None:
    policy = load_policy(EXAMPLE)
    ok = run(policy, "executeCommand", **exec_call("uptime", timeout=1000))
    assert ok.decision == Decision.ALLOW
    outside = run(policy, "executeCommand", **exec_call("ls /", timeout=1000))
    assert outside.decision == Decision.DENY
    assert outside.reasons == ["Only uptime, df -h, free -m, uname -a and cat FILE are allowed"]
    # The Intercept condition holds (cat /FILE), sshwall's analysis still denies: the stricter wins.
    shadow = run(policy, "executeCommand", **exec_call("cat /etc/shadow", timeout=1000))
    assert shadow.decision == Decision.DENY and shadow.rules == ["diagnostics.cat"]
    assert run(policy, "executeCommand", **exec_call("uptime", timeout=10_001)).decision == Decision.DENY
    no_timeout = run(policy, "executeCommand", **exec_call("uptime"))
    assert no_timeout.rules == ["intercept.executeCommand.timeout budget"]
    deleted = run(policy, "deleteConnection", connectionId="c1")
    assert deleted.reasons == ["Saved connections are not deleted through the gateway"]
    # The base still denies what it denies, whatever the Intercept file allows.
    assert run(policy, "downloadFile", connectionId="c1").decision == Decision.DENY


def test_detection_by_shape_keeps_policylayer_json_and_sshwall_yaml_apart() -> None:
    assert is_intercept({"version": "1", "tools": {"x": {"rules": []}}})
    assert is_intercept({"version": "1", "description": "d", "tools": {}})
    assert not is_intercept({"version": "1", "tools": {"x": {"limits": []}}})  # PolicyLayer policy.json
    assert not is_intercept({"version": 1, "profile": "mcp-ssh", "tools": {"x": {"rules": []}}})
    assert not is_intercept({"version": "1", "commands": {}, "tools": {"x": {"rules": []}}})


# -- every field: accepted with its meaning ------------------------------------------------------


def test_default_deny_denies_the_tools_the_file_does_not_list(tmp_path: Path) -> None:
    policy = load(tmp_path, """
        version: "1"
        default: deny
        tools:
          listConnections: {rules: []}
          "*": {rules: [{name: g, rate_limit: 5/minute}]}
    """)
    assert run(policy, "listConnections").decision == Decision.ALLOW
    denied = run(policy, "getConnection", connectionId="c1")
    assert denied.decision == Decision.DENY and denied.reasons == ['Tool "getConnection" is not permitted by policy']
    assert run(policy, "someUnknownTool").decision == Decision.DENY
    assert policy.default == Decision.DENY


def test_hide_star_hides_every_tool(tmp_path: Path) -> None:
    policy = load(tmp_path, """
        version: "1"
        hide: ["*"]
        tools: {}
    """)
    assert all(rule.decision == "hide" for rule in policy.tools.values())
    assert set(policy.tools) == set(policy.profile.tools)


def test_wildcard_rules_apply_to_every_tool_after_its_own(tmp_path: Path) -> None:
    policy = load(tmp_path, """
        version: "1"
        tools:
          getConnection:
            rules:
              - {name: own, conditions: [{path: args.connectionId, op: neq, value: prod}], on_deny: not prod}
          "*":
            rules:
              - {name: any, conditions: [{path: args.connectionId, op: regex, value: "^c"}]}
    """)
    verdict = run(policy, "getConnection", connectionId="prod")
    assert verdict.rules == ["intercept.getConnection.own", "intercept.*.any"]
    assert verdict.reasons == ["not prod", 'Denied by rule "any"']  # Intercept's text when no on_deny
    assert run(policy, "getConnection", connectionId="c7").decision == Decision.ALLOW
    assert run(policy, "disconnect", connectionId="x1").rules == ["intercept.*.any"]


def test_state_counters_become_calendar_limits(tmp_path: Path) -> None:
    policy = load(tmp_path, """
        version: "1"
        tools:
          executeCommand:
            rules:
              - name: fixed
                conditions: [{path: state.executeCommand.n, op: lt, value: 10}]
                state: {counter: n, window: day, increment: 2}
              - name: dynamic
                conditions:
                  - {path: state.executeCommand.t, op: lte, value: 100}
                  - {path: state.executeCommand.t, op: lte, value: 90}
                state: {counter: t, window: minute, increment_from: args.timeout}
              - name: zero means one
                rate_limit: 4/hour
              - {name: zero, conditions: [{path: state.executeCommand.z, op: lte, value: 1}], state: {counter: z, window: hour, increment: 0}}
    """)
    fixed, dynamic, hourly, zero = policy.tools["executeCommand"].limits
    assert (fixed.window, fixed.max, fixed.amount) == (86_400_000, 9, 2)  # lt 10: at most 9, as Intercept reserves
    assert (dynamic.max, dynamic.amount_from) == (90, "timeout")  # the stricter of two limits
    assert (hourly.max, hourly.window, hourly.reason) == (4, 3_600_000, "Rate limit of 4 per hour reached. Try again later.")
    assert zero.amount == 1
    assert fixed.reason == "Rate limit exceeded for fixed"
    # Counter-only rules add no engine check: the engine decides as the base does.
    assert policy.intercept is not None and policy.intercept.rules == ()


def test_sshwall_options_choose_the_base_and_the_command_set(tmp_path: Path) -> None:
    policy = load(tmp_path, """
        version: "1"
        sshwall: {base: readonly-ops, commands: any}
        tools:
          executeCommand:
            rules: [{name: only uptime, conditions: [{path: args.command, op: eq, value: uptime}]}]
    """)
    assert policy.tools["executeCommand"].commands == "any"
    assert policy.tools["backgroundExecute"].commands == "any"
    assert run(policy, "executeCommand", **exec_call("uptime")).decision == Decision.ALLOW
    assert run(policy, "executeCommand", **exec_call("rm -rf /")).decision == Decision.DENY


def test_a_holding_condition_never_loosens_sshwall_command_analysis(tmp_path: Path) -> None:
    policy = load(tmp_path, """
        version: "1"
        tools:
          executeCommand:
            rules: [{name: anything, conditions: [{path: args.command, op: regex, value: ".*"}]}]
    """)
    assert intercept_hits(policy.intercept, ToolCall("executeCommand", exec_call("rm -rf /"))) == []
    verdict = run(policy, "executeCommand", **exec_call("rm -rf /"))
    assert verdict.decision == Decision.DENY and verdict.rules == ["diagnostics.deny_programs"]
    assert policy.tools["executeCommand"].commands == "diagnostics"  # the base's set by default


# -- every field: refused with a clear error ------------------------------------------------------

RULE = "tools:\n  executeCommand:\n    rules:\n      - "
N1 = "{name: a, conditions: [{path: state.executeCommand.n, op: lte, value: 1}], state: {counter: n, window: hour"
REFUSED = [
    ('foo: 1\ntools: {}', "unknown keys ['foo']"),
    ('default: maybe\ntools: {}', 'default must be "allow" or "deny"'),
    ('hide: [""]\ntools: {}', "hide[0]: entry must not be empty"),
    ('hide: [listTunnels, listTunnels]\ntools: {}', 'duplicate entry'),
    ('hide: [listTunels]\ntools: {}', "hide[0]: the profile has no tool 'listTunels'"),
    ('description: 3\ntools: {}', "description is a text"),
    ('tools: {exec: {rules: []}}', "tools.exec: the profile has no tool"),
    ('tools: {executeCommand: {rules: [], when: x}}', "a tool entry is a mapping with one key, rules"),
    (RULE + '{name: a, when: x, conditions: [{path: args.command, op: eq, value: x}]}', "unknown keys ['when']"),
    (RULE + '{conditions: [{path: args.command, op: eq, value: x}]}', "rule must have a name"),
    (RULE + '{name: a, action: allow, conditions: [{path: args.command, op: eq, value: x}]}', 'action must be "evaluate" or "deny"'),
    (RULE + '{name: a, action: deny, conditions: [{path: args.command, op: eq, value: x}]}', "deny rules must not have conditions"),
    (RULE + '{name: a}', "evaluate rules must have at least one condition"),
    (RULE + '{name: a, conditions: [{path: command, op: eq, value: x}]}', 'rules[0].conditions[0].path: path must start with'),
    (RULE + '{name: a, conditions: [{path: args.command, op: like, value: x}]}', "conditions[0].op: unknown operator 'like'"),
    (RULE + '{name: a, conditions: [{path: args.command, op: eq, value: x, extra: 1}]}', "unknown keys ['extra']"),
    (RULE + '{name: a, conditions: [{path: args.command, op: in, value: x}]}', "operator 'in' requires a list value"),
    (RULE + '{name: a, conditions: [{path: args.timeout, op: lt, value: "5"}]}', "operator 'lt' requires a numeric value"),
    (RULE + '{name: a, conditions: [{path: args.cwd, op: exists, value: "yes"}]}', 'operator "exists" requires a boolean value'),
    (RULE + '{name: a, conditions: [{path: args.command, op: regex, value: 5}]}', "regex value must be a string"),
    (RULE + '{name: a, conditions: [{path: args.command, op: regex, value: "(un"}]}', "invalid regex '(un'"),
    (RULE + '{name: a, conditions: [{path: args.command, op: regex, value: "[[:alpha:]]"}]}', "Go-only syntax"),
    (RULE + '{name: a, conditions: [{path: args.command, op: eq, value: [x]}]}', "compares to one value"),
    (RULE + '{name: a, conditions: [{path: "args.a..b", op: eq, value: x}]}', "empty segment"),
    (RULE + '{name: a, conditions: [{path: state.executeCommand.n, op: lte, value: 1}], state: {counter: "", window: hour}}', "counter must not be empty"),
    (RULE + '{name: a, conditions: [{path: state.executeCommand.n, op: lte, value: 1}], state: {counter: n, window: week}}',
     'window must be "minute", "hour", or "day"'),
    (RULE + N1 + ', increment_from: timeout}}', 'increment_from must start with "args."'),
    (RULE + N1 + ', increment: -1}}', "increment must be a whole number >= 0"),
    (RULE + N1 + ', reset: 1}}', "unknown keys ['reset']"),
    (RULE + '{name: a, conditions: [{path: state.executeCommand.n, op: lte, value: 1}], state: {counter: n, window: hour}}\n'
            '      - {name: b, conditions: [{path: state.executeCommand.n, op: lte, value: 1}], state: {counter: n, window: day}}',
     'duplicate state counter'),
    (RULE + '{name: a, rate_limit: 5 per hour}', 'rate_limit must be in the format "N/window"'),
    (RULE + '{name: a, rate_limit: 0/hour}', "rate_limit count must be a positive integer"),
    (RULE + '{name: a, rate_limit: 5/week}', 'rate_limit window must be "minute", "hour", or "day"'),
    (RULE + '{name: a, rate_limit: 5/hour, conditions: [{path: args.command, op: eq, value: x}]}', "rate_limit cannot be combined"),
    (RULE + '{name: a, rate_limit: 5/hour, action: deny}', 'rate_limit cannot be used with action "deny"'),
    (RULE + '{name: a, conditions: [{path: state.executeCommand.n, op: gt, value: 1}], state: {counter: n, window: hour}}', "only as the limit (lt/lte)"),
    (RULE + '{name: a, conditions: [{path: state.getConnection.n, op: lte, value: 1}], state: {counter: n, window: hour}}', "only as the limit (lt/lte)"),
    (RULE + '{name: a, conditions: [{path: state.executeCommand.n, op: lte, value: 1}]}', "only as the limit (lt/lte)"),
    (RULE + '{name: a, conditions: [{path: args.command, op: eq, value: x}], state: {counter: n, window: hour}}', "Intercept never counts such a counter"),
    (RULE + '{name: a, conditions: [{path: state.executeCommand.n, op: lt, value: 0}], state: {counter: n, window: hour}}', "no call could ever be counted"),
    (RULE + '{name: a, on_deny: [x], action: deny}', "on_deny is a text"),
    ('sshwall: {base: readonly-ops, mode: strict}\ntools: {}', "sshwall options are a mapping"),
    ('sshwall: {commands: nosuchset}\ntools: {}', "the base policy has no command set 'nosuchset'"),
    ('sshwall: {base: "no such policy"}\ntools: {}', "sshwall.base"),
    ('tools: [executeCommand]\ndescription: d', "tools is a mapping"),
]


@pytest.mark.parametrize(("body", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_every_field_is_refused_when_it_cannot_be_enforced(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "intercept.yaml"
    path.write_text('version: "1"\n' + body + "\n")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert message in str(err.value)
    assert str(err.value).startswith(f"{path}: ")


def test_a_base_that_is_itself_an_intercept_policy_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text('version: "1"\ntools: {listTunnels: {rules: []}}\n')
    with pytest.raises(PolicyError, match="is not an sshwall policy"):
        load(tmp_path, 'version: "1"\nsshwall: {base: ./other.yaml}\ntools: {}\n')


# -- each operator --------------------------------------------------------------------------------

OPERATORS = [
    ("eq", "main", {"b": "main"}, True), ("eq", "main", {"b": "dev"}, False),
    ("eq", 5, {"b": 5.0}, True), ("eq", True, {"b": True}, True), ("eq", "true", {"b": True}, True),
    ("eq", "5", {"b": 5}, False),  # a number's text is Go's: unknown, never holds
    ("eq", "x", {}, False),  # missing
    ("neq", "draft", {"b": "main"}, True), ("neq", "draft", {"b": "draft"}, False),
    ("neq", "draft", {}, False), ("neq", "x", {"b": [1]}, False),  # missing, unknown
    ("in", ["usd", "eur"], {"b": "eur"}, True), ("in", ["usd"], {"b": "gbp"}, False), ("in", [1, 2], {"b": 2}, True),
    ("not_in", ["admin"], {"b": "bob"}, True), ("not_in", ["admin"], {"b": "admin"}, False),
    ("not_in", ["admin"], {}, False), ("not_in", ["admin"], {"b": 3}, False),  # missing; unknown
    ("lt", 100, {"b": 99}, True), ("lt", 100, {"b": 100}, False), ("lt", 100, {"b": "1"}, False),
    ("lte", 100, {"b": 100}, True), ("lte", 100, {"b": 100.5}, False), ("lte", 1, {"b": True}, False),
    ("gt", 0, {"b": 1}, True), ("gt", 0, {"b": 0}, False),
    ("gte", 1, {"b": 1}, True), ("gte", 1, {"b": 0.5}, False),
    ("regex", "^feat/", {"b": "feat/x"}, True), ("regex", "^feat/", {"b": "fix/feat/"}, False),
    ("regex", "feat", {"b": "a feat b"}, True),  # a search, as Go's MatchString
    ("regex", "1", {"b": 1}, False),
    ("contains", "test", {"b": "a test run"}, True), ("contains", "test", {"b": "prod"}, False),
    ("contains", "x", {"b": ["a", "x"]}, True), ("contains", 2, {"b": [1, 2]}, True), ("contains", "x", {"b": 5}, False),
    ("exists", True, {"b": "v"}, True), ("exists", True, {}, False), ("exists", True, {"b": None}, False),
    ("exists", False, {}, True), ("exists", False, {"b": 0}, False),
]


@pytest.mark.parametrize(("op", "value", "arguments", "expected"), OPERATORS)
def test_each_operator(op: str, value: Any, arguments: dict[str, Any], expected: bool) -> None:
    assert holds(Condition(path=("b",), op=op, value=value), {"a": arguments}) is False or op == "exists"
    assert holds(Condition(path=("a", "b"), op=op, value=value), {"a": arguments}) is expected


def test_paths_walk_objects_only() -> None:
    cond = Condition(path=("meta", "key"), op="eq", value="val")
    assert holds(cond, {"meta": {"key": "val"}})
    assert not holds(cond, {"meta": [{"key": "val"}]})
    assert not holds(cond, {"meta": "key"})
    assert not holds(cond, ["meta"])


def test_a_regex_is_compiled_once() -> None:
    cond = Condition(path=("a",), op="regex", value="^x")
    assert cond.pattern is cond.pattern


def test_increment_from_adds_whole_numbers_and_refuses_anything_else() -> None:
    limit = Limit(counter="c", window="hour", max=10, align="calendar", amount_from="spend.cents")
    assert limit_amount(limit, {"spend": {"cents": 7}}) == (7, None)
    assert limit_amount(limit, {"spend": {"cents": 7.0}}) == (7, None)
    for bad in ("7", 7.5, -1, True, None, [7]):
        amount, problem = limit_amount(limit, {"spend": {"cents": bad}})
        assert amount == 0 and problem is not None and "whole number" in problem, bad
    assert "does not have" in str(limit_amount(limit, {"spend": {}})[1])
    assert limit_amount(Limit(counter="c", window="hour", max=10, align="calendar", amount=3), {}) == (3, None)


def test_the_example_is_valid_json_round_trip() -> None:
    """The translated policy dumps (``sshwall policy show``), conditions included."""
    policy = load_policy(EXAMPLE)
    dumped = json.loads(json.dumps(policy.model_dump(mode="json")))
    assert dumped["intercept"]["rules"][1]["conditions"][0]["op"] == "regex"


def test_the_base_policy_files_are_watched_with_the_intercept_file() -> None:
    from sshwall.policy.load import load_policy_layers

    loaded = load_policy_layers(EXAMPLE)
    assert loaded.layers == (EXAMPLE,)
    assert REPO_ROOT / "rules" / "readonly-ops.yaml" in loaded.files


def test_an_sshwall_policy_with_a_description_is_not_taken_for_intercept() -> None:
    assert not is_intercept({"version": 1, "description": "mine", "tools": {"listConnections": "allow"}})
    assert not is_intercept({"version": "1", "tools": {"listConnections": {"limits": []}}}, json_file=False)
    assert not is_intercept({"version": "1", "tools": {}}, json_file=True)
    assert is_intercept({"version": "1", "hide": ["createTunnel"], "tools": {}})
