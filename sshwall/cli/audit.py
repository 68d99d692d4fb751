"""``sshwall audit verify FILE... [--series] [--head]`` and ``sshwall audit tail FILE [-n N] [--follow]``.

Exit codes: 0 the chain is intact (or the tail was shown), 1 the chain is broken, 2 bad usage or
a file that cannot be read.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from sshwall.audit.chain import verify_series
from sshwall.audit.series import rotated_series
from sshwall.audit.tail import follow, tail
from sshwall.errors import AuditError, UsageError

EXIT_OK, EXIT_BROKEN, EXIT_USAGE = 0, 1, 2


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Verify or tail the log; 0 ok, 1 broken chain, 2 unreadable (bad usage raises UsageError)."""
    try:
        if args.action == "verify":
            files: list[Path] = list(args.file)
            if args.series:
                if len(files) != 1:
                    raise UsageError("--series takes one FILE, the current log")
                files = rotated_series(files[0])
                if len(files) > 1:
                    print("checking " + " ".join(str(f) for f in files), file=err)
            report = verify_series(files)
            print(report, file=out)
            if args.head and report.head:
                print(f"head: {report.head}", file=out)
            return EXIT_OK if report.ok else EXIT_BROKEN
        lines = follow(args.file, args.n) if args.follow else iter(tail(args.file, args.n))
        try:
            for line in lines:
                print(line, file=out, flush=True)
        except KeyboardInterrupt:
            pass
        return EXIT_OK
    except AuditError as error:
        print(f"sshwall audit: error: {error}", file=err)
        return EXIT_USAGE
