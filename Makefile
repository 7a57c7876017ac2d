# Inversa: `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run demo test lint typecheck pytest chromium validate bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The web app on the embedded SQLite store at http://127.0.0.1:8000 (a one-time setup code for the
# first admin is printed while no admin exists).
run: $(STAMP)
	$(BIN)/inversa serve --host 127.0.0.1 --port 8000

# The engine demo: a session simulated, its figure and table under out/.
demo: $(STAMP)
	$(BIN)/inversa demo --out out

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# Browser tests drive Debian's Chromium; install the package when it is missing (never a download).
chromium:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

pytest: $(STAMP) chromium
	$(BIN)/pytest -n auto

test: lint typecheck pytest

validate: $(STAMP)
	$(BIN)/inversa validate

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) out .mypy_cache .pytest_cache .ruff_cache .hypothesis
