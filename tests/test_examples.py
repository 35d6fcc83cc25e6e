"""Every example script runs in smoke mode and writes its figure."""

import importlib.util
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load_runner():
    spec = importlib.util.spec_from_file_location("run_all", EXAMPLES / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUNNER = _load_runner()
SCRIPTS = RUNNER.example_scripts()


@pytest.mark.skipif(not SCRIPTS, reason="no example script yet")
@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_runs_in_smoke_mode(path, tmp_path):
    RUNNER.run_example(path, ["--smoke", "--output", str(tmp_path)])
    figures = list(tmp_path.glob("*.png"))
    assert figures, f"{path.name} wrote no PNG figure"
    assert all(f.stat().st_size > 1000 for f in figures)
