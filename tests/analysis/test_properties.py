"""Property tests: no input crashes the analyser, and nothing it cannot vouch for is allowed.

(a) ``analyse`` returns an ``Analysis`` for any text: unicode, control characters, binary-ish
    bytes, shell metacharacter soup.
(b) ``evaluate`` under the shipped read-only policy never raises, never hits its internal-error
    path, and denies whenever the analysis has findings.
(c) Mutations of the shared corpus's allowed commands: an appended ``; rm -rf /srv`` is always
    denied, injected payloads outside quotes are denied, and single-character mutations never
    crash and never turn something unparseable into an allow.
(d) Words the analyser calls literal are the words bash passes (differential test against bash).
(e) Every program bash runs is named in the analysis (differential test against bash, with
    logging fake programs on an otherwise empty PATH).

bashlex loops forever on words holding an unclosed ``${`` that quoting hid from its tokenizer;
the analyser refuses that family before parsing (``test_bashlex_hang_is_bounded``). Every call
here runs under a watchdog that turns a hang into a failure naming the input, so the suite can
never hang silently.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from sshwall.analysis import DEFAULT_MAX_LENGTH, Analysis, analyse
from sshwall.engine import Decision, ToolCall, Verdict, evaluate
from sshwall.policy import Policy, load_policy

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICY_PATH = REPO_ROOT / "rules" / "readonly-ops.yaml"
CORPUS_PATH = REPO_ROOT.parent / "shared" / "corpus" / "readonly-ops.jsonl"

# SSHWALL_PROPERTY_EXAMPLES=5000 for a deep run; the default keeps this file to a few seconds.
EXAMPLES = int(os.environ.get("SSHWALL_PROPERTY_EXAMPLES", "250"))
SETTINGS = settings(
    deadline=None,
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# -- watchdog -----------------------------------------------------------------------------------

T = TypeVar("T")
WATCHDOG_SECONDS = 5.0


class Hung(BaseException):
    """Raised by the watchdog. A BaseException, so ``except Exception`` in the code under test
    (which turns every error into a finding) cannot swallow it."""


@contextmanager
def watchdog(seconds: float, what: object) -> Iterator[None]:
    """Fail instead of hanging when the block takes longer than ``seconds`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise Hung(what)

    old = signal.signal(signal.SIGALRM, fire)
    # Keep firing every 50 ms: a signal that lands while a finalizer runs is reported as
    # "unraisable" and swallowed, and the loop under test would go on forever.
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def bounded(fn: Callable[[], T], what: object, seconds: float = WATCHDOG_SECONDS) -> T:
    try:
        with watchdog(seconds, what):
            return fn()
    except Hung:
        pytest.fail(f"did not return within {seconds} s for input {what!r}", pytrace=False)


def analyse_bounded(text: str) -> Analysis:
    return bounded(lambda: analyse(text), text)


# -- strategies ---------------------------------------------------------------------------------

SHELL_CHARS = " \t\n'\"$(){}[];|&<>`\\!#~*?=-/.,:@%^+0129abcdefilmnorstx"
SHELL_TOKENS = [
    "rm", "ls", "cat", "id", "sudo", "sh", "bash", "-c", "-rf", "/", "/etc/shadow", "env", "xargs",
    "timeout", "5", "nice", "find", "-exec", "{}", "\\;", "grep", "-e", "x", "'", '"', "$", "(", ")",
    "{", "}", "[", "]", ";", "|", "&", "<", ">", ">>", "2>&1", "&&", "||", "`", "\\", "\n", " ", " ",
    "\t", "$(", "${", "<(", ">(", "<<", "<<<", "!", "#", "~", "*", "?", "=", "X=1", "LC_ALL=C",
    "if", "then", "else", "fi", "for", "in", "do", "done", "while", "case", "esac", "function",
    "$'", '$"', ":", "-", "--", "'a b'", '"a b"', "$x", "${x}", "$((", "))", "((", "\\\n",
]
KNOWN_PROGRAMS = ["ls -la /var/log", "cat /etc/passwd", "grep -rn x /etc", "sudo -n ls", "ps aux"]

