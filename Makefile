# Every target creates/uses .venv itself: `make demo` and `make test` work on a fresh machine
# with nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Detection and access-log parsing compiled with mypyc (tools/compile.py): pure Python when
# no C compiler is at hand. `make pure` removes the compiled modules; `COMPILE=0` (e.g.
# `make test COMPILE=0`) keeps a target on pure Python.
COMPILE ?= 1
COMPILED := src/apiwatch/.compiled.json
COMPILED_SOURCES := tools/compile.py $(wildcard src/apiwatch/detect/*.py src/apiwatch/model/*.py src/apiwatch/sources/*.py)

.PHONY: demo test lint bench clean compile pure pack-matcher

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(COMPILED): $(STAMP) $(COMPILED_SOURCES)
	$(BIN)/python tools/compile.py $(if $(filter 0,$(COMPILE)),--remove)

compile: $(COMPILED)

pure:
	$(PYTHON) tools/compile.py --remove

# The built-in pack's matcher generated ahead of time (src/apiwatch/detect/_pack.py): after a
# change to the built-in rules or to the matcher's code generation.
pack-matcher: $(COMPILED)
	$(BIN)/python -m apiwatch.detect._prebuild

demo: $(COMPILED)
	$(BIN)/apiwatch demo

test: $(COMPILED)
	$(BIN)/python -m pytest -q

lint: $(COMPILED)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(BIN)/python -m apiwatch.detect._prebuild --check

bench: $(COMPILED)
	$(BIN)/python bench/sensor_overhead.py
	$(BIN)/python bench/ingest_throughput.py
	$(BIN)/python bench/detect_throughput.py
	$(BIN)/python bench/ingest_stalled.py
	$(BIN)/python bench/console_latency.py

clean: pure
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
