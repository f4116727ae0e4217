# `make test` is what CI runs; `make demo` builds the quickstart twice (the second run is a cache hit).
# Both do all their set-up themselves on a fresh Debian/Ubuntu machine as root, and are idempotent.

VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin

.PHONY: setup system venv test demo bench bench-pack bench-ml clean

setup: system venv

system:
	bash scripts/setup-system.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

test: setup
	$(BIN)/pytest -q

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

bench: setup
	$(BIN)/python bench/run.py
	$(BIN)/python bench/push.py

bench-pack: setup
	$(BIN)/python bench/pack.py

bench-ml: setup
	$(BIN)/python bench/ml.py $(ARGS)

clean:
	rm -rf $(VENV) .mlenv .pytest_cache