any_text = st.text(st.characters(exclude_categories=()), max_size=300)  # incl. surrogates, controls
low_text = st.text(st.characters(max_codepoint=0xFF), max_size=300)  # C0/C1 controls, latin-1
binaryish = st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
shell_chars = st.text(st.sampled_from(SHELL_CHARS), max_size=120)
shell_tokens = st.lists(st.sampled_from(SHELL_TOKENS), max_size=30).map("".join)
spaced_tokens = st.lists(st.sampled_from(SHELL_TOKENS), max_size=20).map(" ".join)
shellish = st.one_of(shell_chars, shell_tokens, spaced_tokens)
everything = st.one_of(any_text, low_text, binaryish, shellish)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# -- (a) analyse never raises -------------------------------------------------------------------


def check_invariants(text: str, a: Analysis) -> None:
    assert isinstance(a, Analysis)
    assert a.source == text
    assert a.ok == (not a.findings)
    for f in a.findings:
        assert isinstance(f.describe(), str) and f.describe()
    if a.ok:
        # Whatever the analyser vouches for is non-empty, in bounds, free of control characters,
        # and every program it names is known exactly.
        assert text.strip()
        assert len(text.encode("utf-8", "surrogatepass")) <= DEFAULT_MAX_LENGTH
        assert not _CONTROL.search(text)
        for cmd in a.commands:
            assert not cmd.argv or cmd.argv[0].literal, (text, cmd.argv)
            assert all(w.argv and w.argv[0].literal for w in cmd.wrappers)


@SETTINGS
@given(any_text)
@example("")
@example("\x00")
@example("\ud800")
@example("(" * 300)
@example("$(" * 300)
def test_analyse_never_raises_on_any_text(text: str) -> None:
    check_invariants(text, analyse_bounded(text))


@SETTINGS
@given(st.one_of(low_text, binaryish))
def test_analyse_never_raises_on_binaryish_text(text: str) -> None:
    check_invariants(text, analyse_bounded(text))


@SETTINGS
@given(shellish)
@example("ls() { rm -rf /; }")
@example("sh -c")
@example("! ;")
@example("cat <<EOF\n$(id)\nEOF\n")
@example("echo ${x:-$(id)}")
@example("((ls))")
def test_analyse_never_raises_on_shellish_text(text: str) -> None:
    check_invariants(text, analyse_bounded(text))


@SETTINGS
@given(shellish)
def test_analyse_is_deterministic(text: str) -> None:
    first = analyse_bounded(text)
    assert analyse(text) == first
    assert analyse(text, DEFAULT_MAX_LENGTH + 1) == first  # a different cache entry, same result


