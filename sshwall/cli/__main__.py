"""``python -m sshwall.cli``: the same as the ``sshwall`` command."""

from __future__ import annotations

from sshwall.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
