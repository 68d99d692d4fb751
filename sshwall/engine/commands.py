"""Checking an ``Analysis`` against a ``CommandSet``: every command, argument and redirect.

Pure functions: the same analysis and command set always give the same hits.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sshwall.analysis import Analysis, Redirect, SimpleCommand, Word, expand_braces
from sshwall.engine.argspec import Endless, Use, check_value, parse_args
from sshwall.engine.commandset import compiled
from sshwall.engine.formats import check_format
from sshwall.engine.globwitness import fallback, intersect
from sshwall.engine.paths import ANY, Segments, covered, is_literal, is_literal_path, normalise, overlap
from sshwall.engine.sedawk import check_awk, check_sed
from sshwall.engine.verdict import Hit
from sshwall.engine.workdir import UNKNOWN_PLACES, Places
from sshwall.policy.base import Decision
from sshwall.policy.commandsets import CommandSet, ProgramSpec, ValueRule

_OPERATOR_WORDS = {
    "pipe": "pipe `|`",
    "and": "`&&`",
    "or": "`||`",
    "sequence": "`;` or newline",
    "background": "background `&`",
}
_URL_RULE = ValueRule(kind="url")
_UNKNOWN_FOLDER = "\\?unknown-folder"  # a literal segment no protected pattern names
SCHEDULED_ENDLESS = (
    "scheduled work must end on its own: the upstream starts a run every interval without waiting "
    "for the previous one and its stop does not end a run in progress, so such runs pile up on the host"
)


# Glob paths per command that are searched exactly against the protected catalogue; more deny.
MAX_GLOB_SEARCHES = 32


class _Checker:
    """Collects hits for one analysis under one command set."""

    def __init__(self, name: str, cs: CommandSet, base: Places | Segments | None, scheduled: bool = False) -> None:
        self.name = name
        self.cs = cs
        self.places = base if isinstance(base, Places) else UNKNOWN_PLACES if base is None else Places((base,))
        self.bases: tuple[Segments | None, ...] = (None,)  # where the command being checked may run
        self.scheduled = scheduled
        self.glob_searches = 0  # glob paths searched exactly against the catalogue (bounded)
        self.hits: list[Hit] = []
        self.compiled = compiled(cs)
        self.protected = self.compiled.protected
        self.exceptions = self.compiled.exceptions
        self.writable = self.compiled.writable

    def deny(self, rule: str, reason: str) -> None:
        self.hits.append(Hit(f"{self.name}.{rule}", Decision.DENY, reason))

    # -- structure ----------------------------------------------------------------------------

    def structure(self, a: Analysis) -> None:
        for f in a.findings:
            self.hits.append(Hit(f"analysis.{f.kind.value}", Decision.DENY, f.describe()))
        for op in sorted(a.operators - self.compiled.operators):
            what = _OPERATOR_WORDS.get(op, f"operator `{op}`")
            self.deny("operators", f"{what} is not allowed by command set {self.name}")
        for construct in sorted(a.constructs - self.compiled.constructs):
            self.deny("constructs", f"shell construct `{construct}` is not allowed by command set {self.name}")
        if self.cs.substitutions == "deny":
            for kind in sorted(a.substitutions - {"parameter"}):
                self.deny("substitutions", f"{kind} substitution is not allowed by command set {self.name}")
        if self.cs.parameters == "deny" and "parameter" in a.substitutions:
            self.deny("parameters", f"parameter expansion (`$NAME`) is not allowed by command set {self.name}")

    # -- one simple command -------------------------------------------------------------------

    def command(self, cmd: SimpleCommand) -> None:
        for name, _value in cmd.assignments:
            if name not in self.cs.assignments:
                self.deny("assignments", f"variable assignment `{name}=` is not allowed by command set {self.name}")
        for r in cmd.redirects:
            self.bases = self.places.bases(r.folder)
            self.redirect(r)
        self.bases = self.places.bases(cmd.folder)
        for wrapper in cmd.wrappers:
            self.program(wrapper.argv, as_wrapper=True, extra=False)
        if cmd.argv:
            self.program(cmd.argv, as_wrapper=False, extra=cmd.extra_args)

    def redirect(self, r: Redirect) -> None:
        target = r.target
        if isinstance(target, int):
            kind, use = "fd-dup", None
        elif target == "-":
            kind, use = "fd-close", None
        elif r.op == "<<<":
            kind, use = "herestring", None
        elif not isinstance(target, Word):
            return  # a here-document: already a finding
        elif target.literal and normalise(target.pattern, None) == ("dev", "null"):
            kind, use = "devnull", None
        elif r.op == "<":
            kind, use = "read", Use("read", target, "input redirect `<`")
        else:
            kind, use = "write", Use("write", target, f"output redirect `{r.op}`")
        if kind not in self.cs.redirects:
            shown = target.text if isinstance(target, Word) else target
            self.deny("redirects", f"redirect `{r.op} {shown}` ({kind}) is not allowed by command set {self.name}")
        elif use is not None:
            problem = self.use(use, "redirects", None)
            if problem and self.counts(problem):
                self.deny("redirects", self.worded(problem))

    def program(self, argv: tuple[Word, ...], as_wrapper: bool, extra: bool) -> None:
        name = self.resolve(argv[0])
        if name is None:
            return
        reason = self.compiled.denied_program(name)
        if reason is not None:
            self.deny("deny_programs", f"`{name}`: {reason}")
            return
        spec = self.cs.programs.get(name)
        if spec is None or (as_wrapper and not spec.wrapper):
            role = "as a wrapper " if as_wrapper and spec is not None else ""
            self.deny("programs", f"program `{name}` is not allowed {role}by command set {self.name}")
            return
        parsed = parse_args(name, spec, argv[1:])
        rule = ".".join(parsed.path)
        final = parsed.spec
        problems = list(parsed.problems)
        bounded = bool(final.bounded_by) and not set(final.bounded_by).isdisjoint(parsed.flags)
        for use in parsed.uses:
            problem = self.use(use, rule, final, bounded)
            if problem:
                problems.append(problem)
        if extra and any(k in ("read", "write", "url", "script") for k in final.operand_kinds):
            problems.append("operands come from stdin through xargs, where sshwall cannot check them")
        problems = [p for p in problems if self.counts(p)]
        for problem in problems:
            self.deny(rule, f"`{' '.join(parsed.path)}`: {self.worded(problem)}")
        if not problems:
            decision = final.decision if final.decision != Decision.ALLOW else spec.decision
            reason = final.reason or spec.reason or (
                f"`{' '.join(parsed.path)}` is allowed by command set {self.name}"
                if decision == Decision.ALLOW
                else f"`{' '.join(parsed.path)}` is {decision.value}ed by command set {self.name}"
            )
            self.hits.append(Hit(f"{self.name}.{rule}", decision, reason))

    def counts(self, problem: str) -> bool:
        """Whether a problem denies: all do, but a command set may accept endless commands
        (``endless: allow``, for calls under a timeout), never in scheduled work."""
        return not isinstance(problem, Endless) or self.scheduled or self.cs.endless == "deny"

    def worded(self, problem: str) -> str:
        """The problem, with why endless commands are refused in scheduled work."""
        return f"{problem}; {SCHEDULED_ENDLESS}" if isinstance(problem, Endless) and self.scheduled else problem

    def resolve(self, word: Word) -> str | None:
        """The program's name; a path must lie in a trusted program folder."""
        text = word.text
        if "/" not in text:
            return text
        segs = normalise(word.pattern, None)
        folder = "/" + "/".join(segs[:-1])
        if not text.startswith("/") or ANY in segs or folder not in self.cs.program_dirs:
            self.deny("program_dirs", f"program path `{text}` is outside the trusted program folders")
            return None
        return segs[-1]

    # -- arguments with meaning ---------------------------------------------------------------

    def use(self, use: Use, rule: str, spec: ProgramSpec | None, bounded: bool = False) -> str | None:
        """Check one argument: the problem with it, or None."""
        if use.rule is not None:
            problem = check_value(use.rule, use.word, use.what)
            if problem:
                return problem
        kind = use.kind
        if kind in ("read", "write"):
            return self.path(use, bounded)
        if kind == "url":
            return check_url(use.rule or _URL_RULE, use.word, use.what)
        if kind == "format":
            return check_format(use.rule.format if use.rule else None, use.word, use.what)
        if kind == "script" and spec is not None:
            if not use.word.literal:
                return f"{use.what} `{use.word.text}` is not a literal script"
            check = check_sed if spec.script == "sed" else check_awk if spec.script == "awk" else None
            return check(use.word.text) if check else f"{use.what} is a script of no known language"
        return None

    def path(self, use: Use, bounded: bool = False) -> str | None:
        word = use.word
        found = self.places.word_pattern(word)
        if found is None:
            return f"{use.what} `{word.text}` comes from an expansion, so its path is unknown"
        pattern, tilde = found
        alts = expand_braces(pattern) if word.brace else (pattern,)
        if alts is None:
            return f"{use.what} `{word.text}` expands to too many paths"
        for base, alt in ((b, a) for b in self.bases for a in alts):
            segs = self.places.resolve(alt, base, tilde)
            if use.kind == "write" and not self.writable_ok(segs):
                return f"{use.what} `{word.text}` writes outside the writable paths"
            if not use.recursive and any(s != ANY and not is_literal(s) for s in segs):
                self.glob_searches += 1
                if self.glob_searches > MAX_GLOB_SEARCHES:
                    # Each glob costs an exact search against the catalogue: bound the work per call.
                    return (f"{use.what} `{word.text}`: more than {MAX_GLOB_SEARCHES} glob paths in one command, "
                            "which sshwall does not reason about (split the command)")
            hit = self.protected_hit(segs, use.recursive)
            if hit:
                verb = "reads from" if use.kind == "read" else "writes to"
                scope = " (recursively)" if use.recursive else ""
                protected, example = hit
                named = f" (the glob can name `{example}`)" if example else ""
                return f"{use.what} `{word.text}` {verb} protected path `{protected}`{scope}{named}"
            if use.kind == "read" and not bounded:
                endless = self.compiled.endless.direct.matches(segs)
                if endless:
                    return Endless(f"{use.what} `{word.text}` reads `{endless[0]}`, which never ends")
        return None

    def protected_hit(self, segs: Segments, recursive: bool) -> tuple[str, str | None] | None:
        """The protected pattern ``segs`` may name, and for a glob a path both can name."""
        if not recursive and any(s != ANY and not is_literal(s) for s in segs):
            return self.glob_hit(segs)
        # Name the pattern that matches without guessing the unknown folder ('~', cwd), if any:
        # with the folder a literal name, that is the fast literal lookup.
        hit = None
        if segs[:1] == (ANY,):
            hit = self.protected.first((_UNKNOWN_FOLDER,) + segs[1:], recursive)
        if hit is None:
            hit = self.protected.first(segs, recursive)
        # Exceptions only matter for a hit (most paths have none, and are not tried against them).
        if hit is None or any(covered(segs, e) for e in self.exceptions.segments.values()):
            return None
        return hit, None

    def glob_hit(self, segs: Segments) -> tuple[str, str | None] | None:
        """A glob operand is a hit only if some path it can name (bash's rules, or its literal
        text when it names nothing) is protected and no exception covers that path; the
        shortest such path is the evidence (``globwitness``)."""
        for form in dict.fromkeys((segs, fallback(segs))):
            # Only exceptions that may share a path with the word can matter.
            exceptions = tuple(e for e in self.exceptions.segments.values() if overlap(form, e))
            for name in self.protected.hits(form, False):
                found = intersect(form, self.protected.segments[name], exceptions)
                if found.hit:
                    return name, found.example
        return None

    def writable_ok(self, segs: Segments) -> bool:
        return is_literal_path(segs) and bool(self.writable.direct.matches(segs))


