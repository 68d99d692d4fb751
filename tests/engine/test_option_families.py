"""Option families, arities and value kinds: the argv read as the real program's parser reads it."""

from __future__ import annotations

import pytest

from sshwall.analysis import Word
from sshwall.engine.argspec import ParsedArgs, parse_args
from sshwall.engine.formats import check_curl_write_out
from sshwall.engine.paths import escape
from sshwall.policy import ProgramSpec, ValueRule
from sshwall.policy.flags import parse_entry


def parse(spec: ProgramSpec, *texts: str, name: str = "prog") -> ParsedArgs:
    return parse_args(name, spec, tuple(Word(t, escape(t)) for t in texts))


def uses(res: ParsedArgs) -> list[tuple[str, str]]:
    return [(u.kind, u.word.text) for u in res.uses]


# -- entries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "name", "arity", "kind"),
    [
        ("-v", "-v", "none", "opaque"),
        ("--lines=", "--lines", "required", "opaque"),
        ("-f=read", "-f", "required", "read"),
        ("--color[=]", "--color", "optional", "opaque"),
        ("--profile[=write]", "--profile", "optional", "write"),
        ("o=", "o", "required", "opaque"),
    ],
)
def test_entries(entry: str, name: str, arity: str, kind: str) -> None:
    d = parse_entry(entry)
    assert (d.name, d.arity, d.kind) == (name, arity, kind)


@pytest.mark.parametrize("entry", ["-f=bogus", "--x[=", "a b", "--x=[read]"])
def test_bad_entries_fail_to_load(entry: str) -> None:
    with pytest.raises(ValueError):
        ProgramSpec(flags=(entry,))


def test_contradictory_arity_fails_to_load() -> None:
    with pytest.raises(ValueError, match="both"):
        ProgramSpec(flags=("--x=", "--x[=]"))


# -- optional values: never the next word ----------------------------------------------------------

GREP = ProgramSpec(operands=("pattern", "read"), flags=("--color[=]", "-i", "-e=", "-f=read"))


def test_optional_value_is_never_the_next_word() -> None:
    res = parse(GREP, "--color", "/etc/shadow", "x")
    # /etc/shadow is the pattern, x the file: both checked as operands
    assert uses(res) == [("pattern", "/etc/shadow"), ("read", "x")]


def test_optional_value_attached() -> None:
    res = parse(GREP, "--color=always", "pat", "/var/log/syslog")
    assert res.problems == []
    assert uses(res) == [("pattern", "pat"), ("read", "/var/log/syslog")]


def test_optional_short_value_only_attached() -> None:
    spec = ProgramSpec(operands="read", flags=("-I[=]", "-u"))
    assert uses(parse(spec, "-I", "/etc/shadow")) == [("read", "/etc/shadow")]
    assert uses(parse(spec, "-Iseconds", "f")) == [("read", "f")]
    assert parse(spec, "-uIx").flags == ["-u", "-I"]


def test_required_value_kind_is_checked() -> None:
    assert uses(parse(GREP, "-f", "/etc/shadow", "x")) == [("read", "/etc/shadow"), ("pattern", "x")]
    assert uses(parse(GREP, "-f/etc/shadow", "x")) == [("read", "/etc/shadow"), ("pattern", "x")]


def test_switch_given_a_value_is_refused() -> None:
    assert parse(GREP, "-i", "--color=x", "p").problems == []
    spec = ProgramSpec(flags=("--all",))
    assert parse(spec, "--all=1").problems == ["flag `--all` takes no value (`--all=1`)"]


def test_unknown_flag_in_closed_list() -> None:
    assert parse(GREP, "--exclude-from=x", "p").problems == ["flag `--exclude-from` is not in the allowed flags"]
    assert parse(GREP, "-iZ", "p").problems == ["flag `-Z` is not in the allowed flags"]


def test_named_only_flags_are_not_allowed_in_a_closed_list() -> None:
    spec = ProgramSpec(flags=("-n",), first_operand_flags=("-f",), recursive_flags=("-r",))
    assert parse(spec, "-f", "x").problems == ["flag `-f` is not in the allowed flags"]
    assert parse(spec, "-r").problems == ["flag `-r` is not in the allowed flags"]


