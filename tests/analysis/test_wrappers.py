"""Wrapper unwrapping: the real program comes out, the wrappers are recorded outermost first.

``sudo rm`` must be judged as ``rm``, and ``sudo`` must still be visible so the policy can judge
it as a wrapper. A wrapper option the grammar does not know is a finding (see test_findings.py),
never a guess about where the command starts.
"""

from __future__ import annotations

import pytest

from sshwall.analysis import FindingKind, SimpleCommand, analyse
from sshwall.analysis.words import scan_word
from sshwall.analysis.wrappers import GRAMMARS, SHELLS, basename, find_exec_commands, unwrap_once


def only(source: str) -> SimpleCommand:
    """The single command ``source`` runs, from an analysis that must be ok."""
    a = analyse(source)
    assert a.ok, [f.describe() for f in a.findings]
    assert len(a.commands) == 1, [c.argv for c in a.commands]
    return a.commands[0]


def argv(cmd: SimpleCommand) -> list[str]:
    return [w.text for w in cmd.argv]


def wrappers(cmd: SimpleCommand) -> list[list[str]]:
    return [[w.text for w in u.argv] for u in cmd.wrappers]


def words(source: str) -> tuple:
    return tuple(scan_word(w) for w in source.split())


# -- single wrappers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "wrapper", "program"),
    [
        ("sudo rm -rf /", ["sudo"], ["rm", "-rf", "/"]),
        ("sudo -u root ls -l", ["sudo", "-u", "root"], ["ls", "-l"]),
        ("sudo -uroot ls", ["sudo", "-uroot"], ["ls"]),
        ("sudo --user=root ls", ["sudo", "--user=root"], ["ls"]),
        ("sudo --user root ls", ["sudo", "--user", "root"], ["ls"]),
        ("sudo -n ls", ["sudo", "-n"], ["ls"]),
        ("sudo -n -u postgres -- psql -l", ["sudo", "-n", "-u", "postgres", "--"], ["psql", "-l"]),
        ("sudo -- -weird", ["sudo", "--"], ["-weird"]),
        ("sudo -E -H ls", ["sudo", "-E", "-H"], ["ls"]),
        ("sudo -nEu root ls", ["sudo", "-nEu", "root"], ["ls"]),
        ("sudo -g adm cat /var/log/syslog", ["sudo", "-g", "adm"], ["cat", "/var/log/syslog"]),
        ("/usr/bin/sudo ls", ["/usr/bin/sudo"], ["ls"]),
        ("doas ls", ["doas"], ["ls"]),
        ("doas -u root -n ls", ["doas", "-u", "root", "-n"], ["ls"]),
        ("env ls", ["env"], ["ls"]),
        ("env -i ls", ["env", "-i"], ["ls"]),
        ("env - ls", ["env", "-"], ["ls"]),
        ("env -u HOME ls", ["env", "-u", "HOME"], ["ls"]),
        ("env --unset=HOME ls", ["env", "--unset=HOME"], ["ls"]),
        ("env -C /tmp ls", ["env", "-C", "/tmp"], ["ls"]),
        ("timeout 5 ls", ["timeout", "5"], ["ls"]),
        ("timeout 1.5m ls", ["timeout", "1.5m"], ["ls"]),
        ("timeout -s KILL 5 ls", ["timeout", "-s", "KILL", "5"], ["ls"]),
        ("timeout -sKILL 5 ls", ["timeout", "-sKILL", "5"], ["ls"]),
        ("timeout --signal=TERM -k 2 5s ls", ["timeout", "--signal=TERM", "-k", "2", "5s"], ["ls"]),
        ("timeout --preserve-status 5 ls", ["timeout", "--preserve-status", "5"], ["ls"]),
        ("nice ls", ["nice"], ["ls"]),
        ("nice -n 5 ls", ["nice", "-n", "5"], ["ls"]),
        ("nice -n5 ls", ["nice", "-n5"], ["ls"]),
        ("nice -n -5 ls", ["nice", "-n", "-5"], ["ls"]),
        ("nice -5 ls", ["nice", "-5"], ["ls"]),
        ("nice --adjustment=5 ls", ["nice", "--adjustment=5"], ["ls"]),
        ("ionice -c3 ls", ["ionice", "-c3"], ["ls"]),
        ("ionice -c 2 -n 7 ls", ["ionice", "-c", "2", "-n", "7"], ["ls"]),
        ("ionice -t -c3 ls", ["ionice", "-t", "-c3"], ["ls"]),
        ("stdbuf -oL ls", ["stdbuf", "-oL"], ["ls"]),
        ("stdbuf -o L -e 0 ls", ["stdbuf", "-o", "L", "-e", "0"], ["ls"]),
        ("stdbuf --output=L ls", ["stdbuf", "--output=L"], ["ls"]),
        ("nohup ls", ["nohup"], ["ls"]),
        ("setsid ls", ["setsid"], ["ls"]),
        ("setsid -w -f ls", ["setsid", "-w", "-f"], ["ls"]),
        ("chroot /srv/jail ls", ["chroot", "/srv/jail"], ["ls"]),
        ("chroot --userspec=nobody:nogroup /srv ls", ["chroot", "--userspec=nobody:nogroup", "/srv"], ["ls"]),
        ("command ls", ["command"], ["ls"]),
        ("command -p ls", ["command", "-p"], ["ls"]),
        ("builtin echo hi", ["builtin"], ["echo", "hi"]),
        ("exec ls", ["exec"], ["ls"]),
        ("exec -a name ls", ["exec", "-a", "name"], ["ls"]),
        ("exec -cl ls", ["exec", "-cl"], ["ls"]),
        ("/usr/bin/time -p ls", ["/usr/bin/time", "-p"], ["ls"]),
        ("/usr/bin/time -f %e -o /tmp/t ls", ["/usr/bin/time", "-f", "%e", "-o", "/tmp/t"], ["ls"]),
        ("busybox rm -rf /", ["busybox"], ["rm", "-rf", "/"]),
        ("/bin/busybox ls", ["/bin/busybox"], ["ls"]),
    ],
)
def test_one_wrapper(source: str, wrapper: list[str], program: list[str]) -> None:
    cmd = only(source)
    assert argv(cmd) == program
    assert wrappers(cmd) == [wrapper]
    assert cmd.wrappers[0].name == wrapper[0]
    assert cmd.extra_args is False


