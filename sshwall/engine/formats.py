"""Format strings whose directives can do more than shape output.

Most formats only shape what a program prints (``date +%F``, ``ps -o pid``, ``stat -c %s``)
and are opaque to sshwall. curl's ``--write-out`` is not: ``@FILE`` reads a file into the
output and, since curl 8.3, ``%output{FILE}`` writes one. Its directives are read with an
allowlist, so a directive a newer curl adds is refused until it is known.
"""

from __future__ import annotations

import re

from sshwall.analysis import Word

# curl 8.x write-out: %{variable}, %header{name}, %time{strftime} (8.16), %% and \-escapes.
_CURL_DIRECTIVE = re.compile(r"%(?:%|\{[A-Za-z0-9_.]+\}|header\{[^}]*\}|time\{[^}]*\})")


def check_curl_write_out(word: Word, what: str) -> str | None:
    """Why ``word`` is not a curl write-out format that only prints, or None."""
    if not word.literal:
        return f"{what} `{word.text}` is not a literal format"
    text = word.text
    if text.startswith("@"):
        return f"{what} `{text}` reads the format from a file"
    rest = _CURL_DIRECTIVE.sub("", text)
    if "%" in rest:
        at = rest.index("%")
        return f"{what}: directive `{rest[at:at + 12]}` is not a known read-only curl write-out directive"
    return None


def check_format(language: str | None, word: Word, what: str) -> str | None:
    """Check a format value in ``language`` (None: a format that only shapes output)."""
    if language == "curl":
        return check_curl_write_out(word, what)
    return None
