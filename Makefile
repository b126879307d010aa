# One-command entry points. Each target creates .venv and installs what it needs:
# `make demo` the package alone, `make test` / `make test-fast` / `make bench` the [dev] extra too.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE := $(VENV)/.installed-base
DEV := $(VENV)/.installed-dev

.PHONY: setup setup-dev demo test test-fast bench notebooks clean

$(BASE): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $(BASE)

$(DEV): $(BASE)
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(DEV)

setup: $(BASE)

setup-dev: $(DEV)

demo: setup
	$(BIN)/churnlab demo --workdir models

test: setup-dev
	$(BIN)/python -m pytest -q

# the inner loop: unit tests and doctests, without Spark, notebooks, CDNOW and a real server
test-fast: setup-dev
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup-dev
	$(BIN)/python benchmarks/run_all.py

# execute the notebooks and write them back with their outputs (tests/test_notebooks.py checks them)
notebooks: setup-dev
	$(BIN)/python notebooks/execute.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
