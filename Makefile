# Two commands on a fresh machine: `make up` and `make test`. Everything else is set up on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVICES := identity ledger rules descriptors interop-gateway crm reporting web
PACKAGES := libs/contracts libs/platform $(addprefix services/,$(SERVICES))
STAMP := $(VENV)/.installed
# Tests, tools and `make up` start many interpreters: let them keep the project's compiled modules
# (an environment that asks Python not to write them makes every start compile the project again).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup up down status logs test lint typecheck unit bench soak clean browser

$(STAMP): requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt $(addprefix -e ,$(PACKAGES))
	@touch $(STAMP)

setup: $(STAMP)

up: setup
	$(BIN)/registry-dev up

down: setup
	$(BIN)/registry-dev down

status: setup
	$(BIN)/registry-dev status

logs: setup
	$(BIN)/registry-dev logs

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy libs/contracts/registry_contracts libs/platform/registry_platform $(foreach s,$(SERVICES),services/$(s)/$(subst -,_,$(s))) bench

test: lint typecheck browser
	$(BIN)/pytest -q --durations=25 $(PYTEST_ARGS)

# Debian's chromium for the web's browser tests (Playwright drives it; no browser is downloaded).
browser:
	@test -x /usr/bin/chromium || { test "$$(id -u)" = 0 && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } || \
		echo "chromium is not installed (needs root): the browser tests will fail until it is"

bench: setup
	$(BIN)/python -m bench

# The ledger's randomized invariant test and its crash test at many times their `make test` size:
# 300 runs of 50 random operations, and 10 SIGKILLs under load (about half an hour).
soak: setup
	REGISTRY_SOAK_EXAMPLES=300 REGISTRY_SOAK_STEPS=50 REGISTRY_SOAK_KILLS=10 $(BIN)/pytest -q -p no:logging --timeout=0 \
		services/ledger/tests/integration/test_stateful.py \
		services/ledger/tests/integration/test_concurrency.py::test_a6r22_sigkill_under_load_loses_no_acknowledged_transaction

clean: down
	rm -rf .data
