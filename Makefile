# Two entry points for people: `make run` and `make test`. Everything else is a helper of theirs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck services install install-test

run: install
	$(BIN)/chathub serve

test: install-test services lint typecheck
	$(BIN)/python -m pytest -p no:cacheprovider

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'

# redis-server comes from Debian; the MongoDB-wire test server (nx-27017) from the test extra.
services:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server (Debian package)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server >/dev/null; }

lint: install-test
	$(BIN)/ruff check hub tests benchmarks
	$(BIN)/ruff format --check hub tests benchmarks

typecheck: install-test
	$(BIN)/mypy hub
