"""Run every benchmark at one size and collect the tables in ``RESULTS.md``.

    python benchmarks/run_all.py [--size small] [--only NAME ...]

Each ``bench_<name>.py`` beside this file has ``main(argv)`` taking
``--size {smoke,small,full}`` and writes ``benchmarks/output/<name>.md``;
this script runs them one after another and writes ``benchmarks/RESULTS.md``
with the machine description, and each section with its date and size. With
``--only``, the sections of the other benchmarks are kept.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def benchmark_scripts() -> list[Path]:
    """The benchmark scripts, sorted by name."""
    return sorted(HERE.glob("bench_*.py"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    # Registered under its name, so that its functions pickle by reference
    # (a benchmark may run part of itself in a spawned process).
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def machine() -> str:
    return (
        f"{platform.platform()}, {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}, torch {torch.__version__}, "
        f"CUDA {'available' if torch.cuda.is_available() else 'not available'}"
    )


# A hand-written section, kept at the top: what the tables say, where we lose.
_SUMMARY = "Where we lose"


def _read_sections(path: Path) -> dict[str, str]:
    """The ``## name`` sections of an existing results file, by benchmark name."""
    if not path.exists():
        return {}
    names = {script.stem.removeprefix("bench_") for script in benchmark_scripts()} | {_SUMMARY}
    sections: dict[str, str] = {}
    name = None
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("## ") and line[3:].strip() in names:
            name = line[3:].strip()
            sections[name] = ""
        if name is not None:
            sections[name] += line
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["smoke", "small", "full"], default="small")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names (no bench_)")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)

    # With --only, the other benchmarks' sections of an existing RESULTS.md are
    # kept as they were (each section says when and at which size it ran).
    kept = _read_sections(args.results)
    summary = kept.pop(_SUMMARY, "")
    sections = kept if args.only else {}
    today = datetime.date.today().isoformat()
    for path in benchmark_scripts():
        name = path.stem.removeprefix("bench_")
        if args.only and name not in args.only:
            continue
        print(f"== {name} ({args.size})", flush=True)
        start = time.perf_counter()
        _load(path).main(["--size", args.size])
        elapsed = time.perf_counter() - start
        table = (HERE / "output" / f"{name}.md").read_text()
        sections[name] = (
            f"## {name}\n\n_{elapsed:.0f} s at size `{args.size}`, run on {today}_\n\n{table}\n"
        )

    header = f"# Benchmark results\n\nMachine: {machine()}.\n\n"
    body = "\n".join(sections[name] for name in sorted(sections))
    args.results.write_text(header + summary + body)
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
