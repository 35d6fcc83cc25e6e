"""Benchmark: the knowledge graph at Wikidata scale.

A generated graph of N triples (20M at ``--size full``, 1M at ``small``, 50k at
``smoke``; CSQA's graph has about 21M) is written as CSQA's JSON files and
streamed by :meth:`KnowledgeGraph.from_csqa_folder` in a fresh process: build
time, peak resident memory, the size of the index arrays, and the search time
per turn of the shipped sample's turns (whose triples the big graph contains)
against the same search on the sample graph alone, with the found forms
compared.

Usage: ``python benchmarks/bench_logical_form_scale.py --size full``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from sktheory.logical_form import KnowledgeGraph, Searcher, load_sample

SCALE_TRIPLES = {"smoke": 50_000, "small": 1_000_000, "full": 20_000_000}


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SCALE_TRIPLES), default="small")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    table = "\n".join(_scale_lines(args.size, args.seed))
    print(table)
    out = Path(__file__).parent / "output"
    out.mkdir(exist_ok=True)
    (out / "logical_form_scale.md").write_text(table + "\n", "utf-8")
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


def _search_times(kg, turns, answers) -> tuple[float, float, list]:
    """Seconds per turn of a first pass (the graph builds its lazy indexes and
    look-up caches) and of a second pass with a fresh searcher (steady state)."""
    times = []
    for _ in range(2):
        searcher = Searcher(kg, time_budget=60.0)
        t0 = time.perf_counter()
        forms = [
            [str(f) for f in searcher.search(t, a).forms]
            for t, a in zip(turns, answers, strict=True)
        ]
        times.append((time.perf_counter() - t0) / len(turns))
    return times[0], times[1], forms


def _scale_child(folder: str, queue) -> None:
    t0 = time.perf_counter()
    kg = KnowledgeGraph.from_csqa_folder(folder)
    build = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    _, turns, answers = load_sample()
    cold, warm, forms = _search_times(kg, turns, answers)
    queue.put((repr(kg), build, rss, kg.nbytes / 2**30, cold, warm, forms))


def _scale_lines(size: str, seed: int) -> list[str]:
    n = SCALE_TRIPLES[size]
    small, turns, answers = load_sample()
    small_cold, small_warm, small_forms = _search_times(small, turns, answers)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        _write_big_graph(Path(tmp), n, seed)
        write_s = time.perf_counter() - t0
        mb = (Path(tmp) / "wikidata_short_1.json").stat().st_size / 2**20
        ctx = multiprocessing.get_context("spawn")  # a fresh process: its peak RSS is the load's
        queue = ctx.Queue()
        proc = ctx.Process(target=_scale_child, args=(tmp, queue))
        proc.start()
        desc, build, rss, arrays, big_cold, big_warm, big_forms = queue.get()
        proc.join()
    same = sum(a == b for a, b in zip(small_forms, big_forms, strict=True))
    return [
        f"Wikidata scale ({size}): {desc}, forward file {mb:.0f} MiB (written in {write_s:.0f} s).",
        "",
        "Search ms per turn over the sample's 48 turns: the first pass builds the "
        "graph's lazy indexes and look-up caches (a one-off cost per graph); the "
        "second, with a fresh searcher, is the steady state of a long search.",
        "",
        "| triples | build s (stream JSON) | peak RSS GiB | index arrays GiB "
        "| first pass, big / sample graph | steady state, big / sample graph "
        "| steady-state ratio | same forms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {n:,} | {build:.1f} | {rss:.2f} | {arrays:.2f} "
        f"| {1000 * big_cold:.2f} / {1000 * small_cold:.2f} "
        f"| {1000 * big_warm:.2f} / {1000 * small_warm:.2f} "
        f"| {big_warm / small_warm:.2f}x | {same}/{len(turns)} |",
    ]


if __name__ == "__main__":
    main()
