"""Command line: ``python -m sktheory demo`` fits each estimator on its paper's task.

Each paper's demo (in :mod:`sktheory._demo`) fits its estimator at small size on
the paper's synthetic task and returns a :class:`~sktheory._demo.DemoRow`; the
demo runs each one and prints a table.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from sktheory._demo import demos
from sktheory.discovery import all_estimators

_COLUMNS = (
    "estimator",
    "task",
    "metric",
    "score",
    "baseline",
    "baseline score",
    "linear model",
    "fit s",
)


def run_demos(names: Sequence[str] | None = None, random_state: int = 0) -> list[dict]:
    """Run the demos of the selected estimators (all that have one by default)."""
    rows = []
    for name, demo in demos().items():
        if names and name not in names:
            continue
        start = time.perf_counter()
        row = dict(demo(random_state=random_state))
        row["estimator"] = name
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """Format demo rows as an aligned plain-text table."""
    cells = [
        [
            r["estimator"],
            r["task"],
            r["metric"],
            f"{r['score']:.4g}",
            r["baseline"],
            f"{r['baseline_score']:.4g}",
            f"{r['linear_score']:.4g}" if "linear_score" in r else "-",
            f"{r['seconds']:.1f}",
        ]
        for r in rows
    ]
    table = [list(_COLUMNS), *cells]
    widths = [max(len(row[j]) for row in table) for j in range(len(_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sktheory", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fit every estimator on its paper's task")
    demo.add_argument("estimators", nargs="*", help="names to run (default: all)")
    demo.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)

    known = {name for name, _ in all_estimators()}
    unknown = sorted(set(args.estimators) - known)
    if unknown:
        parser.error(f"unknown estimator(s): {', '.join(unknown)}; known: {sorted(known)}")
    rows = run_demos(args.estimators, args.random_state)
    if not rows:
        print("No estimator with a demo is installed yet.")
        return 0
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
