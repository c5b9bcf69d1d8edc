# The README's two commands. Each sets itself up on a fresh machine: a local .venv with the CPU
# build of torch (pinned, so pip never pulls a multi-GB CUDA build), then the package in editable mode.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp-install

.PHONY: search forecast test nightly bench setup

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test,baselines]"
	$(PY) -m autofast.forecast.warmup  # numba kernels into numba's on-disk cache: no compile wait on the first forecast
	touch $(STAMP)

setup: $(STAMP)

## The main job on a bundled data set: DASHA (DASH -> ASHA -> retrain -> one test score) on splice.
search: $(STAMP)
	$(PY) -m autofast search --task splice

## Auto-AR forecasting on the bundled ETTh1, all four horizons.
forecast: $(STAMP)
	$(PY) -m autofast forecast --data ETTh1 --horizon 96 192 336 720

## The test suite (CPU; Triton kernels run in the interpreter).
test: $(STAMP)
	$(PY) -m pytest -q

## Everything, slow tests included, with the long fuzz profile (many kill points, ~1000 inputs per fuzz test).
nightly: $(STAMP)
	HYPOTHESIS_PROFILE=nightly $(PY) -m pytest -q -m ''

bench: $(STAMP)
	$(PY) -m pytest bench/ --benchmark-only -q