# -- pflag ---------------------------------------------------------------------------------------

KUBECTL = ProgramSpec(family="pflag", flags=("-n=", "--namespace=", "-A", "--tail=", "--follow"),
                      deny_flags=("--follow",))


def test_pflag_switch_with_bool_value() -> None:
    assert parse(KUBECTL, "-A=true").problems == []  # pflag: a shorthand switch takes `=BOOL`
    assert parse(KUBECTL, "-A=x").problems == ["flag `-=` is not in the allowed flags"]
    assert parse(KUBECTL, "--follow=true").problems == ["flag `--follow` is not allowed"]
    assert parse(KUBECTL, "--follow=false").problems == ["flag `--follow` is not allowed"]


def test_pflag_has_no_abbreviations() -> None:
    assert parse(KUBECTL, "--fol").problems == ["flag `--fol` is not in the allowed flags"]


def test_pflag_shorthand_equals_value() -> None:
    res = parse(KUBECTL, "-n=kube-system")
    assert res.problems == [] and res.flags == ["-n"]


# -- git -----------------------------------------------------------------------------------------

GIT = ProgramSpec(
    family="git",
    inherit_flags=False,
    flags=("-C=",),
    subcommands={"diff": ProgramSpec(flags=("--stat", "--color[=]"), deny_flags=("--no-index", "--output="),
                                     operands="read")},
)


def test_git_negation_of_a_listed_switch() -> None:
    assert parse(GIT, "diff", "--no-stat", name="git").problems == []
    assert parse(GIT, "diff", "--no-index", "a", "b", name="git").problems == ["flag `--no-index` is not allowed"]


def test_git_subcommand_follows_the_family() -> None:
    res = parse(GIT, "diff", "--out=/tmp/x", name="git")
    assert res.problems == ["flag `--output` is not allowed"]


def test_git_diff_operands_are_reads() -> None:
    assert uses(parse(GIT, "diff", "/etc/shadow", "/dev/null", name="git")) == [
        ("read", "/etc/shadow"), ("read", "/dev/null")]


# -- iproute2 ------------------------------------------------------------------------------------

SHOW = ProgramSpec(names=("list", "lst"))
IP = ProgramSpec(
    family="iproute2",
    flags=("-brief", "-details", "-4", "-family="),
    deny_flags=("-batch=", "-netns="),
    subcommands={
        "address": ProgramSpec(bare=True, subcommands={"add": ProgramSpec(decision="deny"), "show": SHOW}),
        "link": ProgramSpec(bare=True, subcommands={
            "add": ProgramSpec(decision="deny"), "set": ProgramSpec(decision="deny"), "show": SHOW}),
    },
)


def test_iproute2_prefix_in_table_order() -> None:
    res = parse(IP, "l", "s", "eth0", "down", name="ip")
    assert res.path == ["ip", "link", "set"]
    assert parse(IP, "a", "sh", name="ip").path == ["ip", "address", "show"]
    assert parse(IP, "-br", "a", name="ip").flags == ["-brief"]


def test_iproute2_option_prefix_resolves_to_denied() -> None:
    res = parse(IP, "-n", "x", "a", name="ip")
    assert res.problems == ["flag `-n (read as -netns)` is not allowed"]
    assert parse(IP, "--details", "l", name="ip").flags == ["-details"]


# -- ps ------------------------------------------------------------------------------------------

PS = ProgramSpec(family="ps", flags=("a", "u", "x", "o=", "-e", "-f", "-o=", "--sort="), deny_flags=("e",))


def test_ps_bsd_letters() -> None:
    assert parse(PS, "aux", name="ps").problems == []
    assert parse(PS, "auxe", name="ps").problems == ["flag `e` is not allowed"]
    assert parse(PS, "-ef", name="ps").problems == []
    assert parse(PS, "o", "pid,cmd", name="ps").problems == []
    assert parse(PS, "aux", "--sort=-%mem", name="ps").problems == []


