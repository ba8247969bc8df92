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

.PHONY: setup data lab test lint unit notebooks weights clean

setup: $(STAMP) data

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml Makefile etc/lab-overrides.json
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[test]' $(TORCH_PINS)
	@# JupyterLab's news pop-up would cover the panels: no news, no update checks
	mkdir -p $(dir $(LAB_SETTINGS)) && cp etc/lab-overrides.json $(LAB_SETTINGS)
	touch $(STAMP)

# Fashion-MNIST: found where vizkit looks, else Debian's package when we are root on Debian.
data: $(STAMP)
	@$(PY) -c "from vizkit.data import find_fashion_mnist as f; f(download=False)" 2>/dev/null \
	  || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	         (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
	          || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }); \
	       else echo "Fashion-MNIST is not installed: vizkit will download it on first use" \
	                 "(or: sudo apt-get install dataset-fashion-mnist)"; fi; }

lab: setup
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) $(LAB_ARGS) notebooks/

lint: $(STAMP)
	$(VENV)/bin/ruff check vizkit tests benchmarks

unit: setup
	$(PY) -m pytest -q tests

notebooks: setup
	VIZKIT_SMOKE=1 $(PY) -m pytest -q --nbval-lax --nbval-current-env notebooks

test: lint unit notebooks

# Retrain the bundled fashion-cnn (minutes on two CPU cores); writes vizkit/weights/.
weights: setup
	$(PY) -m vizkit.train

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
