"""``python -m sshwall.backend``: the same as ``sshwall backend``."""

from __future__ import annotations

import sys

from sshwall.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["backend", *sys.argv[1:]]))
