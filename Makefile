# Two commands do all the set-up on a fresh machine:
#   make train   creates .venv, installs kerasclf (what training needs), trains the default config on the shipped sample
#   make test    creates .venv, installs kerasclf with its dev extra (keras-hub, TensorFlow, test tools), runs the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CORE   := $(VENV)/.installed-core
DEV    := $(VENV)/.installed-dev

.PHONY: setup train test readme clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(CORE): pyproject.toml | $(VENV)/bin/python
	# torch first, pinned to the build this machine has (a CPU wheel); pyproject asks for torch>=2.4
	$(PY) -m pip install -q "torch==2.13.0" || $(PY) -m pip install -q "torch>=2.4"
	$(PY) -m pip install -q -e .
	touch $(CORE)

$(DEV): $(CORE)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(DEV)

setup: $(CORE)

train: $(CORE)
	$(PY) -m kerasclf.train

test: $(DEV)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m pytest -q -p no:cacheprovider tests

# the README's reproducible figures (sample-run accuracy, predict and API outputs), rewritten from a fresh run
readme: $(DEV)
	$(PY) bench/readme_figures.py --write

clean:
	rm -rf $(VENV) runs bench/out
