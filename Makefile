# Jounce: `make run` serves the embedded default, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= $(shell scripts/find-python.sh)
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app

.PHONY: run test lint typecheck pytest lock benchmark-api benchmark-alternate benchmark-measurement benchmark-simulator benchmark-statistics mutation clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.prod-installed: requirements/prod.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/prod.txt
	touch $@

$(VENV)/.dev-installed: requirements/dev.txt requirements/prod.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $@ $(VENV)/.prod-installed

## run: migrate, seed and serve http://127.0.0.1:5000 on SQLite with an in-process scheduler
run: $(VENV)/.prod-installed
	$(BIN)/flask db upgrade
	$(BIN)/flask seed
	API_KEY="$$(scripts/dev-api-key.sh)" LOG_FORMAT="$${LOG_FORMAT:-text}" $(BIN)/flask serve

## test: lint, type checks and the whole suite against PostgreSQL and Redis
test: $(VENV)/.dev-installed
	scripts/check-services.sh
	scripts/ensure-test-packages.sh
	$(MAKE) --no-print-directory lint typecheck pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests migrations scripts app.py gunicorn.conf.py
	$(BIN)/ruff format --check src tests migrations scripts app.py gunicorn.conf.py

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

pytest: $(VENV)/.dev-installed
	$(BIN)/pytest

## lock: recompile the pinned requirements after editing requirements/*.in
lock: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	cd requirements && ../$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links prod.in -o prod.txt
	cd requirements && ../$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links dev.in -o dev.txt

benchmark-api: $(VENV)/.dev-installed
	$(BIN)/python -m scripts.benchmark_api
	$(BIN)/python -m scripts.load_test
	$(BIN)/python -m scripts.hot_path_lines

## benchmark-alternate: uncached rankings of two or more commits alternated on one history, e.g. COMMITS="5414537 HEAD"
benchmark-alternate: $(VENV)/.dev-installed
	$(BIN)/python -m scripts.alternate_windows $(COMMITS)

benchmark-simulator: $(VENV)/.dev-installed
	$(BIN)/python -m scripts.benchmark_simulator

## benchmark-measurement: how true a measured run's TTFT and ITL are, against a server's record of what it sent
benchmark-measurement: $(VENV)/.dev-installed
	$(BIN)/python -m scripts.benchmark_measurement

## benchmark-statistics: interval coverage and tie-test error rates against the simulator's known truth
benchmark-statistics: $(VENV)/.dev-installed
	$(BIN)/python -m scripts.benchmark_statistics

## mutation: mutate each file of the core and run the unit tests reaching it against each mutant (in copies); prints the scores
mutation: $(VENV)/.dev-installed
	$(BIN)/python -m scripts.mutation --by-file

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache test-output
