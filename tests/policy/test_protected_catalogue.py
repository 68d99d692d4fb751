"""The catalogue of protected paths (rules/protected-paths.yaml) and its use by the shipped policy.

Every entry of the catalogue is turned into concrete paths (``**`` a folder, ``*`` a name, a
member of ``[...]``) and read through several readers of the shipped policy: each read must be
denied *because it reads a protected path* (a denial for another reason would prove nothing).
Readers come from the policy's programs section, which other work rewrites: a reader that the
policy does not allow on an ordinary file is skipped with its reason instead of failing.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path

import pytest

from sshwall.engine import Decision, ToolCall, Verdict, evaluate
from sshwall.engine.paths import ANY, covered, normalise, overlap, pattern_regex
from sshwall.errors import PolicyError
from sshwall.policy import Policy, load_policy
from sshwall.policy.catalogue import Catalogue
from sshwall.policy.load import default_catalogue_path, load_catalogue

REPO = Path(__file__).resolve().parents[2]
POLICY_PATH = REPO / "rules" / "readonly-ops.yaml"
CATALOGUE = load_catalogue()
GROUPS = tuple(CATALOGUE.groups)
ENTRIES = tuple((g, p) for g in GROUPS for p in CATALOGUE.group_paths(g))
# Glob and `..` spellings make the engine reason about every pattern (no literal fast path), so
# they are tried on a fixed sample: the first entries of every group and every 7th entry.
SPELLING_SAMPLE = tuple(
    e for i, e in enumerate(ENTRIES)
    if i % 7 == 0 or CATALOGUE.group_paths(e[0]).index(e[1]) < 5
)
ALL_EXCEPTIONS = CATALOGUE.resolve(["all"])[1]


@cache
def policy() -> Policy:
    return load_policy(POLICY_PATH)


@cache
def decide(command: str) -> Verdict:
    return evaluate(policy(), ToolCall("executeCommand", {"connectionId": "c1", "command": command}))


def _protected(verdict: Verdict) -> bool:
    return verdict.decision == Decision.DENY and any("protected path" in r for r in verdict.reasons)


# -- concrete paths from globs ------------------------------------------------------------------

_FILL = {"*": "x", "?": "q"}


def _fill_segment(seg: str) -> str:
    out = []
    i = 0
    while i < len(seg):
        ch = seg[i]
        if ch == "[":
            j = seg.index("]", i + 2 if seg[i + 1 : i + 2] in ("!", "^", "]") else i + 1)
            body = seg[i + 1 : j]
            assert body[:1] not in ("!", "^"), f"negated set in catalogue entry segment {seg!r}"
            out.append(body[0])
            i = j + 1
        else:
            out.append(_FILL.get(ch, ch))
            i += 1
    return "".join(out)


def concrete(glob: str) -> str:
    """One real path the glob matches: leading ``**`` -> /srv/app, inner -> a/b, last -> sub/file."""
    parts = glob.split("/")
    out: list[str] = []
    for k, seg in enumerate(parts):
        if seg == "**":
            if k == 0:
                out += ["", "srv", "app"]
            elif k == len(parts) - 1:
                out += ["sub", "secret.txt"]
            else:
                out += ["a", "b"]
        else:
            out.append(_fill_segment(seg))
    path = "/".join(out)
    assert path.startswith("/"), glob
    assert re.fullmatch(_regex(glob), path), (glob, path)
    return path


def _regex(glob: str) -> str:
    return pattern_regex(normalise(glob, None))


def glob_forms(path: str) -> list[str]:
    """The same file named with shell globs in its last name (first character kept literal)."""
    head, _, name = path.rpartition("/")
    forms = []
    if len(name) >= 3:
        forms.append(f"{head}/{name[0]}*{name[-1]}")
    if len(name) >= 2:
        forms.append(f"{head}/{name[:-1]}?")
    return forms


def dot_forms(path: str) -> list[str]:
    """``..`` and ``./``-with-doubled-slash spellings of the same path."""
    segs = path.strip("/").split("/")
    first = segs[0]
    return [f"/{first}/../{path.lstrip('/')}", "/.//" + "//".join(segs)]


def anchored_ancestors(glob: str, path: str) -> list[str]:
    """Folders a recursive read of which must count as reading the entry.

    The engine matches a recursive read against the literal folders an entry names (a folder
    under ``**`` could be anywhere), so: for an entry without ``**`` before its last segment,
    every ancestor of the concrete path; otherwise the folders before the first ``**``.
    """
    segs = glob.split("/")
    inner = [k for k, s in enumerate(segs[:-1]) if s == "**"]
    parts = path.split("/")[1:]
    if not inner:
        return ["/" + "/".join(parts[:k]) for k in range(len(parts))]
    first = inner[0]
    return ["/" + "/".join(parts[:k]) for k in range(first)]


# -- readers ------------------------------------------------------------------------------------

BENIGN_FILE = "/var/log/app.log"
READERS: dict[str, tuple[str, str]] = {
    # name: (command template with {p}, the program whose spec it needs)
    "cat": ("cat {p}", "cat"),
    "head": ("head -n 1 {p}", "head"),
    "tail": ("tail -n 1 {p}", "tail"),
    "grep -a": ("grep -a x {p}", "grep"),
    "sort": ("sort {p}", "sort"),
    "awk": ("awk '{{print}}' {p}", "awk"),
    "sed": ("sed -n p {p}", "sed"),
    "tar -tzf": ("tar -tzf {p}", "tar"),
}


@cache
def reader_problem(name: str) -> str | None:
    """Why a reader cannot be used now (missing, or denied on an ordinary file), or None."""
    template, program = READERS[name]
    if program not in policy().commands["diagnostics"].programs:
        return f"`{program}` is not in the policy's programs (being rewritten?)"
    benign = "/var/backups/etc.tar.gz" if program == "tar" else BENIGN_FILE
    verdict = decide(template.format(p=benign))
    if verdict.decision != Decision.ALLOW:
        return f"`{template.format(p=benign)}` is not allowed on an ordinary file: {verdict.reasons}"
    return None


def _usable(name: str) -> bool:
    return reader_problem(name) is None


def _q(path: str) -> str:
    return shlex.quote(path)


# -- every entry, every reader ------------------------------------------------------------------


@pytest.mark.parametrize(("group", "glob"), ENTRIES, ids=[f"{g}:{p}" for g, p in ENTRIES])
def test_every_entry_is_denied_through_every_reader(group: str, glob: str) -> None:
    path = concrete(glob)
    assert not any(covered(normalise(path, None), normalise(e, None)) for e in ALL_EXCEPTIONS), (
        f"{path} (from {glob}) is uncovered by an exception"
    )
    commands = [READERS[r][0].format(p=_q(path)) for r in READERS if _usable(r)]
    if _usable("grep -a"):
        commands += [f"grep -r x {_q(folder)}" for folder in anchored_ancestors(glob, path)]
    assert commands, "no reader is usable"
    _assert_denied(group, glob, path, commands)


@pytest.mark.parametrize(("group", "glob"), SPELLING_SAMPLE, ids=[f"{g}:{p}" for g, p in SPELLING_SAMPLE])
def test_glob_and_dotdot_spellings_are_denied(group: str, glob: str) -> None:
    if not _usable("cat"):
        pytest.skip(reader_problem("cat"))
    path = concrete(glob)
    commands = [f"cat {form}" for form in glob_forms(path) if " " not in form]
    commands += [f"cat {_q(form)}" for form in dot_forms(path)]
    _assert_denied(group, glob, path, commands)


def _assert_denied(group: str, glob: str, path: str, commands: list[str]) -> None:
    leaks = [(c, decide(c)) for c in commands]
    bad = [f"{c!r}: {v.decision.value} {v.reasons}" for c, v in leaks if not _protected(v)]
    assert not bad, f"{group} entry {glob} (as {path}) leaks:\n" + "\n".join(bad)


@pytest.mark.parametrize("reader", sorted(READERS))
def test_readers_are_usable(reader: str) -> None:
    """Each reader the catalogue test relies on works on an ordinary file (else it is skipped)."""
    problem = reader_problem(reader)
    if problem:
        pytest.skip(problem)


def test_home_entries_cover_recursive_reads_of_a_home() -> None:
    if not _usable("grep -a"):
        pytest.skip(reader_problem("grep -a"))
    for folder in ("/root", "/home/alice", "/home", "~", "/var/www/html", "/srv/app", "/opt/app", "/proc/1"):
        assert _protected(decide(f"grep -r x {folder}")), folder


@pytest.mark.xfail(strict=True, reason="engine: a recursive read is matched only against the literal "
                   "folders of an entry, so **/NAME entries do not reach a folder outside the anchors")
def test_recursive_read_of_an_unanchored_folder_reaches_dotenv() -> None:
    assert _protected(decide("grep -r x /data/site"))  # /data/site/.env would be printed


# -- must stay allowed --------------------------------------------------------------------------

MUST_ALLOW = [
    "cat /etc/os-release", "cat /etc/passwd", "cat /etc/group", "cat /etc/hosts", "head -n 5 /etc/passwd",
    "tail -n 20 /var/log/syslog", "cat /etc/nginx/nginx.conf", "sed -n 1,20p /etc/nginx/nginx.conf",
    "grep -rn timeout /etc/nginx", "grep -rn error /var/log", "grep -i error /var/log/nginx/*.log",
    "cat /etc/*-release", "cat /etc/ssh/sshd_config", "cat /etc/ssh/sshd_config.d/*.conf",
    "cat /etc/ssh/ssh_host_ed25519_key.pub", "cat ~/.ssh/id_rsa.pub", "cat /root/.ssh/authorized_keys",
    "cat /etc/letsencrypt/live/example.com/fullchain.pem", "cat /etc/ssl/certs/ca-certificates.crt",
    "cat /etc/mysql/my.cnf", "cat /etc/postgresql/15/main/pg_hba.conf", "cat /var/lib/kubelet/config.yaml",
    "cat /etc/kubernetes/manifests/kube-apiserver.yaml", "cat /etc/security/limits.conf",
    "cat /proc/meminfo", "cat /proc/1/status", "cat /proc/self/status", "cat /dev/null",
    "head -c 16 /dev/urandom", "zcat /var/log/syslog.2.gz", "sort /var/log/app.log",
    "awk '{print $1}' /var/log/nginx/access.log", "tar -tzf /var/backups/etc.tar.gz",
    "cat /etc/fstab", "cat /etc/systemd/system/app.service", "cat /etc/environment",
    "tail -n 5 /var/lib/docker/containers/abc/abc-json.log",
    # globs: a protected entry that could match one of their files would deny them
    "cat /etc/netplan/*.yaml", "grep image /etc/kubernetes/manifests/*.yaml", "cat /srv/app/deploy/*.yml",
    "cat /etc/containerd/*.toml", "cat /usr/local/bin/*.sh", "cat /etc/systemd/system/*.service",
    "tail -n 50 /var/log/*.log", "zcat /var/log/syslog.*.gz", "cat /etc/apt/sources.list.d/*.list",
    "cat /etc/ssh/ssh_host_*.pub", "cat /etc/sysctl.d/*.conf", "cat /etc/nginx/conf.d/*.conf",
    # metadata only
    "ls -la ~/.ssh", "ls -lh /etc/shadow", "stat /etc/shadow", "ls -l /dev/sda", "du -sh /root/.ssh",
    "test -f /etc/shadow", "ls /etc/wireguard",
]


@pytest.mark.parametrize("command", MUST_ALLOW)
def test_ordinary_reads_stay_allowed(command: str) -> None:
    program = command.split()[0]
    if program not in policy().commands["diagnostics"].programs:
        pytest.skip(f"`{program}` is not in the policy's programs")
    verdict = decide(command)
    protected = [r for r in verdict.reasons if "protected path" in r]
    assert not protected, protected
    if verdict.decision != Decision.ALLOW:
        pytest.skip(f"denied for a reason outside the catalogue: {verdict.reasons}")


# -- the catalogue itself -----------------------------------------------------------------------


def test_every_group_names_its_sources_and_kinds_are_covered() -> None:
    for name, group in CATALOGUE.groups.items():
        assert group.sources and all(s.strip() for s in group.sources), name
        assert group.description, name
    for kind in ("system-auth", "ssh", "tls", "vpn", "cloud", "cluster", "vcs", "app-secrets", "devices"):
        assert kind in CATALOGUE.groups


def test_exceptions_are_public_files_inside_their_own_group() -> None:
    """The engine applies every exception to every protected path, so an exception may only name
    files that are public wherever they are, and must lie inside its own group (or it is stray).

    That no exception uncovers an entry of another group is checked per entry above (each
    entry's concrete path must not be covered by any exception).
    """
    public = re.compile(
        r"(/\.ssh/(\*\.pub|authorized_keys2?)"
        r"|/(cert|chain|fullchain)(\[0-9\]\*)?\.pem|/README"
        r"|^/dev/(null|zero|full|random|urandom))$"
    )
    for group in GROUPS:
        own = [normalise(p, None) for p in CATALOGUE.group_paths(group)]
        for exc in CATALOGUE.group_exceptions(group):
            assert public.search(exc), f"{group}: exception {exc} is not a known public file"
            assert any(overlap(normalise(exc, None), p) for p in own), f"{group}: exception {exc} excepts nothing"


@pytest.mark.parametrize("ext", ["yaml", "yml", "conf", "log", "sh", "toml", "service", "list", "txt", "cfg", "ini"])
def test_no_entry_reaches_an_ordinary_glob(ext: str) -> None:
    """``DIR/*.EXT`` in any folder must not overlap an entry (it would deny ordinary globs)."""
    arg = normalise(f"/some/where/*.{ext}", None)
    hits = [g for _, g in ENTRIES if overlap(arg, normalise(g, None))]
    assert not hits, hits


def test_shipped_policy_uses_the_whole_catalogue() -> None:
    cs = policy().commands["diagnostics"]
    assert cs.protected_catalogue == ("all",)
    paths, exceptions = CATALOGUE.resolve(["all"])
    assert set(paths) <= set(cs.protected_paths)
    assert set(exceptions) <= set(cs.protected_exceptions)
    assert cs.protected_paths[: len(paths)] == paths  # catalogue first: its kinds name the denial


def test_catalogue_ships_with_the_package() -> None:
    assert default_catalogue_path().is_file()
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    shipped = data["tool"]["setuptools"]["package-data"]["sshwall._rules"]
    assert any(fnmatch.fnmatch("protected-paths.yaml", pat) for pat in shipped)


# -- loading ------------------------------------------------------------------------------------


def _policy_file(tmp_path: Path, commands_yaml: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\nprofile: mcp-ssh\ntools:\n  executeCommand: {commands: diag}\n"
        "commands:\n  diag:\n" + commands_yaml + "    programs:\n      cat: {operands: read}\n"
    )
    return path


def test_named_groups_resolve_on_load(tmp_path: Path) -> None:
    path = _policy_file(tmp_path, "    protected_catalogue: [ssh, proc]\n    protected_paths: [/srv/site/secret]\n")
    cs = load_policy(path).commands["diag"]
    expected = CATALOGUE.group_paths("ssh") + CATALOGUE.group_paths("proc")
    assert cs.protected_paths == (*expected, "/srv/site/secret")
    assert cs.protected_exceptions == CATALOGUE.group_exceptions("ssh")
    assert "/etc/shadow" not in cs.protected_paths


def test_all_as_a_single_word(tmp_path: Path) -> None:
    cs = load_policy(_policy_file(tmp_path, "    protected_catalogue: all\n")).commands["diag"]
    assert cs.protected_paths == CATALOGUE.resolve(["all"])[0]
    assert cs.protected_catalogue == ("all",)


def test_unknown_group_fails_with_file_line_and_known_names(tmp_path: Path) -> None:
    path = _policy_file(tmp_path, "    protected_catalogue: [ssh, sekrets]\n")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    text = str(err.value)
    assert f"{path}:" in text and "'sekrets'" in text and "system-auth" in text
    assert "commands.diag.protected_catalogue" in text


def test_a_non_list_fails(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="list of catalogue group names"):
        load_policy(_policy_file(tmp_path, "    protected_catalogue: {ssh: 1}\n"))


def test_without_catalogue_nothing_is_added(tmp_path: Path) -> None:
    cs = load_policy(_policy_file(tmp_path, "    protected_paths: [/x]\n")).commands["diag"]
    assert cs.protected_paths == ("/x",) and cs.protected_catalogue == ()


def _cat(**group: object) -> dict[str, object]:
    return {"groups": {"g": {"description": "d", "sources": ["s(5)"], **group}}}


def test_notation_home_backups_conffiles_app_roots() -> None:
    cat = Catalogue.model_validate({
        "backup_suffixes": ["~"], "package_suffixes": [".rpmnew"], "app_roots": ["/srv/*"],
        **_cat(paths=["~/.tok"], backups=["~/.cred"], conffiles=["/etc/s"], in_app_roots=[".env"]),
    })
    assert cat.group_paths("g") == (
        "/etc/s", "/etc/s~", "/etc/s.rpmnew",
        "/root/.cred", "/home/*/.cred", "**/.cred", "**/.cred~",  # the group's first ~/ entry is anchored
        "**/.tok",
        "/srv/*/.env",
    )
    with pytest.raises(KeyError):
        cat.resolve(["nope"])


