"""Benchmark of the logical-form tools (sktheory.logical_form).

1. Weak-supervision search, per CSQA question type: coverage and median time
   of :func:`sktheory.logical_form.search` against a plain breadth-first
   enumeration (every well-typed form by increasing size over the turn's
   symbols, each executed from scratch, no pruning or caching; the strategy of
   D2A-style searches), with the same time budget per question.
2. Execution of the gold forms: the in-memory executor (with and without its
   sub-result cache) against the rdflib/SPARQL path on the same graph.
3. Wikidata scale: a generated graph of N triples (20M at ``--size full``, 1M
   at ``small``, 50k at ``smoke``; CSQA's graph has about 21M) written as
   CSQA's JSON files, streamed by :meth:`KnowledgeGraph.from_csqa_folder` in a
   fresh process: build time, peak resident memory, and search time per turn
   of the shipped sample's turns (whose triples the big graph contains) against
   the same search on the sample graph alone, with the found forms compared.

Usage: ``python benchmarks/bench_logical_form.py --size small``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from sktheory.logical_form import (
    OPERATORS,
    QUESTION_TYPES,
    Entity,
    Executor,
    KnowledgeGraph,
    Number,
    Op,
    Reference,
    Relation,
    Searcher,
    SparqlExecutor,
    Type,
    answers_equal,
    coverage_report,
    load_sample,
    make_dataset,
    previous_refs,
)
from sktheory.logical_form.supervision import _INT

SCALE_TRIPLES = {"smoke": 50_000, "small": 1_000_000, "full": 20_000_000}

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
    parser.add_argument(
        "--only-scale", action="store_true", help="run only part 3 (Wikidata scale)"
    )
    args = parser.parse_args(argv)
    if args.only_scale:
        table = "\n".join(_scale_lines(args.size, args.seed))
        print(table)
        return table
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
    lines += ["", *_scale_lines(args.size, args.seed)]
    table = "\n".join(lines)
    print(table)
    out = Path(__file__).parent / "output"
    out.mkdir(exist_ok=True)
    (out / "logical_form.md").write_text(table + "\n", "utf-8")
    return table


def _write_big_graph(folder: Path, n_triples: int, seed: int) -> None:
    """CSQA files: the shipped sample's graph plus generated triples over other
    entities, 567 relations and 1,000 types (two entities per triple on average,
    as in CSQA's graph), so the sample's searches see the same neighbourhoods."""
    import numpy as np

    kg, _, _ = load_sample()
    files = kg.to_csqa_json()
    rng = np.random.default_rng(seed)
    n_noise = max(n_triples - kg.n_triples, 0)
    n_ent = max(n_noise // 2, 2)
    subj = np.sort(rng.integers(0, n_ent, n_noise))
    rel = rng.integers(0, 567, n_noise)
    obj = rng.integers(0, n_ent, n_noise)
    cuts = np.flatnonzero(np.diff(subj)) + 1
    with open(folder / "wikidata_short_1.json", "w", encoding="utf-8") as f:
        f.write(json.dumps(files["wikidata_short_1.json"])[:-1])
        for s_, r_, o_ in zip(
            np.split(subj, cuts), np.split(rel, cuts), np.split(obj, cuts), strict=True
        ):
            by: dict[str, list[str]] = {}
            for r, o in zip(r_.tolist(), o_.tolist(), strict=True):
                by.setdefault(f"R{r}", []).append(f"X{o}")
            f.write(f',"X{int(s_[0])}":' + json.dumps(by))
        f.write("}")
    types = files["child_par_dict_save.json"]
    with open(folder / "child_par_dict_save.json", "w", encoding="utf-8") as f:
        f.write(json.dumps(types)[:-1])
        for e, t in enumerate(rng.integers(0, 1000, n_ent).tolist()):
            f.write(f',"X{e}":"T{t}"')
        f.write("}")
    for name in ("items_wikidata_n.json", "filtered_property_wikidata4.json"):
        (folder / name).write_text(json.dumps(files[name]), "utf-8")


def _search_times(kg, turns, answers) -> tuple[float, list]:
    searcher = Searcher(kg, time_budget=60.0)
    t0 = time.perf_counter()
    forms = [
        [str(f) for f in searcher.search(t, a).forms] for t, a in zip(turns, answers, strict=True)
    ]
    return (time.perf_counter() - t0) / len(turns), forms


def _scale_child(folder: str, queue) -> None:
    t0 = time.perf_counter()
    kg = KnowledgeGraph.from_csqa_folder(folder)
    build = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    _, turns, answers = load_sample()
    per_turn, forms = _search_times(kg, turns, answers)
    queue.put((repr(kg), build, rss, kg.nbytes / 2**30, per_turn, forms))


def _scale_lines(size: str, seed: int) -> list[str]:
    n = SCALE_TRIPLES[size]
    small, turns, answers = load_sample()
    small_turn, small_forms = _search_times(small, turns, answers)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        _write_big_graph(Path(tmp), n, seed)
        write_s = time.perf_counter() - t0
        mb = (Path(tmp) / "wikidata_short_1.json").stat().st_size / 2**20
        ctx = multiprocessing.get_context("spawn")  # a fresh process: its peak RSS is the load's
        queue = ctx.Queue()
        proc = ctx.Process(target=_scale_child, args=(tmp, queue))
        proc.start()
        desc, build, rss, arrays, big_turn, big_forms = queue.get()
        proc.join()
    same = sum(a == b for a, b in zip(small_forms, big_forms, strict=True))
    return [
        f"Wikidata scale ({size}): {desc}, forward file {mb:.0f} MiB (written in {write_s:.0f} s).",
        "",
        "| triples | build s (stream JSON) | peak RSS GiB | index arrays GiB "
        "| search ms/turn (big) | search ms/turn (sample graph) | ratio | same forms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {n:,} | {build:.1f} | {rss:.2f} | {arrays:.2f} | {1000 * big_turn:.2f} "
        f"| {1000 * small_turn:.2f} | {big_turn / small_turn:.2f}x | {same}/{len(turns)} |",
    ]


if __name__ == "__main__":
    main()
