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

bench: venv
	$(PY) benchmarks/bench_transformer.py
	$(PY) benchmarks/bench_gmm_speed.py --device cpu

lint: venv
	$(VENV)/bin/ruff check hybridgen tests benchmarks
	$(VENV)/bin/mypy hybridgen

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