def check_url(rule: ValueRule, word: Word, what: str) -> str | None:
    """Why ``word`` is not a URL with an allowed scheme and host, or None."""
    if not word.literal:
        return f"{what} `{word.text}` is not a literal URL"
    text = word.text
    if "://" not in text:
        # curl reads a URL without a scheme as http (after guessing from the host's prefix,
        # which only matters for hosts an allowlist would not name anyway).
        text = "http://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return f"{what} `{text}` is not a valid URL"
    if parts.scheme.lower() not in rule.schemes:
        return f"{what} `{text}`: scheme `{parts.scheme}` is not allowed"
    if rule.hosts and host not in rule.hosts:
        return f"{what} `{text}`: host `{host or '(none)'}` is not allowed"
    return None


def check_commands(name: str, cs: CommandSet, analysis: Analysis, base: Places | Segments | None,
                   scheduled: bool = False) -> list[Hit]:
    """Every hit for ``analysis`` under command set ``name``; ``scheduled``: the command is
    repeated by the upstream (backgroundExecute), where commands that never end are denied."""
    checker = _Checker(name, cs, base, scheduled)
    checker.structure(analysis)
    for cmd in analysis.commands:
        checker.command(cmd)
    if not analysis.commands and not analysis.findings:
        checker.deny("programs", "the command runs nothing sshwall can check")
    return checker.hits
