# Two entry points: `make demo` and `make test`. Both build .venv on first use.
# `make docs` builds the documentation site (docs/_build/html).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
CONSTRAINTS := requirements/cpu.txt
STAMP := $(VENV)/.installed

.PHONY: install demo test lint gallery benchmarks gpu-check docs docs-check clean

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

# The documentation with warnings as errors; the gallery runs the examples at
# SKTHEORY_DOCS_SIZE=smoke (default, about a minute) or full (the committed figures).
docs: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} MPLBACKEND=Agg \
		$(BIN)/python -m sphinx -b html -W --keep-going docs docs/_build/html

# Serve the built site locally, open pages in headless Chromium, save
# screenshots in docs/_build/screenshots; fails on broken internal links,
# missing images or empty API pages. Needs Debian's chromium (installed here
# with apt-get when missing). Not part of CI.
docs-check: docs
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
	$(BIN)/python docs/check_site.py docs/_build/html

clean:
	rm -rf $(VENV) build *.egg-info docs/_build docs/generated docs/auto_examples docs/api.rst
