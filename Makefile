# Keyhold: the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test lint typecheck unit bench bench-s3 clean

# The runtime environment: the package and its pinned dependencies.
$(BIN)/keyhold: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e .
	touch $@

# The test environment adds the clients the tests drive (boto3, aws CLI, moto, AWS Encryption SDK).
$(VENV)/.test-deps: $(BIN)/keyhold
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

run: $(BIN)/keyhold
	$(BIN)/keyhold serve $(ARGS)

lint: $(VENV)/.test-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.test-deps
	$(BIN)/mypy

test: $(VENV)/.test-deps lint typecheck
	bash scripts/ensure-system-deps.sh test
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(ARGS)

bench: $(VENV)/.test-deps
	bash scripts/ensure-system-deps.sh bench
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/kms.py $(ARGS)

bench-s3: $(VENV)/.test-deps
	bash scripts/ensure-system-deps.sh bench
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/s3.py $(ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
