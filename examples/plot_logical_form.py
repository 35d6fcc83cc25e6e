"""Weak supervision over a knowledge graph: coverage of the logical-form search.

Generates a seeded Wikidata-like graph and CSQA-style conversations, runs the
weak-supervision search on every turn (only the gold answers are given), and
reports, per CSQA question type, the share of turns with at least one
consistent logical form (coverage) and the median search time, as the paper
"Structured context and high-coverage grammar for conversational question
answering over knowledge graphs" (EMNLP 2021) reports coverage of its grammar.
A few conversations are printed with the best form found and its answer.

Usage: ``python examples/plot_logical_form.py [--smoke] [--output DIR]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sktheory.logical_form import coverage_report, execute, make_dataset


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--output", default="examples/output", help="folder of the figure")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n_dialogs, n_entities = (3, 200) if args.smoke else (40, 800)

    kg, turns, answers, gold = make_dataset(
        n_dialogs, n_entities=n_entities, random_state=args.seed
    )
    report = coverage_report(turns, answers, kg)
    print(f"{kg!r}, {len(turns)} turns")
    print(report.to_markdown())

    print("\nA few turns, with the best form the search found from the answer alone:")
    for turn, answer, result, lf in list(zip(turns, answers, report.results, gold, strict=True))[
        :6
    ]:
        shown = answer if not isinstance(answer, list) else answer[:4]
        print(f"- [{turn['question-type']}] {turn['utterance']}")
        print(f"    gold form:  {lf}")
        print(f"    found:      {result.best}  ({result.elapsed_ms:.1f} ms)")
        if result.best is not None:
            print(f"    its answer: {execute(result.best, kg, turn) == answer} ({shown})")

    names = [r["question_type"].replace(" (All)", "") for r in report.rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    ax1.barh(names, [100 * r["coverage"] for r in report.rows], color="tab:blue")
    ax1.axvline(96.2, color="k", ls="--", lw=1, label="paper's CSQA coverage (96.2%)")
    ax1.set_xlim(0, 100)
    ax1.set_xlabel("coverage (%)")
    ax1.legend(loc="lower left", fontsize=8)
    ax1.invert_yaxis()
    ax2.barh(names, [r["median_ms"] for r in report.rows], color="tab:orange")
    ax2.set_xlabel("median search time per turn (ms)")
    fig.suptitle(
        f"Weak-supervision search on {len(turns)} generated turns: "
        f"coverage {100 * report.overall:.1f}%, median {report.median_ms:.1f} ms"
    )
    fig.tight_layout()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "logical_form_coverage.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"\nwrote {path}")
    return {"coverage": report.overall, "median_ms": report.median_ms, "figure": str(path)}


if __name__ == "__main__":
    main()
