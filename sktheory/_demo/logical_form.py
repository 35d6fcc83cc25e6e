"""Demo of :class:`~sktheory.logical_form.LogicalFormParser`: CSQA-style
question answering on a graph never seen in training."""

from __future__ import annotations

from sktheory._demo import DemoRow, register


@register("LogicalFormParser")
def logical_form_demo(random_state: int = 0) -> DemoRow:
    """Fit from answers on one generated graph, score on turns about another."""
    from sktheory.logical_form import LogicalFormParser, make_dataset

    kg, turns, answers, _ = make_dataset(20, n_entities=300, random_state=random_state)
    kg_test, t_test, a_test, _ = make_dataset(8, n_entities=300, random_state=random_state + 1)
    params = dict(kg=kg, max_epochs=30, random_state=random_state)
    model = LogicalFormParser(**params).fit(turns, answers)
    base = LogicalFormParser(context="utterance", **params).fit(turns, answers)
    return {
        "task": "CSQA-style QA on an unseen graph",
        "metric": "answer score",
        "score": model.score(t_test, a_test, kg=kg_test),
        "baseline": "utterance-only encoder",
        "baseline_score": base.score(t_test, a_test, kg=kg_test),
    }


def real_sample_evaluation(
    sample, *, n_train: int, n_test: int, params: dict, random_state: int = 0
) -> dict:
    """Train on some real CSQA dialogs, test on others (never the same dialog).

    ``sample`` is the folder of ``dialogs.tar.xz`` and ``kg/`` (the shared
    real sample). Dialog files are shuffled with ``random_state``; the first
    ``n_train`` train and the next ``n_test`` test. Three parsers get the same
    parameters: graph candidates (the default, never reading the turns'
    ``relations``/``type_list``), the gold-annotation oracle, and the
    utterance-only encoder (graph candidates). Returns per-type
    :func:`~sktheory.logical_form.csqa_scores` of each, the search coverage of
    the test turns in both candidate settings (the ceiling of a parser
    trained on silver forms), reader counts and the fitted parsers.
    """
    import shutil
    import tarfile
    import tempfile
    import time
    from pathlib import Path

    import numpy as np

    from sktheory.logical_form import (
        KnowledgeGraph,
        LogicalFormParser,
        coverage_report,
        csqa_scores,
        read_csqa,
    )

    sample = Path(sample)
    kg = KnowledgeGraph.from_csqa_folder(sample / "kg")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with tarfile.open(sample / "dialogs.tar.xz") as tar:
            tar.extractall(tmp / "all", filter="data")
        files = sorted((tmp / "all").rglob("*.json"))
        order = np.random.default_rng(random_state).permutation(len(files))
        split = {"train": order[:n_train], "test": order[n_train : n_train + n_test]}
        data = {}
        for name, idx in split.items():
            for i in idx:
                dest = tmp / name / f"{files[i].parent.name}_{files[i].name}"
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(files[i], dest)
            turns, answers, counts = read_csqa(tmp / name, return_counts=True)
            keep = [k for k, a in enumerate(answers) if a is not None]
            data[name] = ([turns[k] for k in keep], [answers[k] for k in keep], counts)
    (X, y, train_counts), (Xt, yt, test_counts) = data["train"], data["test"]
    stripped = [_without_annotations(t) for t in Xt]
    types = [t["question-type"] for t in Xt]
    settings = {
        "graph": (dict(), stripped),
        "gold oracle": (dict(candidates="gold"), Xt),
        "utterance only": (dict(context="utterance"), stripped),
    }
    scores, models, seconds = {}, {}, {}
    for name, (extra, test_turns) in settings.items():
        start = time.perf_counter()
        model = LogicalFormParser(kg=kg, **params, **extra).fit(X, y)
        seconds[name] = time.perf_counter() - start
        scores[name] = csqa_scores(model.predict_answers(test_turns), yt, types)
        models[name] = model
    coverage = {}
    for mode, test_turns in (("graph", stripped), ("gold", Xt)):
        report = coverage_report(test_turns, yt, kg, candidates=mode, max_results=1)
        coverage[mode] = {r["question_type"]: r["coverage"] for r in report.rows}
        coverage[mode]["overall"] = report.overall
    return {
        "kg": kg,
        "scores": scores,
        "coverage": coverage,
        "fit_seconds": seconds,
        "models": models,
        "counts": {"train": train_counts, "test": test_counts},
        "n_turns": {"train": len(X), "test": len(Xt)},
        "test_types": types,
    }


def _without_annotations(turn: dict) -> dict:
    """A turn without CSQA's gold ``relations``/``type_list`` (nor its previous turn's)."""
    out = {k: v for k, v in turn.items() if k not in ("relations", "type_list")}
    prev = out.get("previous")
    if prev and prev.get("user"):
        user = {k: v for k, v in prev["user"].items() if k not in ("relations", "type_list")}
        out["previous"] = {**prev, "user": user}
    return out


def real_sample_table(result: dict) -> str:
    """Markdown table of :func:`real_sample_evaluation`: per question type,
    search coverage of the test turns and the main score of each parser
    (micro F1, or accuracy for Verification and the Count types)."""
    from sktheory.logical_form import QUESTION_TYPES

    names = list(result["scores"])
    lines = [
        "| question type | test turns | search coverage (graph / gold) | metric | "
        + " | ".join(names)
        + " |",
        "|---|---:|---:|---|" + "---:|" * len(names),
    ]
    first = result["scores"][names[0]]
    for q in [q for q in QUESTION_TYPES if q in first]:
        row = first[q]
        metric = "accuracy" if "accuracy" in row and "f1" not in row else "F1"
        key = "accuracy" if metric == "accuracy" else "f1"
        cov = result["coverage"]
        lines.append(
            f"| {q} | {row['turns']} | {cov['graph'].get(q, 0):.2f} / {cov['gold'].get(q, 0):.2f}"
            f" | {metric} | "
            + " | ".join(f"{result['scores'][n][q].get(key, 0.0):.3f}" for n in names)
            + " |"
        )
    return "\n".join(lines)
