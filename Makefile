# `make test` and `make demo` work on a fresh clone: both build .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: venv test demo bench lint clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	# torch first, through the constraints file, so no CUDA packages are pulled.
	$(PIP) install -c constraints.txt torch
	$(PIP) install -c constraints.txt -e ".[dev]"
	touch $@

test: venv
	$(PY) -m pytest -q

demo: venv
	$(PY) -m hybridgen.demo

# The SDV project's ctgan and sdmetrics need pandas < 3, so the benchmarks get their own
# environment. BENCH_EPOCHS=300 is the ANCHORS.md protocol: hours on a 2-core CPU.
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_EPOCHS ?= 300
BENCH_MODELS ?= gmm,vae,vae-beta0.5,vaegan,tvae,ctgan

$(BENCH_VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip --disable-pip-version-check -q install -c constraints.txt torch
	$(BENCH_PY) -m pip --disable-pip-version-check -q install -c constraints.txt -e ".[dev,bench]"
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_PY) -m pytest -q tests/test_metrics.py -k sdmetrics
	$(BENCH_PY) benchmarks/bench_transformer.py
	$(BENCH_PY) benchmarks/bench_gmm_speed.py --device cpu
	$(BENCH_PY) benchmarks/bench_adult.py --models $(BENCH_MODELS) --epochs $(BENCH_EPOCHS)

lint: venv
	$(VENV)/bin/ruff check hybridgen tests benchmarks
	$(VENV)/bin/mypy hybridgen

clean:
	rm -rf $(VENV) $(BENCH_VENV) build *.egg-info .pytest_cache