def test_quoted_wrapper_names_are_still_wrappers() -> None:
    cmd = only("'sudo' \"rm\" x")
    assert argv(cmd) == ["rm", "x"]
    assert wrappers(cmd) == [["sudo"]]


# -- assignments carried by wrappers ------------------------------------------------------------


def test_sudo_assignments() -> None:
    cmd = only("sudo FOO=1 BAR=two ls")
    assert argv(cmd) == ["ls"]
    assert wrappers(cmd) == [["sudo", "FOO=1", "BAR=two"]]
    assert [(n, v.text) for n, v in cmd.assignments] == [("FOO", "1"), ("BAR", "two")]


def test_env_assignments_and_options() -> None:
    cmd = only("env -i -u HOME LC_ALL=C TZ=UTC sort f")
    assert argv(cmd) == ["sort", "f"]
    assert wrappers(cmd) == [["env", "-i", "-u", "HOME", "LC_ALL=C", "TZ=UTC"]]
    assert [(n, v.text) for n, v in cmd.assignments] == [("LC_ALL", "C"), ("TZ", "UTC")]


def test_shell_assignments_and_wrapper_assignments_are_both_kept() -> None:
    cmd = only("LANG=C sudo LC_ALL=C ls")
    assert [n for n, _ in cmd.assignments] == ["LANG", "LC_ALL"]


def test_a_dynamic_wrapper_assignment_value_is_dynamic() -> None:
    a = analyse("sudo X=$HOME ls")
    cmd = a.commands[-1]
    assert cmd.name == "ls"
    assert cmd.assignments[0][1].dynamic


def test_timeout_does_not_take_assignments() -> None:
    # `timeout 5 X=1 ls` runs a program called X=1: it must not be read as an assignment.
    cmd = only("timeout 5 X=1 ls")
    assert argv(cmd) == ["X=1", "ls"]
    assert cmd.assignments == ()


# -- nesting ------------------------------------------------------------------------------------


def test_nested_wrappers_outermost_first() -> None:
    cmd = only("sudo env timeout 5 nice rm -rf /")
    assert argv(cmd) == ["rm", "-rf", "/"]
    assert wrappers(cmd) == [["sudo"], ["env"], ["timeout", "5"], ["nice"]]