@pytest.mark.parametrize("bad", ["/etc/{a,b}", "etc/shadow", "/etc/../shadow", "/etc//x", "/etc/a**", "/x/[ab", "/a\\*"])
def test_catalogue_refuses_globs_the_engine_would_misread(bad: str) -> None:
    with pytest.raises(ValueError):
        Catalogue.model_validate(_cat(paths=[bad]))


def test_catalogue_refuses_groups_without_sources_and_the_name_all() -> None:
    with pytest.raises(ValueError):
        Catalogue.model_validate({"groups": {"g": {"description": "d", "sources": [], "paths": ["/x"]}}})
    with pytest.raises(ValueError):
        Catalogue.model_validate({"groups": {"all": {"description": "d", "sources": ["s"], "paths": ["/x"]}}})
    with pytest.raises(ValueError):
        Catalogue.model_validate({"groups": {"g": {"description": "d", "sources": ["s"], "pathz": ["/x"]}}})


def test_a_broken_catalogue_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("groups:\n  g:\n    description: d\n    sources: [s]\n    paths: [relative/x]\n")
    with pytest.raises(PolicyError, match=r"c\.yaml:5: groups\.g\.paths"):
        load_catalogue(path)


def test_concrete_paths_match_their_globs() -> None:
    assert concrete("**/.env") == "/srv/app/.env"
    assert concrete("/etc/sudoers.d/**") == "/etc/sudoers.d/sub/secret.txt"
    assert concrete("/proc/**/environ") == "/proc/a/b/environ"
    assert concrete("/etc/letsencrypt/archive/*/cert[0-9]*.pem") == "/etc/letsencrypt/archive/x/cert0x.pem"
    assert ANY == "**"
