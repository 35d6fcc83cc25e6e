"""Weak supervision over a knowledge graph: coverage of the logical-form search.
=============================================================================

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

import sktheory
from sktheory.logical_form import (
    KnowledgeGraph,
    coverage_report,
    execute,
    make_dataset,
    read_csqa,
)

# The repository root; sphinx-gallery runs examples without ``__file__``, so
# then it is found from the (editable) package instead.
_ROOT = Path(globals().get("__file__", Path(sktheory.__file__).parent / "_")).resolve().parents[1]
REAL_SAMPLE = _ROOT.parent / "shared" / "csqa-sample"


def real_coverage(limit=None):
    """Search coverage on the real CSQA sample (gold annotations as candidates;
    its partial graph answers mostly simple and verification questions)."""
    import tarfile
    import tempfile

    if not REAL_SAMPLE.is_dir():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(REAL_SAMPLE / "dialogs.tar.xz") as tar:
            tar.extractall(tmp, filter="data")
        turns, answers, counts = read_csqa(tmp, return_counts=True)
    print(f"real sample: {counts}")
    kg = KnowledgeGraph.from_csqa_folder(REAL_SAMPLE / "kg")
    return coverage_report(turns[:limit], answers[:limit], kg)


# %%
# The experiment
# --------------
# ``main`` reads the script's command line: ``--smoke`` selects the
# seconds-long sizes and ``--output DIR`` the folder the figures go to.


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
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

    real = real_coverage(300 if args.smoke else None)
    if real is not None:
        print("\nReal CSQA sample (partial graph):")
        print(real.to_markdown())
    names = [r["question_type"].replace(" (All)", "") for r in report.rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    y = range(len(names))
    ax1.barh(
        [i - 0.2 for i in y],
        [100 * r["coverage"] for r in report.rows],
        height=0.4,
        color="tab:blue",
        label="generated dialogs",
    )
    if real is not None:
        got = {r["question_type"]: 100 * r["coverage"] for r in real.rows}
        ax1.barh(
            [i + 0.2 for i in y],
            [got.get(r["question_type"], 0) for r in report.rows],
            height=0.4,
            color="tab:green",
            label="real CSQA sample (partial graph)",
        )
    ax1.set_yticks(list(y), names)
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
    return {
        "coverage": report.overall,
        "real_coverage": None if real is None else real.overall,
        "median_ms": report.median_ms,
        "figure": str(path),
    }


# %%
# Run it
# ------
# As a script, or in this gallery with the arguments chosen by
# ``SKTHEORY_DOCS_SIZE``; the figures below are the ones ``main`` wrote.

if __name__ == "__main__":
    main()