def test_ps_pid_list_is_an_operand() -> None:
    assert uses(parse(PS, "1,2,3", name="ps")) == [("opaque", "1,2,3")]


# -- endless -------------------------------------------------------------------------------------


def test_endless_rules() -> None:
    vmstat = ProgramSpec(flags=("-w",), endless={"operand_counts": (1,)})
    assert parse(vmstat, "1", "3").problems == []
    assert parse(vmstat, "5", name="vmstat").problems == [
        "`vmstat` with 1 operand(s) runs until killed (a delay without a count)"]
    ping = ProgramSpec(flags=("-c=", "-q"), endless={"unless": ("-c",)})
    assert parse(ping, "-c", "3", "h", name="ping").problems == []
    assert parse(ping, "h", name="ping").problems == ["`ping` runs until killed without `-c`"]
    tail = ProgramSpec(flags=("-n=", "-f", "--follow[=]"), endless={"flags": ("-f", "--follow")})
    assert parse(tail, "-f", "x", name="tail").problems == ["flag `-f` makes `tail` run until killed"]
    assert parse(tail, "--follow=name", "x", name="tail").problems == [
        "flag `--follow` makes `tail` run until killed"]


# -- curl write-out ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "ok"),
    [
        ("%{http_code}\\n", True),
        ("%{time_total} %header{content-type} %%", True),
        ("%{json}", True),
        ("%output{/tmp/x}%{http_code}", False),
        ("@/etc/shadow", False),
        ("%{stderr}%{url.host}", True),
        ("%newthing{x}", False),
    ],
)
def test_curl_write_out(fmt: str, ok: bool) -> None:
    assert (check_curl_write_out(Word(fmt, escape(fmt)), "value") is None) is ok


# -- options that end at the first operand; optional values that peek -------------------------------

AWK = ProgramSpec(operands=("script", "read"), permute=False, flags=("-F=", "-v="), script="awk")


def test_no_permutation_after_the_first_operand() -> None:
    # gawk and mawk stop at the program text: `-F /etc/shadow` are two files to read
    res = parse(AWK, "{print}", "-F", "/etc/shadow", name="awk")
    assert res.flags == []
    assert uses(res) == [("script", "{print}"), ("read", "-F"), ("read", "/etc/shadow")]
    assert parse(AWK, "-F:", "{print $1}", "/etc/passwd", name="awk").flags == ["-F"]


def test_posix_family_does_not_permute() -> None:
    spec = ProgramSpec(family="posix", operands="read", flags=("-s",))
    assert uses(parse(spec, "a", "-s")) == [("read", "a"), ("read", "-s")]


def test_greedy_optional_value() -> None:
    spec = ProgramSpec(flags=("-n[=]", "--vacuum-size="), deny_flags=("--vacuum-size=",),
                       values={"-n": ValueRule(greedy="[+-]?[0-9]+|all")})
    res = parse(spec, "-n", "50")
    assert res.flags == ["-n"] and [u.what for u in res.uses] == ["value of `-n`"]
    res = parse(spec, "-n", "--vacuum-size=1M")
    assert res.problems == ["flag `--vacuum-size` is not allowed"]
    assert [u.what for u in parse(spec, "-n", "x").uses] == ["operand"]


def test_ps_bsd_rereading_when_the_unix_reading_may_fail() -> None:
    spec = ProgramSpec(family="ps", flags=("-e", "-f", "-g=", "-o=", "f", "g", "x", "o="), deny_flags=("e",),
                       reparse_safe=("-o", "o"))
    assert parse(spec, "-ef", name="ps").problems == []  # switches only: the UNIX reading cannot fail
    assert parse(spec, "-ef", "-o", "pid", name="ps").problems == []  # a format fails the BSD reading too
    res = parse(spec, "-ef", "-gx", name="ps")  # no group x: procps reads `e f g x`
    assert res.problems == ["read as BSD options, as procps does when its UNIX reading fails: flag `e` is not allowed"]


def test_iproute2_options_only_before_the_object() -> None:
    res = parse(IP, "-br", "link", "-4", name="ip")
    assert res.flags == ["-brief"]
    assert "subcommand `ip link -4` is not allowed" in res.problems
