PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DIR    ?= demo-fleet

.PHONY: demo test lint typecheck pytest bench bench-startup bench-rekey-cli bench-nix-real clean

$(BIN)/dendrite: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

# The demo's own admin key (never yours) also makes the Phase 0 test-clan and cinnabar's Phase 1 files;
# the story ends with cinnabar's deployment as it would run (--dry-run: offline) and the fleet's report.
DEMO_ENV = SOPS_AGE_KEY_FILE="$(abspath $(DIR))/.keys/admin-age.txt" DENDRITE_NO_COMMIT=1

demo: $(BIN)/dendrite
	$(BIN)/dendrite demo $(DIR)
	$(DEMO_ENV) $(BIN)/dendrite init $(DIR)/test-clan
	cd $(DIR)/test-clan && $(DEMO_ENV) $(CURDIR)/$(BIN)/dendrite vars generate < /dev/null
	cd $(DIR)/test-clan && $(DEMO_ENV) $(CURDIR)/$(BIN)/dendrite layout lint
	cd $(DIR)/test-clan && $(DEMO_ENV) $(CURDIR)/$(BIN)/dendrite infra hetzner
	cd $(DIR)/test-clan && $(DEMO_ENV) $(CURDIR)/$(BIN)/dendrite infra disko cinnabar --luks
	cd $(DIR)/test-clan && $(DEMO_ENV) $(CURDIR)/$(BIN)/dendrite machines update cinnabar --dry-run
	$(DEMO_ENV) $(BIN)/dendrite --repo $(DIR) migrate report --html $(DIR)/migration/report.html

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
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/deploy.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/drvdiff.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/migration.py
	$(MAKE) --no-print-directory bench-startup bench-rekey-cli bench-nix-real

# whole processes as users run them (start-up included), each against its anchor in the same run
bench-startup: $(BIN)/dendrite
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/startup.py

bench-rekey-cli: $(BIN)/dendrite
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/secrets.py --cli

bench-nix-real: $(BIN)/dendrite
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/nixparse.py --real

clean:
	rm -rf $(VENV) demo-fleet .pytest_cache .mypy_cache .ruff_cache
