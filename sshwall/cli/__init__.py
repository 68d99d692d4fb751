"""The ``sshwall`` command line: check | test | serve | backend | audit | verify | approvals | replay
| demo.

One layer on top of the others: ``sshwall.cli.parser`` holds every option, and each subcommand
is a module here with a ``run(args, out, err) -> int``, imported only when that subcommand runs
(``sshwall check`` never loads the gateway's transports, the MCP SDK, paramiko or redis).

Exit codes of ``check``: 0 allow, 1 deny, 3 prompt, 2 bad usage or bad policy. Every
subcommand exits 2 on bad usage.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import TextIO

from sshwall.errors import PolicyError, SshwallError, UsageError

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``sshwall ARGV...`` (default: the process's arguments); returns the exit code."""
    from sshwall.cli.parser import COMMANDS, build_parser

    out, err = out or sys.stdout, err or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = argv[0] if argv and argv[0] in COMMANDS else None
    try:
        args = build_parser(selected).parse_args(argv)
    except UsageError as usage:
        print(usage, file=err)
        return EXIT_USAGE
    except SystemExit as done:  # --help
        return int(done.code or 0)
    command = COMMANDS[args.cmd]
    try:
        return int(importlib.import_module(command.module).run(args, out, err))
    except (PolicyError, UsageError, OSError) as bad:
        print(f"{command.label}: {bad}", file=err)
        return EXIT_USAGE
    except SshwallError as failed:
        print(f"{command.label}: {failed}", file=err)
        return command.failure_exit
