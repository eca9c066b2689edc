# One task runner: `make run` serves, `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE_DIR := tests/e2e/node
# The console's chart library, from the npm registry (never a CDN).
CONSOLE_ASSETS := src/trackyard/console/assets

.PHONY: run test lint format e2e-deps clean bench bench-quick

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.run-installed

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --silent
	touch $@

$(CONSOLE_ASSETS)/node_modules/.installed: $(CONSOLE_ASSETS)/package.json $(CONSOLE_ASSETS)/package-lock.json
	cd $(CONSOLE_ASSETS) && npm ci --no-audit --no-fund --silent
	touch $@

## run: serve on TRACKYARD_HOST:TRACKYARD_PORT (127.0.0.1:8000) with ./trackyard.db
run: $(VENV)/.run-installed $(CONSOLE_ASSETS)/node_modules/.installed
	$(BIN)/trackyard serve

e2e-deps: $(VENV)/.dev-installed $(NODE_DIR)/node_modules/.installed $(CONSOLE_ASSETS)/node_modules/.installed

## test: lint, type-check and the whole test suite (the contract suite runs on
## SQLite and PostgreSQL), then the HTTP suite again on PostgreSQL. With CI set,
## an unreachable PostgreSQL fails the run instead of skipping its tests.
test: e2e-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src
	$(BIN)/pytest
	TRACKYARD_TEST_STORE=postgres $(BIN)/pytest tests/http

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/mypy src

format: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(NODE_DIR)/node_modules $(CONSOLE_ASSETS)/node_modules .pytest_cache .mypy_cache .ruff_cache

## bench: ingestion rates next to this machine's ceilings, one run (docs/performance.md);
## bench-quick: the same with small sizes. BENCH_* variables set the sizes.
bench: $(VENV)/.dev-installed
	command -v wrk >/dev/null || (apt-get install -y wrk || (apt-get update && apt-get install -y wrk))
	$(BIN)/python benchmarks/ingest_bench.py

bench-quick: export BENCH_SECONDS ?= 3
bench-quick: export BENCH_IMPORT_BODIES ?= 500
bench-quick: export BENCH_BULK_BATCHES ?= 20
bench-quick: export BENCH_GROWTH_EVENTS ?= 500000
bench-quick: bench
