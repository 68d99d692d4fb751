"""``sshwall audit verify FILE... [--series] [--head]`` and ``sshwall audit tail FILE [-n N] [--follow]``.

Exit codes: 0 the chain is intact (or the tail was shown), 1 the chain is broken, 2 bad usage or
a file that cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn, TextIO

from sshwall.audit.series import rotated_series
from sshwall.audit.tail import follow, tail
from sshwall.audit.verify import verify_series
from sshwall.errors import AuditError

EXIT_OK, EXIT_BROKEN, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` can return the exit code."""

    def error(self, message: str) -> NoReturn:
        raise _Usage(f"{self.prog}: error: {message}")


class _Usage(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sshwall audit", description="Check or read an sshwall audit log.")
    sub = parser.add_subparsers(dest="action", required=True, parser_class=_Parser)
    check = sub.add_parser("verify", help="check the hash chain; report the first broken or missing record")
    check.add_argument("file", type=Path, nargs="+",
                       help="the log; several files (oldest first) are checked as one chain")
    check.add_argument("--series", action="store_true",
                       help="FILE is the current log: also check its rotated files (FILE.N, FILE-DATE, .gz), oldest first")
    check.add_argument("--head", action="store_true", help="also print the hash of the last record")
    show = sub.add_parser("tail", help="show recent records readably")
    show.add_argument("file", type=Path)
    show.add_argument("-n", type=int, default=10, metavar="N", help="how many records (default 10)")
    show.add_argument("--follow", "-f", action="store_true", help="keep showing records as they are written")
    return parser


def main(argv: list[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Runs ``sshwall audit ARGV...`` and returns the exit code (0 ok, 1 broken, 2 usage)."""
    out, err = out or sys.stdout, err or sys.stderr
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except _Usage as usage:
        print(parser.format_usage().rstrip(), file=err)
        print(usage, file=err)
        return EXIT_USAGE
    except SystemExit as done:  # --help
        return int(done.code or 0)
    try:
        return _run(args, out, err)
    except _Usage as usage:
        print(usage, file=err)
        return EXIT_USAGE


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        if args.action == "verify":
            files: list[Path] = list(args.file)
            if args.series:
                if len(files) != 1:
                    raise _Usage("sshwall audit verify: error: --series takes one FILE, the current log")
                files = rotated_series(files[0])
                if len(files) > 1:
                    print("checking " + " ".join(str(f) for f in files), file=err)
            report = verify_series(files)
            print(report, file=out)
            if args.head and report.head:
                print(f"head: {report.head}", file=out)
            return EXIT_OK if report.ok else EXIT_BROKEN
        if args.n < 0:
            print("sshwall audit: error: -n must be 0 or more", file=err)
            return EXIT_USAGE
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
