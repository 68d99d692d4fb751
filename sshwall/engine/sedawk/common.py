"""What the sed and awk checkers share: the error for a program that cannot be read exactly."""

from __future__ import annotations


class _Unreadable(Exception):
    """The program cannot be read the way its interpreter reads it."""


class _Infeasible(_Unreadable):
    """This reading is a syntax error for every interpreter that would take it: it runs nothing."""


def _plain_ascii(text: str, what: str) -> None:
    """Refuse characters whose meaning depends on the remote locale or terminal."""
    for ch in text:
        if not (" " <= ch <= "~" or ch in "\t\n"):
            raise _Unreadable(f"{what} holds the character {ch!r}, which sshwall does not read")
