"""Benchmark of the logical-form tools (sktheory.logical_form).

1. Weak-supervision search, per CSQA question type: coverage and median time
   of :func:`sktheory.logical_form.search` against a plain breadth-first
   enumeration (every well-typed form by increasing size over the turn's
   symbols, each executed from scratch, no pruning or caching; the strategy of
   D2A-style searches), with the same time budget per question.
2. Execution of the gold forms: the in-memory executor (with and without its
   sub-result cache) against the rdflib/SPARQL path on the same graph.
The knowledge graph at Wikidata scale is measured by
``bench_logical_form_scale.py``.

Usage: ``python benchmarks/bench_logical_form.py --size small``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from sktheory.logical_form import (
    OPERATORS,
    QUESTION_TYPES,
    Entity,
    Executor,
    Number,
    Op,
    Reference,
    Relation,
    SparqlExecutor,
    Type,
    answers_equal,
    coverage_report,
    make_dataset,
    previous_refs,
)
from sktheory.logical_form.supervision import _INT

SIZES = {
    "smoke": {"n_dialogs": 2, "n_entities": 150, "bfs_budget": 0.05, "n_sparql": 5},
    "small": {"n_dialogs": 15, "n_entities": 600, "bfs_budget": 0.5, "n_sparql": 30},
    "full": {"n_dialogs": 60, "n_entities": 2000, "bfs_budget": 2.0, "n_sparql": 100},
}


def _bfs_search(turn, answer, kg, budget: float, max_size: int = 11):
    """Breadth-first enumeration by form size; the first consistent form wins."""
    start = time.perf_counter()
    ex = Executor(kg, strict=False, cache_size=0)
    prev = (turn.get("previous") or {}).get("user") or {}
    ents = list(
        dict.fromkeys(turn.get("entities_in_utterance", []) + prev.get("entities_in_utterance", []))
    )
    rels = list(dict.fromkeys(turn.get("relations", []) + prev.get("relations", [])))
    types = list(dict.fromkeys(turn.get("type_list", []) + prev.get("type_list", [])))
    nums = sorted({int(m) for m in _INT.findall(turn.get("utterance", ""))})
    refs = [Reference(n) for n, v in previous_refs(turn).items() if v]
    by = {k: {} for k in ("set", "num", "bool", "counts", "rel", "type")}
    by["set"][1] = [Entity(e) for e in ents if e in kg.entities] + refs
    by["rel"][1] = [Relation(r) for r in rels if r in kg.relations]
    by["type"][1] = [Type(t) for t in types if t in kg.types]
    by["num"][1] = [Number(n) for n in nums]
    want = "bool" if isinstance(answer, bool) else ("num" if isinstance(answer, int) else "set")
    for n in range(1, max_size + 1):
        for kind in ("set", "num", "bool", "counts"):
            if n > 1:
                made = []
                for name, sig in OPERATORS.items():
                    if sig.result != kind:
                        continue
                    for sizes in _splits(n - 1, len(sig.args)):
                        pools = [by[k].get(s, []) for k, s in zip(sig.args, sizes, strict=True)]
                        for args in itertools.product(*pools):
                            made.append(Op(name, args))
                            if time.perf_counter() - start > budget:
                                return None, time.perf_counter() - start
                by[kind][n] = made
            if kind != want:
                continue
            for lf in by[kind].get(n, []):
                if time.perf_counter() - start > budget:
                    return None, time.perf_counter() - start
                if answers_equal(ex.execute(lf, turn), answer):
                    return lf, time.perf_counter() - start
    return None, time.perf_counter() - start


def _splits(total: int, parts: int):
    if parts == 1:
        if total >= 1:
            yield (total,)
        return
    for first in range(1, total - parts + 2):
        for rest in _splits(total - first, parts - 1):
            yield (first, *rest)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cfg = SIZES[args.size]
    kg, turns, answers, forms = make_dataset(
        cfg["n_dialogs"], n_entities=cfg["n_entities"], random_state=args.seed
    )

    # 1. Search.
    report = coverage_report(turns, answers, kg, time_budget=1.0)
    bfs = [_bfs_search(t, a, kg, cfg["bfs_budget"]) for t, a in zip(turns, answers, strict=True)]
    lines = [
        f"# Logical forms: search and execution ({args.size})",
        "",
        f"Graph: {kg!r}; {len(turns)} generated turns (seed {args.seed}).",
        "Breadth-first: every well-typed form by size, executed from scratch, "
        f"time budget {cfg['bfs_budget']:g} s per question (ours: 1 s).",
        "",
        "Gold form: share of turns whose best form is the generator's gold form "
        "(ours: best / among the top 5); other consistent forms may be spurious.",
        "",
        "| question type | turns | coverage (ours) | median ms (ours) | gold form (ours) "
        "| coverage (BFS) | median ms (BFS) | gold form (BFS) | time ratio BFS/ours |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for q in [*QUESTION_TYPES, None]:
        idx = [i for i, t in enumerate(turns) if q is None or t["question-type"] == q]
        if not idx:
            continue
        ours_cov = sum(report.results[i].found for i in idx) / len(idx)
        ours_ms = statistics.median(report.results[i].elapsed_ms for i in idx)
        bfs_cov = sum(bfs[i][0] is not None for i in idx) / len(idx)
        bfs_ms = statistics.median(1000 * bfs[i][1] for i in idx)
        ours_gold = sum(report.results[i].best == forms[i] for i in idx) / len(idx)
        ours_top = sum(forms[i] in report.results[i].forms for i in idx) / len(idx)
        bfs_gold = sum(bfs[i][0] == forms[i] for i in idx) / len(idx)
        name = "**overall**" if q is None else q
        lines.append(
            f"| {name} | {len(idx)} | {100 * ours_cov:.1f}% | {ours_ms:.2f} | "
            f"{100 * ours_gold:.0f}% / {100 * ours_top:.0f}% | "
            f"{100 * bfs_cov:.1f}% | {bfs_ms:.1f} | {100 * bfs_gold:.0f}% | "
            f"{bfs_ms / max(ours_ms, 1e-9):.2f}x |"
        )

    # 2. Execution.
    n = min(cfg["n_sparql"], len(forms))
    pairs = list(zip(forms, turns, strict=True))
    rows = []

    def timed(label, run, items):
        t0 = time.perf_counter()
        for lf, turn in items:
            run(lf, turn)
        dt = time.perf_counter() - t0
        rows.append((label, len(items), dt))

    timed("in-memory, no cache", Executor(kg, cache_size=0).execute, pairs)
    cached = Executor(kg)
    timed("in-memory, cache (cold)", cached.execute, pairs)
    timed("in-memory, cache (warm)", cached.execute, pairs)
    sx = SparqlExecutor(kg.to_rdflib())
    agree = sum(
        answers_equal(sx.execute(lf, t), Executor(kg).execute(lf, t)) for lf, t in pairs[:n]
    )
    timed("rdflib SPARQL", sx.execute, pairs[:n])
    base = rows[0][2] / rows[0][1]
    lines += [
        "",
        f"Execution of gold forms (SPARQL agrees with in-memory on {agree}/{n}).",
        "",
        "| path | forms | total s | forms/s | time per form vs in-memory |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, count, dt in rows:
        lines.append(
            f"| {label} | {count} | {dt:.3f} | {count / dt:.0f} | {dt / count / base:.2f}x |"
        )
    table = "\n".join(lines)
    print(table)
    out = Path(__file__).parent / "output"
    out.mkdir(exist_ok=True)
    (out / "logical_form.md").write_text(table + "\n", "utf-8")
    return table


if __name__ == "__main__":
    main()
