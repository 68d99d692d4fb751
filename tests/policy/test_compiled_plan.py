"""The policy compiled once: per-tool plans (``Policy.plan``) and per-set compiled forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from sshwall.engine import prepare
from sshwall.engine.commandset import compiled
from sshwall.policy import CommandSet, IntervalRule, Policy, ToolRule, load_policy
from sshwall.policy.flags import build_table

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "rules" / "readonly-ops.yaml"


@pytest.fixture(scope="module")
def shipped() -> Policy:
    return load_policy(SHIPPED)


def test_the_plan_names_each_argument_of_a_tool_by_kind(shipped: Policy) -> None:
    plan = shipped.plan.tool("executeCommand")
    assert plan is not None and plan.rule is shipped.tools["executeCommand"]
    assert plan.first("connection") == "connectionId"
    assert plan.args("command") == ("command",)
    assert plan.role("workdir") == "cwd"
    assert plan.value("connection", {"connectionId": "abc"}) == "abc"
    assert plan.first("interval") is None and not plan.scheduled
    assert set(plan.sudo) == {"command"} and plan.tmux


def test_the_interval_plan_has_unit_and_default(shipped: Policy) -> None:
    plan = shipped.plan.tool("backgroundExecute")
    assert plan is not None and plan.scheduled
    (arg,) = plan.intervals
    assert (arg.name, arg.factor, arg.default) == ("interval", 1, 10_000)
    assert plan.interval_ms({}) == 10_000
    assert plan.interval_ms({"interval": 2500.7}) == 2500
    assert plan.interval_ms({"interval": "soon"}) is None


def test_the_policy_default_interval_wins_over_the_profile_one(shipped: Policy) -> None:
    rule = shipped.tools["backgroundExecute"].model_copy(update={"interval": IntervalRule(min="30s", default="60s")})
    custom = shipped.model_copy(update={"tools": {**shipped.tools, "backgroundExecute": rule}})
    plan = custom.plan.tool("backgroundExecute")
    assert plan is not None and plan.interval_default == 60_000 and plan.interval_ms({}) == 60_000


def test_unknown_tools_and_tools_outside_the_profile(shipped: Policy) -> None:
    assert shipped.plan.tool("noSuchTool") is None
    custom = shipped.model_copy(update={"tools": {**shipped.tools, "policyOnly": ToolRule(decision="allow")}})
    plan = custom.plan.tool("policyOnly")
    assert plan is not None and plan.profile is None and plan.rule is not None
    assert plan.first("connection") is None and plan.arguments == {}


def test_profile_wide_facts(shipped: Policy) -> None:
    plan = shipped.plan
    assert plan.stop_tool == "stopBackground"
    assert plan.password_probe == ("getConnection", "connectionId")
    assert plan.rewrites_password and plan.saved_fallback
    assert plan.stopped_reply is not None


def test_the_plan_is_built_once_and_a_copy_builds_its_own(shipped: Policy) -> None:
    assert shipped.plan is shipped.plan
    changed = shipped.model_copy(update={"tools": {**shipped.tools, "executeCommand": ToolRule(decision="deny")}})
    assert changed.plan is not shipped.plan
    plan = changed.plan.tool("executeCommand")
    assert plan is not None and plan.rule is not None and plan.rule.decision == "deny"


def test_a_command_set_is_compiled_once_and_a_copy_afresh() -> None:
    cs = CommandSet(protected_paths=("/etc/shadow",), deny_programs={"rm*": "removes files"})
    assert compiled(cs) is compiled(cs)
    assert compiled(cs).denied_program("rmdir") == "removes files"
    other = cs.model_copy(update={"deny_programs": {}})
    assert compiled(other) is not compiled(cs) and compiled(other).denied_program("rmdir") is None


def test_prepare_builds_everything_the_hot_path_reads(shipped: Policy) -> None:
    fresh = load_policy(SHIPPED)
    assert prepare(fresh) is fresh
    assert "plan" in fresh.__dict__
    assert all(cs._derived for cs in fresh.commands.values())
    for cs in fresh.commands.values():  # the pattern sets too, which a check builds on first use
        done = compiled(cs)
        for globs in (done.protected, done.exceptions, done.writable, done.endless):
            assert "direct" in vars(globs) and "folders" in vars(globs)


def test_a_pattern_set_is_built_when_a_check_first_reads_it() -> None:
    cs = CommandSet(protected_paths=("/etc/shadow",), protected_exceptions=("/etc/shadow-",))
    done = compiled(cs)
    assert "direct" not in vars(done.protected) and "folders" not in vars(done.protected)
    first = done.protected.direct
    assert first is done.protected.direct and first.matches(("etc", "shadow")) == ["/etc/shadow"]
    assert done.protected.hits(("etc",), recursive=True) == ["/etc/shadow"]
    assert "direct" not in vars(done.exceptions)


def test_flag_tables_precompute_plus_options_and_long_flags() -> None:
    table = build_table(("-a", "+D=", "--color[=]", "--count"), (), (), (), ())
    assert table.plus
    assert [f.name for f in table.longs] == ["--color", "--count"]
    assert [f.name for f in table.longs_with_prefix("--co")] == ["--color", "--count"]
    assert not build_table(("-a",), (), (), (), ()).plus
