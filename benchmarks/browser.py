"""The course as a student meets it: Run All per notebook and latency per control, in JupyterLab in Chromium.

    python benchmarks/browser.py                    # every notebook, default (full-size) parameters
    python benchmarks/browser.py --smoke 01 06      # chosen notebooks, with CI's SMOKE parameter

Each control is used --repeats times (key press / click -> first new picture, in the page's own clock);
the table gives Run All seconds per notebook and p50 / p95 milliseconds per control to a new picture, and p95 to
the first feedback (a new picture, or the panel's message line or progress bar changing). Budgets: Run All
<= 120 s by default; a control that only changes the view < 100 ms p95 to its picture; one that recomputes
< 100 ms p95 to its feedback.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
import lab as L  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", help="notebook numbers or names (default: all)")
    ap.add_argument("--smoke", action="store_true", help="run with VIZKIT_SMOKE=1, as CI does")
    ap.add_argument("--repeats", type=int, default=5, help="uses of each control (default 5)")
    ap.add_argument("--timeout", type=float, default=1200, help="Run All limit per notebook, seconds")
    args = ap.parse_args()
    names = [n for n in L.notebooks() if not args.notebooks or any(n.startswith(k) for k in args.notebooks)]
    if not names:
        sys.exit(f"no notebook matches {args.notebooks}; choose from {L.notebooks()}")
    env = {"VIZKIT_SMOKE": "1"} if args.smoke else {}
    print(f"{'SMOKE' if args.smoke else 'default'} parameters, {args.repeats} uses per control; "
          f"Chromium {L.CHROMIUM}; {time.strftime('%Y-%m-%d %H:%M')}\n")
    print(f"{'notebook':34} {'Run All':>8}  {'control':40} {'p50 ms':>8} {'p95 ms':>8} {'feedback':>9} "
          f"{'idle p50':>9}  note")
    with L.jupyter_lab(env=env) as lab, L.chromium() as page:
        for name in names:
            run = L.exercise(page, lab, name, run_all_timeout_s=args.timeout, repeats=args.repeats, shots=None)
            errors = "  ERRORS: " + "; ".join(run.errors) if run.errors else ""
            print(f"{name[:34]:34} {run.run_all_s:7.1f}s{errors}")
            by_control: dict[tuple, list] = {}
            for use in run.uses:
                by_control.setdefault((use.panel, use.control), []).append(use)
            for (panel, control), uses in by_control.items():
                ms = [u.picture_ms for u in uses if u.picture_ms is not None]
                idle = np.median([u.idle_ms for u in uses])
                said = [u.feedback_ms for u in uses if u.feedback_ms is not None]
                said = f"{np.percentile(said, 95):9.0f}" if said else f"{'-':>9}"
                note = "no new picture" if len(ms) < len(uses) else ("with Run" if uses[0].via_run else "")
                p50, p95 = (f"{np.percentile(ms, 50):8.0f}", f"{np.percentile(ms, 95):8.0f}") if ms else ("-", "-")
                print(f"{'':34} {'':8}  {f'{panel}: {control}'[:40]:40} {p50:>8} {p95:>8} {said} {idle:9.0f}  {note}")
            for skipped in run.skipped:
                print(f"{'':34} {'':8}  {skipped[:40]:40} {'skipped':>8}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