@settings(SETTINGS, max_examples=max(EXAMPLES // 4, 10))
@given(st.text(st.sampled_from(SHELL_CHARS), min_size=1, max_size=200), st.integers(1, 64))
def test_custom_caps_never_make_a_finding_disappear(text: str, max_length: int) -> None:
    default = analyse_bounded(text)
    capped = bounded(lambda: analyse(text, max_length=max_length, max_depth=4), text)
    if not default.ok:
        assert not capped.ok


def _returns_within(text: str, seconds: float) -> Analysis:
    try:
        with watchdog(seconds, text):
            return analyse(text)
    except Hung:
        raise AssertionError(f"analyse({text!r}) did not return within {seconds} s") from None


@pytest.mark.parametrize("text", ["echo '${x'y", "grep -n '${'foo f", "x='${'y", "ls > '${'x", "echo '${'\"\""])
def test_the_bashlex_hang_family_that_is_refused_before_parsing(text: str) -> None:
    a = _returns_within(text, 2.0)
    assert not a.ok
    assert any("${" in f.describe() for f in a.findings), a.findings


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # watchdog in a gc callback
@pytest.mark.parametrize("text", ["echo x'${'", "echo $'${'", "echo a'${x'", "echo ~`\\#${`", "echo $'${a' }"])
def test_bashlex_hang_is_bounded(text: str) -> None:
    # Unclosed '${' not at the start of its word, in $'...', in backticks, with a '}' in a later
    # word: each of these once looped bashlex forever.
    a = _returns_within(text, 2.0)
    assert not a.ok


# -- (b) the engine, under the shipped policy ---------------------------------------------------


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(str(POLICY_PATH))


def decide(policy: Policy, command: str, tool: str = "executeCommand", **extra: Any) -> Verdict:
    call = ToolCall(tool, {"connectionId": "c", "command": command, **extra})
    return bounded(lambda: evaluate(policy, call), command)


def assert_sound(policy: Policy, text: str) -> Verdict:
    a = analyse_bounded(text)
    v = decide(policy, text)
    assert isinstance(v, Verdict)
    assert not [h for h in v.hits if h.rule == "engine.error"], (text, v.to_json())
    if not a.ok:
        assert v.decision == Decision.DENY, (text, [f.describe() for f in a.findings], v.to_json())
        # The deny names the analyser's reason, so the agent can see what to change.
        assert any(h.rule.startswith("analysis.") for h in v.deciding), v.to_json()
    if v.decision == Decision.ALLOW:
        assert a.ok
    return v


@SETTINGS
@given(everything)
def test_evaluate_never_raises_and_findings_always_deny(policy: Policy, text: str) -> None:
    assert_sound(policy, text)


@SETTINGS
@given(st.sampled_from(KNOWN_PROGRAMS), shellish)
def test_allowed_prefix_plus_noise_is_sound(policy: Policy, prefix: str, noise: str) -> None:
    assert_sound(policy, prefix + noise)
    assert_sound(policy, noise + prefix)


@pytest.mark.parametrize(
    "command",
    ["", "ls\x00", "echo $((1))", "echo $'x'", "ls() { ls; }", "$x", "sudo -Z ls", "cat <<EOF\nx\nEOF\n", "! ;"],
)
def test_every_finding_denies_through_the_engine(policy: Policy, command: str) -> None:
    v = decide(policy, command)
    assert v.decision == Decision.DENY
    assert any(h.rule.startswith("analysis.") for h in v.deciding)


@pytest.mark.parametrize(
    "command",
    [
        "cat /etc/shadow{},}",  # bash: cat /etc/shadow} /etc/shadow
        "cat /etc/{},shadow}",  # bash: cat /etc/} /etc/shadow
        "cat /etc/gshadow{},}",
        "cat /tmp/{x/../../etc/{shadow,y}",  # an unmatched `{` before a list that bash expands
        "head -n1 /etc/shado{w,}",
    ],
)
def test_brace_tricks_cannot_read_a_protected_file(policy: Policy, command: str) -> None:
    assert decide(policy, command).decision == Decision.DENY


def test_arithmetic_command_exploit_is_denied(policy: Policy) -> None:
    # bash evaluates TZ's value as arithmetic and runs the $(...) in it; as subshells it read `ls`.
    assert decide(policy, "TZ=a[\\$\\(touch\\ /tmp/pwned\\)]; (( ls + TZ ))").decision == Decision.DENY


# -- (c) mutations of the shared corpus ---------------------------------------------------------


def _corpus_allowed() -> list[dict[str, Any]]:
    if not CORPUS_PATH.is_file():
        return []
    out = []
    for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        case = json.loads(line)
        if case.get("expect") == "allow" and isinstance(case.get("arguments", {}).get("command"), str):
            out.append(case)
    return out


CORPUS = _corpus_allowed()
needs_corpus = pytest.mark.skipif(not CORPUS, reason=f"shared corpus not found at {CORPUS_PATH}")


def corpus_call(policy: Policy, case: dict[str, Any], command: str) -> Verdict:
    call = ToolCall(case["tool"], {**case["arguments"], "command": command})
    return bounded(lambda: evaluate(policy, call), command)


def quote_state(text: str, pos: int) -> str:
    """What ``text[pos]`` stands in: 'single', 'double', 'escaped', 'comment' or 'plain'."""
    state, escaped, word_start = "plain", False, True
    for ch in text[:pos]:
        if state == "comment":
            continue
        if escaped:
            escaped, word_start = False, False
            continue
        if state == "single":
            state = "plain" if ch == "'" else state
        elif state == "double":
            if ch == "\\":
                escaped = True
            elif ch == '"':
                state = "plain"
        elif ch == "\\":
            escaped = True
        elif ch in "'\"":
            state = "single" if ch == "'" else "double"
        elif ch == "#" and word_start:
            state = "comment"
        word_start = ch in " \t\n;|&()<>"
    return "escaped" if escaped else state


@needs_corpus
def test_the_corpus_is_allowed_before_mutation(policy: Policy) -> None:
    # Not the point of this file, but the mutation tests below mean little if the originals
    # are denied anyway.
    allowed = [c for c in CORPUS if corpus_call(policy, c, c["arguments"]["command"]).decision == Decision.ALLOW]
    assert len(allowed) >= 0.9 * len(CORPUS)


APPENDED = [
    " ; rm -rf /srv", ";rm -rf /srv", "\nrm -rf /srv", " && rm -rf /srv", " || rm -rf /srv", " | sh", " & rm -rf /srv",
    " $(rm -rf /srv)", " `rm -rf /srv`", " > /etc/x",
]


@needs_corpus
@pytest.mark.parametrize("payload", APPENDED)
def test_a_payload_appended_to_an_allowed_command_is_denied(policy: Policy, payload: str) -> None:
    for case in CORPUS:
        command = case["arguments"]["command"]
        if quote_state(command, len(command)) != "plain":
            continue  # e.g. a trailing comment would swallow the payload
        mutated = command + payload
        v = corpus_call(policy, case, mutated)
        assert v.decision == Decision.DENY, f"{mutated!r} was {v.decision.value}: {v.to_json()}"


INSERTED = [";rm -rf /", "$(id)", "`id`", "|sh", "&", ">/etc/x"]


def _harmless(command: str, pos: int, payload: str) -> bool:
    """Insertions that are legitimately still the same command."""
    state = quote_state(command, pos)
    if state in ("single", "escaped", "comment"):
        return True  # literal text, or not shell at all
    if state == "double" and payload not in ("$(id)", "`id`"):
        return True  # only substitutions are live inside double quotes
    if payload == "&":
        # |& is a pipe of stdout and stderr; >& and &> are redirections of both streams.
        return command[pos - 1 : pos] in ("|", ">") or command[pos : pos + 1] == ">"
    return False


@needs_corpus
@pytest.mark.parametrize("payload", INSERTED)
def test_a_payload_inserted_anywhere_outside_quotes_is_denied(policy: Policy, payload: str) -> None:
    allowed = []
    for case in CORPUS:
        command = case["arguments"]["command"]
        for pos in range(len(command) + 1):
            if _harmless(command, pos, payload):
                continue
            mutated = command[:pos] + payload + command[pos:]
            if corpus_call(policy, case, mutated).decision != Decision.DENY:
                allowed.append(mutated)
    assert not allowed, f"{len(allowed)} mutations allowed, e.g. {allowed[:5]}"


MUTATION_CHARS = list(SHELL_CHARS) + ["\x00", "\r", "\x1b", "\x7f", "é", "\u2028"]


@needs_corpus
@SETTINGS
@given(
    st.sampled_from(CORPUS or [{}]),
    st.sampled_from(["insert", "delete", "replace"]),
    st.floats(0, 1),
    st.sampled_from(MUTATION_CHARS),
)
def test_single_character_mutations_are_sound(policy: Policy, case: dict[str, Any], op: str, where: float, char: str) -> None:
    command = case["arguments"]["command"]
    pos = min(int(where * (len(command) + 1)), len(command))
    if op == "insert":
        mutated = command[:pos] + char + command[pos:]
    elif op == "delete":
        mutated = command[:pos] + command[pos + 1 :]
    else:
        mutated = command[:pos] + char + command[pos + 1 :]
    a = analyse_bounded(mutated)
    v = corpus_call(policy, case, mutated)
    assert not [h for h in v.hits if h.rule == "engine.error"], (mutated, v.to_json())
    if not a.ok:
        assert v.decision == Decision.DENY, (mutated, v.to_json())


# -- (d) literal words agree with bash ----------------------------------------------------------

BASH = shutil.which("bash")

# No '/' or '.', so nothing can name a path outside the sandbox folder; letters a-c spell no
# builtin; no '~' (see test_words.py for the tilde-after-'=' bug this would otherwise hit).
WORD_CHARS = "abc012 \t'\"\\${},*?[]=;|&<>()`#-!%^:@+\n"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bash")


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
@settings(SETTINGS, max_examples=max(EXAMPLES * 4 // 5, 10))
@given(st.text(st.sampled_from(WORD_CHARS), min_size=1, max_size=16))
def test_literal_words_are_what_bash_passes(sandbox: Path, words: str) -> None:
    source = "printf '%s\\0' S " + words
    a = analyse_bounded(source)
    assume(a.ok and len(a.commands) == 1 and not a.operators and not a.constructs and not a.substitutions)
    cmd = a.commands[0]
    assume(cmd.name == "printf" and not cmd.redirects and not cmd.assignments and not cmd.wrappers)
    assume(all(w.literal for w in cmd.argv))
    # The analyser says this runs the printf builtin with literal words, so running it is safe;
    # even so: no PATH, an empty HOME and working folder.
    env = {"PATH": "/nonexistent", "HOME": str(sandbox), "LC_ALL": "C"}
    assert BASH is not None
    run = subprocess.run([BASH, "--norc", "--noprofile", "-c", source], cwd=sandbox, env=env, capture_output=True, timeout=10)
    assert run.returncode == 0, (source, run.stderr)
    assert run.stdout.split(b"\0")[:-1] == [w.text.encode("utf-8", "surrogateescape") for w in cmd.argv[2:]], source


# -- (e) every program bash runs is one the analysis names, with the argv it names --------------

FAKE_PROGRAMS = ("pa", "pb", "pc")  # pb exits 1, so && and || take both branches
REAL_WRAPPERS = ("env", "timeout", "nice", "nohup", "stdbuf", "setsid", "find", "xargs", "sh", "bash")
ARGS = [" x", " 'y z'", ' "w"', " $v", " 2>&1", " >f", " <f", " <<<x", " >/dev/null", " --", " -l"]
# Random argument words: no '/' or '.', and letters that spell no program on the fake PATH. No '~'
# either: the tilde-after-'=' bug (xfail in test_words.py) would fail every run that hits it.
ARG_CHARS = "abc01 '\"\\${},*?[]=:@%^+-#!"
SIMPLE_WRAPPED = re.compile(r"p[abc][^;&|\n(){}]*")


def _scripts() -> st.SearchStrategy[str]:
    programs = st.sampled_from(FAKE_PROGRAMS)
    word = st.one_of(st.sampled_from(ARGS), st.text(st.sampled_from(ARG_CHARS), min_size=1, max_size=8).map(lambda w: " " + w))
    simple = st.builds(lambda p, a: p + "".join(a), programs, st.lists(word, max_size=3))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        # The analyser refuses a newline inside a substitution (see test_structure.py): keep
        # substitution bodies newline-free so that these examples get run, not skipped.
        body = inner.filter(lambda a: "\n" not in a)
        return st.one_of(
            st.builds(lambda a, op, b: a + op + b, inner, st.sampled_from([" ; ", " && ", " || ", " | ", " & ", "\n", " |& "]), inner),
            inner.map(lambda a: f"( {a} )"),
            inner.map(lambda a: f"{{ {a}; }}"),
            st.builds(lambda a, b: f"if {a}; then {b}; fi", inner, inner),
            st.builds(lambda a, b, c: f"if {a}; then {b}; else {c}; fi", inner, inner, inner),
            inner.map(lambda a: f"for v in 1 2; do {a}; done"),
            inner.map(lambda a: f"while pb; do {a}; done"),
            inner.map(lambda a: f"! {a}"),
            st.builds(lambda p, a: f"{p} $({a})", programs, body),
            st.builds(lambda p, a: f'{p} "$({a})"', programs, body),
            st.builds(lambda p, a: f"{p} <({a})", programs, body),
            st.builds(lambda p, a: f"{p} > >({a})", programs, body),
            body.filter(lambda a: "`" not in a and "\\" not in a).map(lambda a: f"pa `{a}`"),
            body.map(lambda a: f"v=$({a})"),
            body.map(lambda a: f"pa >$({a})"),
            st.builds(
                lambda w, a: f"{w} {a}",
                st.sampled_from(["env", "env V=1", "timeout 5", "nice -n 1", "nohup", "stdbuf -oL", "setsid -w"]),
                inner.filter(lambda a: SIMPLE_WRAPPED.fullmatch(a) is not None),
            ),
            inner.filter(lambda a: "'" not in a).map(lambda a: f"sh -c '{a}'"),
            inner.filter(lambda a: "'" not in a).map(lambda a: f"bash -c '{a}'"),
            programs.map(lambda p: f"find . -name f -exec {p} {{}} \\;"),
            programs.map(lambda p: f"pa | xargs {p}"),
        )

    return st.recursive(simple, extend, max_leaves=6)


@pytest.fixture(scope="module")
def fake_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PATH holding only fakes that log their argv, and the real wrappers (no sudo, no rm)."""
    folder = tmp_path_factory.mktemp("bin")
    for name in FAKE_PROGRAMS:
        script = folder / name
        # One file per run: concurrent runs in a pipeline must not interleave their records.
        script.write_text(
            f"#!{BASH}\nprintf '%s\\0' \"${{0##*/}}\" \"$@\" > \"$LOG/$$.$RANDOM\"\n"
            f"exit {1 if name == 'pb' else 0}\n"
        )
        script.chmod(0o755)
    for name in REAL_WRAPPERS:
        real = shutil.which(name)
        if real:
            (folder / name).symlink_to(real)
    return folder


def _runs(log: Path) -> list[tuple[str, ...]]:
    return [tuple(f.read_bytes().decode("utf-8", "surrogateescape").split("\0")[:-1]) for f in log.iterdir()]


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
@settings(SETTINGS, max_examples=max(EXAMPLES // 2, 10))
@given(_scripts())
@example("pa x; pb 'y z' || pc")
@example("env V=1 pa x | sh -c 'pb; pc -l'")
def test_every_program_bash_runs_is_in_the_analysis(fake_bin: Path, tmp_path_factory: pytest.TempPathFactory, script: str) -> None:
    a = analyse_bounded(script)
    assume(a.ok)
    work = tmp_path_factory.mktemp("run")
    (work / "f").write_text("")
    log = work / "log"
    log.mkdir()
    env = {"PATH": str(fake_bin), "HOME": "/nonexistent", "LC_ALL": "C", "LOG": str(log)}
    assert BASH is not None
    try:
        subprocess.run(
            [BASH, "--norc", "--noprofile", "-c", script],
            cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=10, start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        pass
    by_name: dict[str, list[tuple[str, ...]]] = {}
    vague: set[str] = set()
    for cmd in a.commands:
        if cmd.argv:
            name = cmd.name.rsplit("/", 1)[-1]
            by_name.setdefault(name, []).append(tuple(w.text for w in cmd.argv[1:]))
            if not all(w.literal for w in cmd.argv) or cmd.extra_args or "find-exec" in cmd.context:
                vague.add(name)
    for run in _runs(log):
        name, args = run[0], run[1:]
        assert name in by_name, f"bash ran {name} {args}, which the analysis of {script!r} does not name"
        if name not in vague:
            assert args in by_name[name], f"bash ran {name} {args}; the analysis of {script!r} says {by_name[name]}"


def test_the_watchdog_interrupts_a_busy_loop() -> None:
    with pytest.raises(Hung):
        with watchdog(0.05, "loop"):
            while True:
                pass