def test_nested_wrappers_with_options() -> None:
    cmd = only("sudo -n -u www env -i PATH=/bin timeout -s INT 10 nice -n 19 ionice -c3 stdbuf -oL nohup tail -f x")
    assert argv(cmd) == ["tail", "-f", "x"]
    assert [u.name for u in cmd.wrappers] == ["sudo", "env", "timeout", "nice", "ionice", "stdbuf", "nohup"]
    assert [n for n, _ in cmd.assignments] == ["PATH"]


def test_busybox_then_sudo() -> None:
    cmd = only("sudo busybox rm x")
    assert argv(cmd) == ["rm", "x"]
    assert wrappers(cmd) == [["sudo"], ["busybox"]]


# -- xargs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "wrapper", "program"),
    [
        ("xargs rm", ["xargs"], ["rm"]),
        ("xargs -0 rm -f", ["xargs", "-0"], ["rm", "-f"]),
        ("xargs -n 1 rm", ["xargs", "-n", "1"], ["rm"]),
        ("xargs -n1 -P4 rm", ["xargs", "-n1", "-P4"], ["rm"]),
        ("xargs -I{} cp {} /tmp", ["xargs", "-I{}"], ["cp", "{}", "/tmp"]),
        ("xargs -I {} cp {} /tmp", ["xargs", "-I", "{}"], ["cp", "{}", "/tmp"]),
        ("xargs -d '\\n' -r grep x", ["xargs", "-d", "\\n", "-r"], ["grep", "x"]),
        ("xargs --null --max-args=2 rm", ["xargs", "--null", "--max-args=2"], ["rm"]),
        ("xargs -a list.txt rm", ["xargs", "-a", "list.txt"], ["rm"]),
    ],
)
def test_xargs_program_gets_extra_args(source: str, wrapper: list[str], program: list[str]) -> None:
    cmd = only(source)
    assert argv(cmd) == program
    assert wrappers(cmd) == [wrapper]
    assert cmd.extra_args is True


def test_xargs_in_a_pipeline() -> None:
    a = analyse("find /tmp -name '*.tmp' -print0 | xargs -0 rm -f")
    assert a.ok
    find, rm = a.commands
    assert find.name == "find" and find.extra_args is False
    assert rm.name == "rm" and rm.extra_args is True and rm.context == ("pipeline",)


def test_extra_args_survive_inner_wrappers() -> None:
    cmd = only("xargs sudo rm")
    assert argv(cmd) == ["rm"]
    assert wrappers(cmd) == [["xargs"], ["sudo"]]
    assert cmd.extra_args is True


def test_xargs_alone_runs_echo_but_is_not_unwrapped() -> None:
    cmd = only("xargs")
    assert argv(cmd) == ["xargs"]
    assert cmd.wrappers == ()


@pytest.mark.parametrize(
    ("source", "wrapper", "program"),
    [
        # GNU xargs -i[REPLACE] and -l[MAX] take an optional value that can only be attached:
        # detached, the next word is already the command.
        ("xargs -l echo X", ["xargs", "-l"], ["echo", "X"]),
        ("xargs -i cat ls", ["xargs", "-i"], ["cat", "ls"]),
        ("xargs -l5 echo", ["xargs", "-l5"], ["echo"]),
        ("xargs -iX cp X /tmp", ["xargs", "-iX"], ["cp", "X", "/tmp"]),
        ("xargs -0il rm", ["xargs", "-0il"], ["rm"]),
        ("xargs -r -i rm {}", ["xargs", "-r", "-i"], ["rm", "{}"]),
    ],
)
def test_xargs_optional_argument_options(source: str, wrapper: list[str], program: list[str]) -> None:
    cmd = only(source)
    assert wrappers(cmd) == [wrapper]
    assert argv(cmd) == program
    assert cmd.extra_args is True


# -- sh -c --------------------------------------------------------------------------------------


def test_sh_c_script_is_reparsed() -> None:
    a = analyse("sh -c 'a; b'")
    assert a.ok
    assert [(argv(c), wrappers(c), c.context) for c in a.commands] == [
        (["a"], [["sh", "-c"]], ("sh-c",)),
        (["b"], [["sh", "-c"]], ("sh-c",)),
    ]
    assert "sequence" in a.operators


