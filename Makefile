# Two commands for a newcomer: `make lab` and `make test`. Every target is idempotent:
# stamp files make a second run skip what is already up to date.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
export PATH := $(abspath $(BIN)):$(PATH)

PY_SOURCES := $(shell find taskscope -name '*.py' -not -path '*/tests/*' 2>/dev/null)
TS_SOURCES := $(shell find src style schema -type f 2>/dev/null)

.PHONY: setup lab test test-py test-unit test-kernel test-ui bench clean

setup: $(STAMPS)/labext $(STAMPS)/py $(STAMPS)/chromium

$(STAMPS):
	mkdir -p $(STAMPS)

# The venv and the Python build tools, at the versions in the constraints file.
$(STAMPS)/venv: requirements/constraints.txt | $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements/constraints.txt \
	    jupyterlab hatchling hatch-jupyter-builder editables
	touch $@

$(STAMPS)/node: package.json package-lock.json | $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Build the labextension (TypeScript, then the federated bundle); no `jupyter lab build`.
$(STAMPS)/labext: $(STAMPS)/venv $(STAMPS)/node $(TS_SOURCES) package.json tsconfig.json
	npm run --silent build
	touch $@

# The package installed editable, its labextension linked into the venv.
$(STAMPS)/py: $(STAMPS)/venv pyproject.toml | $(STAMPS)/labext
	HATCH_JUPYTER_BUILDER_SKIP_NPM=1 $(BIN)/python -m pip install -q \
	    -c requirements/constraints.txt --no-build-isolation -e ".[test]"
	$(BIN)/jupyter labextension develop --overwrite . >/dev/null
	touch $@

$(STAMPS)/chromium: | $(STAMPS)
	@if [ ! -x /usr/bin/chromium ]; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi
	/usr/bin/chromium --version
	touch $@

lab: setup
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 binder/demo.ipynb

test: setup
	bash scripts/run-tests.sh

test-py: setup
	bash scripts/run-tests.sh py

test-unit: setup
	bash scripts/run-tests.sh unit

test-kernel: setup
	bash scripts/run-tests.sh kernel

test-ui: setup
	bash scripts/run-tests.sh ui

bench: setup
	for b in bench/w*.py; do $(BIN)/python $$b || exit 1; done
	npx tsc -p bench/tsconfig.tree.json && node /tmp/taskscope-tree-bench/bench/tree_bench.js
	TASKSCOPE_UI_PORT=8993 npx playwright test -c bench/panel_playwright.config.js

clean:
	rm -rf $(STAMPS) lib taskscope/labextension tsconfig.tsbuildinfo test-results
