PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DIR    ?= demo-fleet

.PHONY: demo test lint typecheck pytest bench clean

$(BIN)/dendrite: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

demo: $(BIN)/dendrite
	$(BIN)/dendrite demo $(if $(FORCE),--force) $(DIR)

lint: $(BIN)/dendrite
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(BIN)/dendrite
	$(BIN)/mypy src

pytest: $(BIN)/dendrite
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q

test: lint typecheck pytest

bench: $(BIN)/dendrite
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/secrets.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/nixparse.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/inventory.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/vars.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/layout.py

clean:
	rm -rf $(VENV) demo-fleet .pytest_cache .mypy_cache .ruff_cache