def test_bash_lc_with_a_pipeline() -> None:
    a = analyse("bash -lc 'ls | wc -l'")
    assert a.ok
    assert [argv(c) for c in a.commands] == [["ls"], ["wc", "-l"]]
    assert all(wrappers(c) == [["bash", "-lc"]] for c in a.commands)
    assert all(c.context == ("sh-c", "pipeline") for c in a.commands)
    assert "pipe" in a.operators


@pytest.mark.parametrize(
    ("source", "shell"),
    [
        ("sh -c ls", ["sh", "-c"]),
        ("/bin/bash -c ls", ["/bin/bash", "-c"]),
        ("dash -ec ls", ["dash", "-ec"]),
        ("bash -e -c ls", ["bash", "-e", "-c"]),
        ("bash -o pipefail -c ls", ["bash", "-o", "pipefail", "-c"]),
        ("bash -c -o pipefail ls", ["bash", "-c", "-o", "pipefail"]),
        ("bash --norc --noprofile -c ls", ["bash", "--norc", "--noprofile", "-c"]),
        ("bash --rcfile /x -c ls", ["bash", "--rcfile", "/x", "-c"]),
        ("bash -O extglob -c ls", ["bash", "-O", "extglob", "-c"]),
        ("zsh -c ls", ["zsh", "-c"]),
        ("sh -c -- ls", ["sh", "-c", "--"]),
    ],
)
def test_shell_option_grammar(source: str, shell: list[str]) -> None:
    cmd = only(source)
    assert argv(cmd) == ["ls"]
    assert wrappers(cmd) == [shell]
    assert cmd.context == ("sh-c",)


def test_sh_c_positional_arguments_are_not_the_program() -> None:
    cmd = only("sh -c 'ls' rm -rf /")  # rm becomes $0, not a command
    assert argv(cmd) == ["ls"]


def test_sh_c_under_sudo_and_inside_sh_c() -> None:
    a = analyse("sudo sh -c \"bash -c 'id; ls'\"")
    assert a.ok
    assert [argv(c) for c in a.commands] == [["id"], ["ls"]]
    for c in a.commands:
        assert wrappers(c) == [["sudo"], ["sh", "-c"], ["bash", "-c"]]
        assert c.context == ("sh-c", "sh-c")


def test_sh_c_script_keeps_outer_redirects_and_context() -> None:
    a = analyse("ls | sh -c 'cat; id' > /dev/null")
    assert a.ok
    cat, id_ = a.commands[1:]
    assert cat.context == ("pipeline", "sh-c") and id_.context == ("pipeline", "sh-c")
    assert [r.op for r in cat.redirects] == [">"]


def test_an_empty_sh_c_script_reports_the_shell() -> None:
    a = analyse("sh -c ''")
    assert [argv(c) for c in a.commands] == [["sh", "-c"]]


@pytest.mark.parametrize("source", ["sh", "sh script.sh", "bash -s", "bash -x script.sh", "bash -- -c ls", "sh +c ls"])
def test_shells_without_c_are_programs(source: str) -> None:
    cmd = only(source)
    assert argv(cmd) == source.split()
    assert cmd.wrappers == ()


# -- find -exec ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "inner"),
    [
        ("find . -exec rm {} \\;", [["rm", "{}"]]),
        ("find . -exec rm {} ';'", [["rm", "{}"]]),
        ("find . -execdir rm -f {} +", [["rm", "-f", "{}"]]),
        ("find . -ok rm {} \\;", [["rm", "{}"]]),
        ("find . -okdir rm {} \\;", [["rm", "{}"]]),
        ("find / -name x -exec cat {} + -exec rm {} \\;", [["cat", "{}"], ["rm", "{}"]]),
        ("find . -exec rm {}", [["rm", "{}"]]),  # no terminator: find refuses, sshwall still looks
        ("/usr/bin/find . -exec rm {} \\;", [["rm", "{}"]]),
    ],
)
def test_find_exec_commands_are_analysed(source: str, inner: list[list[str]]) -> None:
    a = analyse(source)
    assert a.ok
    assert a.commands[0].name.endswith("find")
    assert [argv(c) for c in a.commands[1:]] == inner
    assert all(c.context == ("find-exec",) for c in a.commands[1:])


def test_find_without_exec_runs_nothing_else() -> None:
    assert [argv(c) for c in analyse("find . -name '*.log' -print").commands] == [["find", ".", "-name", "*.log", "-print"]]


