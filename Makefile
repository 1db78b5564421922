# Two commands for a fresh machine: `make run` (the bots) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q

.PHONY: run test demo bench clean

$(VENV)/.run-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	# The CPU build of torch first: argostranslate's dependencies would otherwise pull GPU builds.
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[all]'
	touch $@

$(VENV)/.test-installed: $(VENV)/.run-installed
	$(PIP) install -e '.[test]'
	touch $@

run: $(VENV)/.run-installed
	$(VENV)/bin/tessera run

demo: $(VENV)/.run-installed
	$(VENV)/bin/tessera demo

test: $(VENV)/.test-installed
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.test-installed
	$(PY) -m bench

clean:
	rm -rf $(VENV) data .pytest_cache
