"""The sed checker: a port of the command parser of GNU sed 4.9 (``compile.c``).

``compile_program``, ``compile_address``, ``match_slash`` with its bracket rule,
``mark_subst_opts``, ``read_label`` and ``read_text`` are followed closely. A script may only
print, select or transform the stream: ``w``/``W``/``r``/``R``/``e`` and the ``s`` flags
``e``/``w`` are refused (``w /dev/stdout`` and ``/dev/stderr`` excepted: GNU sed never opens
those).
"""

from __future__ import annotations

from sshwall.engine.sedawk.common import _plain_ascii, _Unreadable

# Names GNU sed 4.9 writes to itself instead of opening (POSIXLY_EXTENDED, the default).
_SED_SPECIAL_OUT = frozenset({"/dev/stdout", "/dev/stderr"})
_SED_SIMPLE = frozenset("=dDFgGhHnNpPzx")


class _SedDenied(Exception):
    """A command that does more than print or transform."""


class _SedReader:
    """The character source of GNU sed's compiler: ``inchar``/``savchar`` on one string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def inchar(self) -> str | None:
        if self.i < len(self.text):
            self.i += 1
            return self.text[self.i - 1]
        return None

    def savchar(self, ch: str | None) -> None:
        if ch is not None:
            self.i -= 1

    def in_nonblank(self) -> str | None:
        ch = self.inchar()
        while ch in (" ", "\t"):
            ch = self.inchar()
        return ch

    def in_integer(self, ch: str | None) -> None:
        while ch is not None and ch.isdigit():
            ch = self.inchar()
        self.savchar(ch)

    def end_of_cmd(self) -> None:
        ch = self.in_nonblank()
        if ch in ("}", "#"):
            self.savchar(ch)
        elif ch not in (None, "\n", ";"):
            raise _Unreadable("extra characters after command")

    def label(self) -> str:
        ch = self.in_nonblank()
        start = self.i - 1 if ch is not None else self.i
        while ch is not None and ch not in "\n \t;}#":
            ch = self.inchar()
        self.savchar(ch)
        return self.text[start : self.i]

    def filename(self) -> str:
        ch = self.in_nonblank()
        out: list[str] = []
        while ch is not None and ch != "\n":
            out.append(ch)
            ch = self.inchar()
        return "".join(out)

    def char_class(self) -> str | None:
        """``snarf_char_class``: skip a bracket expression; the character that ended it."""
        ch = self.inchar()
        if ch == "^":
            ch = self.inchar()
        if ch == "]":
            ch = self.inchar()
        state, delim = 0, ""
        while True:
            if ch is None or ch == "\n":
                return ch
            if ch in ".:=":
                if state == 1:
                    delim, state = ch, 2
                    ch = self.inchar()
                    continue
                if state == 2 and ch == delim:
                    state = 3
                    ch = self.inchar()
                    continue
            elif ch == "[":
                if state == 0:
                    state = 1
                ch = self.inchar()
                continue
            elif ch == "]":
                if state in (0, 1):
                    return ch
                if state == 3:
                    state = 0
            state &= ~1
            ch = self.inchar()

    def match_slash(self, slash: str | None, regex: bool) -> None:
        """Skip a regex or replacement up to the unescaped ``slash`` (brackets hide it)."""
        while True:
            ch = self.inchar()
            if ch is None or ch == "\n":
                break
            if ch == slash:
                return
            if ch == "\\":
                if self.inchar() is None:
                    break
            elif ch == "[" and regex and self.char_class() != "]":
                break
        raise _Unreadable("unterminated regular expression or replacement")

    def address(self, ch: str | None) -> bool:
        """``compile_address``: skip one address starting with ``ch``; False if none."""
        if ch in ("/", "\\"):
            if ch == "\\":
                ch = self.inchar()
            self.match_slash(ch, True)
            ch = self.in_nonblank()
            while ch in ("I", "M"):
                ch = self.in_nonblank()
            self.savchar(ch)
            return True
        if ch is not None and ch.isdigit():
            self.in_integer(ch)
            ch = self.in_nonblank()
            if ch == "~":
                self.in_integer(self.in_nonblank())
            else:
                self.savchar(ch)
            return True
        if ch in ("+", "~"):
            self.in_integer(self.in_nonblank())
            return True
        return ch == "$"


def _sed_output(name: str, what: str) -> None:
    if name not in _SED_SPECIAL_OUT:
        raise _SedDenied(f"{what} writes a file")


def _sed_program(r: _SedReader) -> None:
    """``compile_program``: raise at the first command that is not print-only."""
    while True:
        ch = r.inchar()
        while ch is not None and ch in "; \t\n":
            ch = r.inchar()
        if ch is None:
            return
        addressed = r.address(ch)
        if addressed:
            if ch in "+~":
                raise _Unreadable("a step address cannot come first")
            ch = r.in_nonblank()
            if ch == ",":
                if not r.address(r.in_nonblank()):
                    raise _Unreadable("unexpected `,`")
                ch = r.in_nonblank()
        if ch == "!":
            ch = r.in_nonblank()
            if ch == "!":
                raise _Unreadable("multiple `!`s")
        if ch is None:
            raise _Unreadable("missing command")
        if ch == "#":
            if addressed:
                raise _Unreadable("comments don't accept any addresses")
            while ch is not None and ch != "\n":
                ch = r.inchar()
        elif ch == "v":
            raise _Unreadable("`v` is not needed by a read-only script")
        elif ch == "{":
            pass
        elif ch == "}":
            if addressed:
                raise _Unreadable("`}` doesn't want any addresses")
            r.end_of_cmd()
        elif ch in "aic":
            _sed_text(r)
        elif ch == ":":
            if addressed or not r.label():
                raise _Unreadable("bad `:` label")
        elif ch in "btT":
            r.label()
        elif ch in "qQlL":
            nxt = r.in_nonblank()
            if nxt is not None and nxt.isdigit():
                r.in_integer(nxt)
            else:
                r.savchar(nxt)
            r.end_of_cmd()
        elif ch in _SED_SIMPLE:
            r.end_of_cmd()
        elif ch == "e":
            raise _SedDenied("sed command `e` runs a command")
        elif ch in "rR":
            raise _SedDenied(f"sed command `{ch}` reads a file")
        elif ch in "wW":
            _sed_output(r.filename(), f"sed command `{ch}`")
        elif ch == "s":
            slash = _sed_delimiter(r)
            r.match_slash(slash, True)
            r.match_slash(slash, False)
            _sed_subst_flags(r)
        elif ch == "y":
            slash = _sed_delimiter(r)
            r.match_slash(slash, False)
            r.match_slash(slash, False)
            r.end_of_cmd()
        else:
            raise _Unreadable(f"unknown command `{ch}`")


def _sed_delimiter(r: _SedReader) -> str:
    """The delimiter of ``s``/``y``; a backslash or newline one is refused as too strange."""
    slash = r.inchar()
    if slash is None or slash in "\\\n":
        raise _Unreadable("`s` or `y` without a usable delimiter")
    return slash


def _sed_text(r: _SedReader) -> None:
    """``a``/``i``/``c`` text (``read_text``): one line, continued by a backslash at its end.

    ``a text`` starts at its first non-blank, ``a\\`` on the next line, ``a\\text`` after the
    backslash; the character after that backslash is never an escape.
    """
    ch = r.in_nonblank()
    if ch is None:
        raise _Unreadable("expected \\ after `a`, `c` or `i`")
    if ch == "\\":
        if r.inchar() is None:
            return  # the text continues in the next -e expression: still only text
    else:
        r.savchar(ch)
    ch = r.inchar()
    while ch is not None and ch != "\n":
        if ch == "\\":
            ch = r.inchar()
        if ch is None:
            return
        ch = r.inchar()


def _sed_subst_flags(r: _SedReader) -> None:
    """``mark_subst_opts``: blanks may sit between flags; ``w`` takes the rest of the line."""
    while True:
        ch = r.in_nonblank()
        if ch is None or ch in "\n;":
            return
        if ch in "}#":
            r.savchar(ch)
            return
        if ch == "e":
            raise _SedDenied("sed `s` flag `e` runs the pattern space as a command")
        if ch == "w":
            _sed_output(r.filename(), "sed `s` flag `w`")
            return
        if ch.isdigit():
            r.in_integer(ch)
        elif ch not in "iImMpg":
            raise _Unreadable(f"unknown option to `s`: `{ch}`")


def check_sed(script: str) -> str | None:
    """Why ``script`` is not a print-only sed script, or None.

    Each ``-e`` expression may be checked on its own: GNU sed compiles them one after the
    other, and the only state carried from one into the next (an unfinished ``a``/``i``/``c``
    text, an open ``{``) makes the next one text or keeps its commands what they were.
    """
    try:
        _plain_ascii(script, "sed script")
        _sed_program(_SedReader(script))
    except _SedDenied as err:
        return str(err)
    except _Unreadable as err:
        return f"sed script cannot be checked: {err}"
    return None
