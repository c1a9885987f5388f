# Two commands: `make run` (the service locally, no AWS account) and `make test` (lint + every test).
# Everything they need is installed here, from nothing, on first use.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint unit bench clean openapi demo retention

$(STAMP): pyproject.toml shared/requirements.txt requirements-dev.txt
	@rm -rf $(VENV)
	"$$(scripts/find-python.sh)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet ".[dev]"
	@touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -q -n 2

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

run: $(STAMP)
	$(PY) -m local_run

bench: $(STAMP)
	$(PY) bench/planner.py
	$(PY) bench/cel_libraries.py

openapi: $(STAMP)
	$(PY) scripts/openapi.py

demo: $(STAMP)
	$(PY) scripts/demo.py

retention: $(STAMP)
	curl -sf -X POST http://127.0.0.1:$${LOCAL_PORT:-8000}/local/schedules/RetentionFunction && echo

clean:
	rm -rf $(VENV) .tools .aws-sam .local node_modules
