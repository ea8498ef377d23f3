# The two commands: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev migrate seed worker beat lint format bench bench-smoke loadtest screenshots clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=/path/to/python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make run: the portal with demo data on SQLite, Celery eager, at http://127.0.0.1:8000 (HOST=... PORT=... to change)
run: export DEBUG ?= 1
run: export HOST := $(HOST)
run: export PORT := $(PORT)
run: install
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## make test: the whole suite (SQLite unless DATABASE_URL is set)
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

migrate: install
	$(BIN)/python manage.py migrate --no-input

seed: install
	$(BIN)/python manage.py seed_demo

worker: install
	$(BIN)/celery -A config worker --loglevel=info

beat: install
	$(BIN)/celery -A config beat --loglevel=info

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) staticfiles

## make bench: generate the large estate in a fresh PostgreSQL database, measure it, write docs/performance.md
bench: install-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

## make screenshots: PNGs of the main pages for every demo login at 1366 and 390 px, in var/screenshots/
screenshots: install-dev
	$(BIN)/python -m tests.e2e.screenshots $(SCREENSHOT_ARGS)

## make bench-smoke: the same benchmarks on a tiny estate, in seconds (CI runs it)
bench-smoke: install-dev
	$(BIN)/python -m bench --smoke $(BENCH_ARGS)

## make loadtest: Locust (headless, 50 users, 60 s) against gunicorn with 1 then 2 workers, in about 4 minutes
loadtest: install-dev
	$(BIN)/python -m bench.loadtest $(LOADTEST_ARGS)
