# Two entry points: `make demo` (the example stack) and `make test` (every test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test unit integration bench down-demo clean

$(BIN)/devenv: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/devenv  ## run the example shop api with Postgres, Redis and Mailhog
	cd examples/shop && ../../$(BIN)/devenv up

down-demo: $(BIN)/devenv
	cd examples/shop && ../../$(BIN)/devenv down

test: $(BIN)/devenv  ## unit tests, then the real-engine integration tests
	$(BIN)/python -m pytest

unit: $(BIN)/devenv
	$(BIN)/python -m pytest tests/unit

integration: $(BIN)/devenv
	$(BIN)/python -m pytest tests/integration

bench: $(BIN)/devenv  ## devenv vs plain docker compose, side by side
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache
