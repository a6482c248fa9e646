# The two commands: `make run` and `make test`. Each builds .venv by itself from the lock files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/example.yaml
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench services screenshots lint schemathesis lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install only when a lock file or pyproject.toml changes.
$(VENV)/.runtime: $(BIN)/python requirements/runtime.txt pyproject.toml
	$(BIN)/pip install --quiet --require-hashes -r requirements/runtime.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements/dev.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	touch $@

# Links in pages and messages point at the address actually served (`make run PORT=8010`).
run: export CLARION_PUBLIC_URL ?= http://$(HOST):$(PORT)
run: $(VENV)/.runtime
	$(BIN)/clarion db upgrade
	$(BIN)/clarion serve --config $(CONFIG) --host $(HOST) --port $(PORT) --no-migrate

# One pytest worker per core and one more: the tests spend much of their time waiting on
# deliveries and subprocesses (2 cores: 8:49-9:38 with two workers, 7:36 with three, 9 % idle).
# A test file per worker at a time (they share module fixtures), in collection order: the slow
# files first (tests/conftest.py), so no worker ends up alone.
test: $(VENV)/.dev services
	$(BIN)/pytest -n $$(( $$(nproc) + 1 )) --dist loadfile --no-loadscope-reorder

# Every benchmark scenario against PostgreSQL + Redis on 127.0.0.1 (~23 minutes, 10 of them the G6 soak); appends the
# table to docs/benchmarks.md. `make bench BENCH_ARGS=--smoke` checks the scripts in seconds.
bench: $(VENV)/.dev services
	$(BIN)/python -m bench $(BENCH_ARGS)

# Every page at desktop and phone widths, as the browser tests leave them in ./screenshots.
screenshots: $(VENV)/.dev services
	$(BIN)/pytest -q -p no:xdist tests/browser
	@echo "screenshots in ./screenshots"

# PostgreSQL and Redis run on this kind of machine; start them if they stopped.
services:
	@scripts/ensure-services

LINTED := appliance tests $(wildcard plugins bench)

lint: $(VENV)/.dev
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

# Regenerate the lock files after changing dependencies in pyproject.toml.
lock:
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -o requirements/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --extra dev --generate-hashes -o requirements/dev.txt

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
