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

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(WEB_STAMP): web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd web && npm ci --no-audit --no-fund; \
	else \
		echo "warning: npm not found: the dashboard runs without charts (install Node.js and npm)"; \
	fi

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
	$(BIN)/python -m bench.speed

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache web/node_modules
