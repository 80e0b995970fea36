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

# compileall: an editable install leaves hub/ without bytecode, and where PYTHONDONTWRITEBYTECODE
# is set (this kind of machine, containers) every start would compile it again (~0.13 s).
install: $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	$(BIN)/python -m compileall -q hub

install-test: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m compileall -q hub

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
