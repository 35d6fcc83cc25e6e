"""Regenerate every example figure.

    python examples/run_all.py [--smoke] [--output examples/figures]

Each ``plot_<paper>.py`` beside this file has ``main(argv)`` taking ``--smoke``
and ``--output DIR``; this script runs them one after another.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def example_scripts() -> list[Path]:
    """The example scripts, sorted by name."""
    return sorted(HERE.glob("plot_*.py"))


def run_example(path: Path, argv: list[str]) -> None:
    """Import the example at ``path`` and call its ``main(argv)``."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(argv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny, seconds-long runs")
    parser.add_argument("--output", type=Path, default=HERE / "figures")
    args = parser.parse_args(argv)
    for path in example_scripts():
        print(f"== {path.name}", flush=True)
        start = time.perf_counter()
        run_example(path, ["--output", str(args.output)] + (["--smoke"] if args.smoke else []))
        print(f"   {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
