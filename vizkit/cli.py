"""The command line, `python -m vizkit COMMAND`: `scan` (long dataset scans, vizkit.scan), `info` (this machine's
versions and settings, for a bug report, vizkit.info), `train` (retrain the bundled fashion-cnn, vizkit.train) and
`runs` (remake the precomputed runs of notebooks 02 and 03, vizkit.runs)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse argv (default: sys.argv[1:]) and run its command -> the exit status."""
    from . import scan
    from .runs import main as runs_main
    from .train import main as train_main  # (vizkit.train, the attribute, is the function train)

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("train", "runs"):  # their own parsers, with their own --help
        (train_main if argv[0] == "train" else runs_main)(argv[1:])
        return 0
    ap = argparse.ArgumentParser(prog="python -m vizkit", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scan", help="top patches or features of every image, resumable, over torchrun's processes",
                       description=scan.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    scan.add_arguments(s)
    sub.add_parser("info", help="versions, devices, data paths and settings, to paste into a bug report")
    sub.add_parser("train", help="retrain the bundled fashion-cnn (minutes; see python -m vizkit train --help)")
    sub.add_parser("runs", help="remake the precomputed runs of notebooks 02 and 03 (see its --help)")
    args = ap.parse_args(argv)
    if args.command == "info":
        from .info import report

        print(report())
        return 0
    return scan.command(args)
