# Tipline: `make run` to try it, `make test` to check it. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-pg lint typecheck pytest coverage setup model bench soak clean migration-reset help

help:
	@echo "make run     set everything up and serve http://$(HOST):$(PORT) (SMS printed to the console)"
	@echo "make test    lint, type-check and run the whole test suite"
	@echo "make bench   benchmarks (prints figures, writes bench/results/latest.json)"
	@echo "make soak    the worst-day soak test (10 minutes or less)"

$(STAMP): requirements.txt requirements-dev.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)
	$(BIN)/flask setup --demo

model: $(STAMP)
	$(BIN)/python -m triage train --if-missing

# The model first: the demo cases that `flask setup --demo` loads are ranked by it.
run: model setup
	@echo
	@echo "Tipline is starting on http://$(HOST):$(PORT)  (reporter pages at /, staff console at /console)"
	@echo "Demo staff sign-ins (password; the second factor comes from: $(BIN)/flask staff totp EMAIL):"
	@cat instance/demo_logins.txt 2>/dev/null | grep -v '^#' | sed 's/^/  /' || true
	@if [ -s instance/demo_reports.txt ]; then echo "Demo reports to open at /followup as their reporter (reference, receipt code):"; \
		sed 's/^/  /' instance/demo_reports.txt; fi
	@echo "SMS are printed here and listed at /console/dev/sms."
	@echo
	PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)} ALERT_IN_PROCESS_DISPATCHER=1 LOG_FORMAT=text \
		$(BIN)/flask run --host $(HOST) --port $(PORT) --with-threads

lint: $(STAMP)
	$(BIN)/ruff check app triage notifications tests bench

typecheck: $(STAMP)
	$(BIN)/mypy app triage notifications

# axe-core for the accessibility test (npm registry, pinned in package-lock.json, served locally to the browser).
# Without npm the test skips with a reason (CI, with TIPLINE_REQUIRE_BROWSER=1, fails instead).
AXE := node_modules/axe-core/axe.min.js
$(AXE): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the accessibility test will be skipped"; fi

# The suite runs on PYTEST_WORKERS processes (pytest-xdist), one per core of the 2-core machines it is made for;
# PYTEST_WORKERS=0 runs it in this one process. The model is trained first, once, not by each worker.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile

pytest: $(STAMP) $(AXE) model
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The suite under branch coverage, with the report: a third slower, so not part of `make test`.
coverage: $(STAMP) $(AXE) model
	$(BIN)/python -m pytest $(XDIST) --cov --cov-branch --cov-report=term:skip-covered $(PYTEST_ARGS)

test: lint typecheck pytest

# The suite against PostgreSQL (a fresh schema per run); .ci/run calls it.
test-pg: $(STAMP) $(AXE) model
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
		$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

soak: $(STAMP)
	$(BIN)/python -m bench.soak

# Development only: rebuild the single initial migration from the models (before the first release).
migration-reset: $(STAMP)
	rm -f migrations/versions/*.py
	d=$$(mktemp -d) && TIPLINE_INSTANCE_PATH=$$d DATABASE_URL=sqlite:///$$d/m.db $(BIN)/flask db migrate -m "initial schema"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
