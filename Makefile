# The commands a newcomer needs. Python 3.11 or 3.12.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080
HOST ?= 127.0.0.1

.PHONY: install test test-fast lint run dev deploy manifest manifest-dev bench bench-smoke fuzz clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python  ## everything: function, infra, tests, benchmarks
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt

test: install  ## the whole suite, offline (loopback fakes only)
	$(BIN)/python -m pytest -q

test-fast:  ## without reinstalling
	$(BIN)/python -m pytest -q -x

lint:
	$(BIN)/ruff check .

run:  ## the local run over HTTP: the same code, no cloud (README "Local run")
	@HOST=$(HOST) PORT=$(PORT) PYTHONPATH=function $(BIN)/python -m teambot.local

dev:  ## local development over Socket Mode, no public URL (README "Local development")
	@PYTHONPATH=function $(BIN)/python -m teambot.socket_mode

deploy: install  ## first time: see README "Deploy"
	pulumi up

manifest:  ## the Slack app manifest with the deployed URL
	pulumi stack output slack_manifest > slack_manifest.rendered.yaml
	@echo "wrote slack_manifest.rendered.yaml"

manifest-dev:  ## the Socket Mode variant of the manifest, for `make dev` (no request URLs)
	$(BIN)/python -m infra.manifest --socket-mode > slack_manifest.dev.yaml
	@echo "wrote slack_manifest.dev.yaml"

bench: install  ## full benchmarks -> BENCHMARKS.md figures (a few minutes)
	$(BIN)/python -m bench.run_all

bench-smoke:  ## a short run so the scripts don't rot (CI)
	$(BIN)/python -m bench.run_all --smoke

fuzz:  ## the long fuzz run quoted in SECURITY.md
	FUZZ_EXAMPLES=10000 $(BIN)/python -m pytest -q -o timeout=3600 tests/test_fuzz_ingress.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
