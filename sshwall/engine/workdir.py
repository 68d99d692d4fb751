"""The working folder and the home of one call: where relative paths, ``~`` and ``$HOME`` lead.

Without anything known (``sshwall check`` without ``--cwd``/``--home``, a call on a connection
sshwall never saw), a relative path may sit under any folder and ``~`` is any home: the strict
reading of ``sshwall.engine.paths``. With a ``Workdir`` (the connection's current folder and the
user's home, which the gateway reads from the upstream's replies), a command starts in:

- the tool's own folder argument (``cwd``), and also the connection's folder: Mcp Ssh runs
  ``cd DIR >/dev/null 2>&1; COMMAND`` (node-ssh), so where DIR does not exist the command runs
  where the connection is;
- else the connection's folder.

Inside the command, ``cd`` moves it (``sshwall.analysis.folders`` follows the script's control
flow); a relative path is then resolved against every folder the command may run in, and the
strictest answer wins. Pure: the gateway passes what it knows; nothing is looked up here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from sshwall.analysis import Analysis, Word
from sshwall.analysis.model import Folder
from sshwall.engine.paths import Segments, escape, is_literal_path, normalise

# A script that names HOME or CDPATH other than by reading `$HOME` may assign or unset them
# (`HOME=/etc`, `unset HOME`, `read HOME`, `for HOME in ...`), and `shopt -s cdable_vars` makes
# `cd NAME` go to `$NAME`: then nothing is taken as known.
_HOME_READ = re.compile(r"\$HOME(?![A-Za-z0-9_])|\$\{HOME\}")
_UNSETTLING = ("HOME", "CDPATH", "cdable_vars")


@dataclass(frozen=True, slots=True)
class Workdir:
    """What is known of where a call's command runs.

    ``cwd`` is the connection's current folder (where the upstream runs a command given no
    folder of its own), ``home`` the user's home folder (``~``, ``$HOME``, ``cd`` alone). Each
    is an absolute path, or None when unknown.
    """

    cwd: str | None = None
    home: str | None = None


def _plain_folder(text: object) -> Segments | None:
    """An absolute folder as literal segments; None for anything else (relative, ``..``, empty)."""
    if not isinstance(text, str) or not text.startswith("/") or "\x00" in text or "\n" in text:
        return None
    if "/../" in text + "/" or "/./" in text + "/":
        return None
    segs = normalise(escape(text), None)
    return segs if is_literal_path(segs) else None


@dataclass(frozen=True)
class Places:
    """Where one command string may start, and the home, to resolve its paths against.

    ``starts`` holds every folder the command may start in (None: unknown, anywhere).
    """

    starts: tuple[Segments | None, ...] = (None,)
    home: Segments | None = None
    _home_text: str | None = field(default=None, repr=False)

    def bases(self, folder: Folder) -> tuple[Segments | None, ...]:
        """Every folder a command with this ``folder`` (relative to the start) may run in."""
        return _bases(self, folder)

    def word_pattern(self, word: Word) -> tuple[str, bool] | None:
        """``word``'s path pattern with a known home put in for ``~`` / ``$HOME``, and whether
        a leading ``~`` is still live; None when the word's value is not known."""
        if word.dynamic:
            if not word.home or self._home_text is None:
                return None
            return escape(self._home_text) + word.pattern[1:], False
        pattern = word.pattern
        if word.tilde and self._home_text is not None and (pattern == "~" or pattern.startswith("~/")):
            return escape(self._home_text) + pattern[1:], False
        return pattern, word.tilde

    def resolve(self, pattern: str, base: Segments | None, tilde: bool) -> Segments:
        """Every path ``pattern`` may name from ``base``.

        A relative path whose first name holds a ``~`` sshwall did not read as a tilde may
        still be one: bash expands it after ``=`` and ``:`` in words that look like assignments
        (``dd if=~/.ssh/id_rsa``, ``x=a:~/b``). Such a first name is read as any folder.
        """
        if not tilde and not pattern.startswith("/") and "~" in pattern.split("/", 1)[0]:
            rest = pattern.split("/", 1)[1] if "/" in pattern else ""
            return normalise("~/" + rest, None, tilde=True)
        return normalise(pattern, base, tilde=tilde)


UNKNOWN_PLACES = Places()


def places_for(workdir: Workdir | None, given_cwd: object, analysis: Analysis) -> Places:
    """Where the command of one call may start, from what is known and the call's own ``cwd``."""
    if workdir is None or (workdir.cwd is None and workdir.home is None):
        return UNKNOWN_PLACES
    unquoted = _HOME_READ.sub("", analysis.source)
    if any(word in unquoted for word in _UNSETTLING):
        return UNKNOWN_PLACES
    conn = _plain_folder(workdir.cwd)
    home = _plain_folder(workdir.home)
    if isinstance(given_cwd, str) and given_cwd:
        # JavaScript's `options?.cwd`: an empty string is no folder. A relative one is read by
        # `cd` from the connection's folder (or CDPATH): not followed.
        own = _plain_folder(given_cwd)
        starts: tuple[Segments | None, ...] = tuple(dict.fromkeys((own, conn))) if own is not None else (None,)
    else:
        starts = (conn,)
    home_text = "/" + "/".join(home) if home is not None else None
    return Places(starts, home, home_text if home_text is None or _quiet(home_text) else None)


def _quiet(text: str) -> bool:
    """True when bash's word splitting and globbing leave ``text`` as it is (an unquoted $HOME)."""
    return not any(c in text for c in " \t\n*?[\\")


@lru_cache(maxsize=4096)
def _bases(places: Places, folder: Folder) -> tuple[Segments | None, ...]:
    if not folder.known:
        return (None,)
    out: list[Segments | None] = []
    for start in places.starts:
        for steps in folder.paths:
            out.append(_walk(places, start, steps))
    return tuple(dict.fromkeys(out))


def _walk(places: Places, start: Segments | None, steps: tuple[Word | None, ...]) -> Segments | None:
    """The folder after ``cd`` to each step in turn (a step that cannot be read: unknown)."""
    cur = start
    for step in steps:
        if step is None:
            cur = places.home
            continue
        found = places.word_pattern(step)
        if found is None or step.brace:
            cur = None
            continue
        pattern, tilde = found
        segs = places.resolve(pattern, cur, tilde)
        cur = segs
    return cur


__all__ = ["UNKNOWN_PLACES", "Places", "Workdir", "places_for"]
