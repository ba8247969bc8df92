# vizkit: `make lab` opens the course, `make test` checks everything. Both set up what they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.vizkit-installed
# The PyTorch pair that CI and this Makefile use (pyproject.toml states looser lower bounds).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# JupyterLab refuses to start as root (containers, CI) unless told; extra options: make lab LAB_ARGS="--port=9999"
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
LAB_ARGS ?=
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
# PyTorch's OpenMP threads spin while they wait; when the browser or anything else shares two cores, that
# makes small-model steps 5-7x slower (benchmarks/threads.py). Passive waiting costs nothing measurable.
export OMP_WAIT_POLICY := PASSIVE

.PHONY: setup data lab test lint unit notebooks browser lowest weights outputs student docs clean

setup: $(STAMP) data

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml Makefile etc/lab-overrides.json
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[test,teach]' $(TORCH_PINS)
	@# JupyterLab's news pop-up would cover the panels: no news, no update checks
	mkdir -p $(dir $(LAB_SETTINGS)) && cp etc/lab-overrides.json $(LAB_SETTINGS)
	@# the venv's Python kernel waits passively too, however JupyterLab or VS Code is started
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" \
	  --env OMP_WAIT_POLICY PASSIVE >/dev/null
	touch $(STAMP)

# Debian packages, installed when we are root on Debian: Fashion-MNIST unless vizkit finds it already, and
# Chromium for the browser test (Playwright's own browser download needs the internet). The list is worked out
# once, in the recipe (a make variable would import vizkit again at every mention).
data: $(STAMP)
	@pkgs="$$($(PY) -c 'from vizkit.data import find_fashion_mnist as f; f(download=False)' >/dev/null 2>&1 \
	         || echo dataset-fashion-mnist) $$([ -x /usr/bin/chromium ] || echo chromium)"; \
	pkgs=$$(echo $$pkgs); \
	if [ -n "$$pkgs" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -qq $$pkgs >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq $$pkgs; }); \
	  else echo "Not installed: $$pkgs. Fashion-MNIST downloads on first use" \
	            "(or: sudo apt-get install dataset-fashion-mnist); without chromium the browser test is skipped."; fi; fi

lab: setup
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) $(LAB_ARGS) notebooks/

lint: $(STAMP)
	$(VENV)/bin/ruff check vizkit tests benchmarks etc conftest.py
	$(VENV)/bin/mypy

# Prints line coverage per vizkit module (no threshold).
unit: setup
	$(PY) -m pytest -q tests --ignore=tests/browser --ignore=tests/student --cov=vizkit --cov-report=term

# The solved course under nbval. The student versions (make student), with only their checks failing, run in
# the browser test; tests/student runs them in a plain kernel only where that test cannot (no Chromium).
notebooks: setup
	VIZKIT_SMOKE=1 $(PY) -m pytest -q --nbval-lax --nbval-current-env notebooks
	$(PY) -m pytest -q tests/student

# Every notebook's student version in JupyterLab in Chromium, as a student: Run All, then every control once
# (SMOKE parameters).
browser: setup
	$(PY) -m pytest -q tests/browser

# pyproject.toml's lower bounds: the unit tests in a second venv holding the lowest allowed versions (torch apart;
# see the script). Left to `make unit`, to keep CI within its time: the AlexNet notebook runs, and the tests of
# torch's own machinery (fx graphs of every architecture family, torch.distributed), whose torch is the same pair,
# and the check of CONTRIBUTING.md's commands, which tests documents rather than versions.
lowest: setup
	etc/lowest-versions.sh --ignore=tests/test_notebooks.py --ignore=tests/test_families.py \
	  --ignore=tests/test_distributed.py --ignore=tests/test_scan.py --ignore=tests/test_contributing.py

test: lint unit notebooks browser lowest

# Retrain the bundled fashion-cnn (minutes on two CPU cores); writes vizkit/weights/.
weights: setup
	$(PY) -m vizkit train

# Run every notebook at its default parameters and save it with its outputs (what GitHub shows), write the
# README's pictures and badges; each notebook must stay under 2 MB (etc/outputs.py).
outputs: setup
	$(PY) etc/outputs.py

# The student version of every notebook in student/ (git-ignored): nbgrader's stubs for the solutions, hidden
# tests removed, outputs cleared (etc/student.py; docs/teaching.md says how to hand it out and grade it).
student: setup
	$(PY) etc/student.py

# The API reference (pdoc) in docs/api/ (git-ignored): a page for every public module (etc/docs.py); any pdoc
# warning fails the build.
docs: $(STAMP)
	$(PY) etc/docs.py docs/api

clean:
	rm -rf $(VENV) .venv-lowest .pytest_cache .ruff_cache
