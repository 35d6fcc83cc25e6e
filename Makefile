# Two entry points: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
CONSTRAINTS := requirements/cpu.txt
STAMP := $(VENV)/.installed

.PHONY: install demo test lint gallery benchmarks gpu-check clean

install: $(STAMP)

# iisignature ships only a source archive whose setup imports numpy, so numpy
# goes in first and iisignature builds without build isolation.
$(STAMP): pyproject.toml setup.cfg $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c $(CONSTRAINTS) --upgrade pip "setuptools>=77" wheel numpy
	$(PIP) install -c $(CONSTRAINTS) --no-build-isolation "iisignature>=0.24"
	$(PIP) install -c $(CONSTRAINTS) --no-build-isolation -e ".[dev]"
	touch $(STAMP)

# The demo table, then every paper's figure at smoke size in examples/output/.
demo: $(STAMP)
	$(BIN)/python -m sktheory demo
	MPLBACKEND=Agg $(BIN)/python examples/run_all.py --smoke --output examples/output

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(BIN)/python -m pytest -q

# The figures linked from the README, at CPU size (minutes).
gallery: $(STAMP)
	$(BIN)/python examples/run_all.py --output examples/figures

# Side-by-side benchmarks; writes benchmarks/RESULTS.md (SIZE=smoke|small|full).
benchmarks: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --size $${SIZE:-small}

gpu-check: $(STAMP)
	$(BIN)/python benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) build *.egg-info