def test_find_exec_under_sudo_keeps_the_wrapper() -> None:
    a = analyse("sudo find / -exec rm {} \\;")
    assert [(argv(c), wrappers(c)) for c in a.commands] == [
        (["find", "/", "-exec", "rm", "{}", ";"], [["sudo"]]),
        (["rm", "{}"], [["sudo"]]),
    ]


def test_find_exec_of_a_wrapper_and_a_shell() -> None:
    a = analyse("find . -exec sudo sh -c 'rm -rf /' \\;")
    assert a.ok
    rm = a.commands[-1]
    assert argv(rm) == ["rm", "-rf", "/"]
    assert wrappers(rm) == [["sudo"], ["sh", "-c"]]
    assert rm.context == ("find-exec", "sh-c")


def test_find_exec_commands_helper() -> None:
    assert [[w.text for w in c] for c in find_exec_commands(words("find . -exec a b ; -execdir c +"))] == [["a", "b"], ["c"]]
    assert find_exec_commands(words("find . -exec ;")) == []


# -- forms that run nothing are not unwrapped ---------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "sudo",
        "sudo -l",
        "sudo -ll",
        "sudo -l ls",
        "sudo -v",
        "sudo -k",
        "sudo -K",
        "sudo -V",
        "sudo -s",
        "sudo -i",
        "sudo -e /etc/hosts",
        "sudo -u root",
        "doas -L",
        "doas -C /etc/doas.conf ls",
        "command -v ls",
        "command -V ls",
        "env",
        "env -i",
        "env FOO=1",
        "timeout 5",
        "nice",
        "nice -n 5",
        "ionice -p 1234",
        "chroot /srv",
        "exec",
        "busybox",
        "busybox --list",
        "nohup",
    ],
)
def test_no_exec_forms_are_not_unwrapped(source: str) -> None:
    cmd = only(source)
    assert argv(cmd) == source.split()
    assert cmd.wrappers == ()


def test_exec_with_only_redirects_is_the_program_exec() -> None:
    a = analyse("exec 3>&1")
    assert a.ok
    assert argv(a.commands[0]) == ["exec"]


@pytest.mark.parametrize(
    "source", ["env -S 'rm -rf /'", "env --split-string='rm -rf /'", "env -vS'rm -rf /'", "sudo env -S 'rm -rf /'"]
)
def test_env_split_string_is_refused(source: str) -> None:
    # env -S splits its string into a command (with its own escapes and ${VAR} expansion):
    # it runs something, and sshwall cannot see what.
    a = analyse(source)
    assert not a.ok
    assert any(f.kind is FindingKind.WRAPPER_SYNTAX and "env -S" in f.describe() for f in a.findings), a.findings


# -- unwrap_once directly -----------------------------------------------------------------------


def test_unwrap_once_peels_one_layer() -> None:
    layer = unwrap_once(words("sudo -u root timeout 5 ls"))
    assert layer is not None
    assert [w.text for w in layer.wrapper.argv] == ["sudo", "-u", "root"]
    assert [w.text for w in layer.argv] == ["timeout", "5", "ls"]
    assert layer.script is None


def test_unwrap_once_on_a_shell_returns_the_script() -> None:
    layer = unwrap_once(words("bash -c ls x y"))
    assert layer is not None
    assert layer.script is not None and layer.script.text == "ls"
    assert [w.text for w in layer.shell_args] == ["x", "y"]


@pytest.mark.parametrize("source", ["ls -l", "cat sudo", "$x ls"])
def test_unwrap_once_ignores_non_wrappers(source: str) -> None:
    assert unwrap_once(words(source)) is None
    assert unwrap_once(()) is None


def test_every_grammar_and_shell_is_a_wrapper() -> None:
    for name in GRAMMARS:
        layer = unwrap_once(words(f"{name} ls")) if name not in ("timeout", "chroot") else unwrap_once(words(f"{name} x ls"))
        assert layer is not None, name
        assert [w.text for w in layer.argv] == ["ls"], name
    for shell in SHELLS:
        layer = unwrap_once(words(f"{shell} -c ls"))
        assert layer is not None and layer.script is not None, shell


def test_basename() -> None:
    assert basename(scan_word("/usr/bin/sudo")) == "sudo"
    assert basename(scan_word("sudo")) == "sudo"
