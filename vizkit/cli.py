"""The command line, `python -m vizkit COMMAND`: `scan` (long dataset scans, vizkit.scan) and `info` (this machine's
versions and settings, for a bug report, vizkit.info)."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    """Parse argv (default: sys.argv[1:]) and run its command -> the exit status."""
    from . import scan

    ap = argparse.ArgumentParser(prog="python -m vizkit", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scan", help="top patches or features of every image, resumable, over torchrun's processes",
                       description=scan.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    scan.add_arguments(s)
    sub.add_parser("info", help="versions, devices, data paths and settings, to paste into a bug report")
    args = ap.parse_args(argv)
    if args.command == "info":
        from .info import report

        print(report())
        return 0
    return scan.command(args)
