# The commands a newcomer needs. Python 3.12 (what CI runs; the function runtime is python312).
# Python 3.12 found the way CI finds it (python3.12, else pyenv's 3.12), else python3.
PY ?= $(shell bash .ci/run --which-python 2>/dev/null || echo python3)
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080
HOST ?= 127.0.0.1

.PHONY: install test test-fast lint docs run dev preflight deploy manifest manifest-dev bench bench-smoke bench-usage fuzz clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

POLICY_VENV ?= infra/policy/.venv

install: $(VENV)/.installed  ## everything: function, infra, tests, benchmarks; the policy pack's own venv

# Installed once per change of a requirements file or pyproject.toml: `make test` with nothing
# changed does not touch the package index.
REQUIREMENTS := requirements.txt function/requirements.txt infra/requirements.txt tests/requirements.txt \
	infra/policy/requirements.txt pyproject.toml
$(VENV)/.installed: $(BIN)/python $(POLICY_VENV)/bin/python $(REQUIREMENTS)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(POLICY_VENV)/bin/pip install -q -r infra/policy/requirements.txt
	$(POLICY_VENV)/bin/pip install -q --no-deps -e .
	@touch $@

# The policy pack's own virtualenv (infra/policy/PulumiPolicy.yaml): its protobuf pin stays there.
$(POLICY_VENV)/bin/python:
	$(PY) -m venv $(POLICY_VENV)

# Measured on 2 cores (2026-12-07): -n 4 79 s, -n 6 64-70 s, -n 8 75-80 s (the tests mostly wait on loopback I/O).
TEST_WORKERS ?= 6
test: install  ## the whole suite, offline (loopback fakes only); TEST_WORKERS=0 runs it in one process
	$(BIN)/python -m pytest -q $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS))

test-fast:  ## unit and integration tests only (no function process), without reinstalling
	$(BIN)/python -m pytest -q -m "not e2e" $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS))

lint:  ## what CI checks: ruff, ruff format, the layout's import contracts (pyproject.toml), docs/configure.md up to date
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m infra.configure_doc --check

docs:  ## regenerate docs/configure.md's tables (settings.SETTINGS, infra/config.py KEYS, Pulumi.yaml)
	$(BIN)/python -m infra.configure_doc

run:  ## the local run over HTTP: the same code, no cloud (README "Local run")
	@HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m teambot.dev.local

dev:  ## local development over Socket Mode, no public URL (README "Local development")
	@$(BIN)/python -m teambot.dev.socket_mode

preflight:  ## before the first deploy: make preflight PROJECT=your-project [REGION=europe-west1] [PUBLIC_ACCESS=invokerIamCheckDisabled]
	@test -n "$(PROJECT)" || { echo "usage: make preflight PROJECT=your-project [REGION=...] [PUBLIC_ACCESS=...]"; exit 2; }
	$(BIN)/python -m infra.preflight --project $(PROJECT) $(if $(REGION),--region $(REGION)) $(if $(PUBLIC_ACCESS),--public-access $(PUBLIC_ACCESS))

# Checked before anything runs (not even `make install`), and said in one line.
ifneq ($(filter deploy manifest,$(MAKECMDGOALS)),)
ifeq ($(shell command -v pulumi 2>/dev/null),)
$(error the Pulumi CLI is not installed: install it from https://www.pulumi.com/docs/install/ (curl -fsSL https://get.pulumi.com | sh), then run `make $(MAKECMDGOALS)` again)
endif
endif

# No PYTHONPATH: the program is the project root (Pulumi.yaml, __main__.py), where the dynamic
# providers' process starts and imports `infra` from.
deploy: install  ## first time: see README "Deploy"
	pulumi up

# Written to a temporary file and moved into place only on success: never an empty or partial file.
manifest:  ## the Slack app manifest with the deployed URL (manual path)
	@tmp=$$(mktemp .slack_manifest.XXXXXX) && trap 'rm -f "$$tmp"' EXIT && \
	if pulumi stack output slack_manifest > "$$tmp" && [ -s "$$tmp" ]; then \
		mv "$$tmp" slack_manifest.rendered.yaml && echo "wrote slack_manifest.rendered.yaml"; \
	else echo "no manifest written: \`pulumi stack output slack_manifest\` failed (has \`pulumi up\` run on this stack?)" >&2; exit 1; fi

manifest-dev:  ## the Socket Mode variant of the manifest, for `make dev` (no request URLs)
	$(BIN)/python -m infra.manifest --socket-mode > slack_manifest.dev.yaml
	@echo "wrote slack_manifest.dev.yaml"

bench: install  ## full benchmarks -> BENCHMARKS.md figures (a few minutes)
	$(BIN)/python -m bench.run_all

bench-smoke:  ## a short run so the scripts don't rot (CI)
	$(BIN)/python -m bench.run_all --smoke

bench-usage: install  ## the usage ledger's cost per answer, on the Firestore emulator -> BENCHMARKS.md section
	$(BIN)/python -m bench.usage_ledger

fuzz:  ## the long fuzz run quoted in SECURITY.md
	FUZZ_EXAMPLES=10000 $(BIN)/python -m pytest -q -o timeout=3600 tests/e2e/test_fuzz_ingress.py

clean:
	rm -rf $(VENV) $(POLICY_VENV) .pytest_cache .ruff_cache
