# Two commands: `make demo` and `make test`. Everything else is here for them.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# torch first, pinned: pip takes the CPU wheel on disk; an open range would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
JOBS   ?= auto

.PHONY: venv demo test lint e2e bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[dev]"
	touch $(STAMP)

demo: venv
	$(PY) -m analysis demo --out figures

test: venv lint
	$(PY) -m pytest -q -n $(JOBS) tests

lint: venv
	$(VENV)/bin/ruff check .

e2e: venv
	bash tests/e2e/run.sh

bench: venv
	$(PY) benchmarks/aggregate.py
	$(PY) benchmarks/ratings.py
	$(PY) benchmarks/metrics.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
