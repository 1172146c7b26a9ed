# Two entry points: `make demo` (the example stack) and `make test` (every test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INTEGRATION_WORKERS ?= 4

.PHONY: demo test lint unit integration bench down-demo clean

$(BIN)/devenv: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/devenv  ## run the example shop api with Postgres, Redis and Mailhog
	cd examples/shop && ../../$(BIN)/devenv up

down-demo: $(BIN)/devenv
	cd examples/shop && ../../$(BIN)/devenv down

test: lint unit integration  ## lint and types, unit tests, then the real-engine integration tests

lint: $(BIN)/devenv  ## ruff (lint and format) and mypy
	$(BIN)/ruff check devenv tests bench
	$(BIN)/ruff format --check devenv tests bench
	$(BIN)/mypy

unit: $(BIN)/devenv
	$(BIN)/python -m pytest tests/unit

# several at once: they wait on containers more than they compute; each has its own project
integration: $(BIN)/devenv
	$(BIN)/python -m pytest tests/integration -n $(INTEGRATION_WORKERS) --dist loadfile

bench: $(BIN)/devenv  ## devenv vs plain docker compose, side by side
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache
