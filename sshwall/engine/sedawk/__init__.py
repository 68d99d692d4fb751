"""Checks for the little languages inside arguments: sed scripts and awk programs.

Both checkers (``sedawk.sed``, ``sedawk.awk``; what they share is in ``sedawk.common``) read a
program the way the real interpreter does and refuse what they cannot read exactly:

* sed: a port of the command parser of GNU sed 4.9 (``compile.c``: ``compile_program``,
  ``compile_address``, ``match_slash`` with its bracket rule, ``mark_subst_opts``,
  ``read_label``, ``read_text``). A script may only print, select or transform the stream:
  ``w``/``W``/``r``/``R``/``e`` and the ``s`` flags ``e``/``w`` are refused (``w /dev/stdout``
  and ``/dev/stderr`` excepted: GNU sed never opens those).
* awk: a lexer over the readings of both mawk 1.3.4 and gawk 5.2 (their ``scan.c`` and
  ``awkgram.y``). Where the two tell a regex ``/.../`` from a division differently, every
  reading is checked. A program may not run commands (``system``, pipes), read other files
  (``getline``, writes to ``ARGV``/``ARGC``, ``@include``), print the environment
  (``ENVIRON``) nor redirect output to files.

Anything outside printable ASCII is refused: in a multibyte locale of the remote host (Shift
JIS, GB18030, ...) a byte of a character may read as ``\\`` or ``/`` and change the parse.
"""

from __future__ import annotations

from sshwall.engine.sedawk.awk import check_awk
from sshwall.engine.sedawk.sed import check_sed

__all__ = ["check_awk", "check_sed"]
