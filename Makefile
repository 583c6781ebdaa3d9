# Every target creates/uses .venv itself: `make demo` and `make test` work on a fresh machine
# with nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Detection and access-log parsing compiled with mypyc (tools/compile.py): pure Python when
# no C compiler is at hand. `make pure` removes the compiled modules.
COMPILED := src/apiwatch/.compiled.json
COMPILED_SOURCES := tools/compile.py $(wildcard src/apiwatch/detect/*.py src/apiwatch/model/*.py src/apiwatch/sources/*.py)

.PHONY: demo test lint bench clean compile pure pack-matcher

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(COMPILED): $(STAMP) $(COMPILED_SOURCES)
	$(BIN)/python tools/compile.py

compile: $(COMPILED)

pure:
	$(PYTHON) tools/compile.py --remove

# The built-in pack's matcher generated ahead of time (src/apiwatch/detect/_pack.py): after a
# change to the built-in rules or to the matcher's code generation.
pack-matcher: $(STAMP)
	$(BIN)/python -m apiwatch.detect.prebuild

demo: $(COMPILED)
	$(BIN)/apiwatch demo

test: $(COMPILED)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(BIN)/python -m apiwatch.detect.prebuild --check

bench: $(COMPILED)
	$(BIN)/python bench/sensor_overhead.py
	$(BIN)/python bench/ingest_throughput.py
	$(BIN)/python bench/detect_throughput.py
	$(BIN)/python bench/ingest_stalled.py
	$(BIN)/python bench/console_latency.py

clean: pure
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
