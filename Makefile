# One-command set-up: `make run` and `make test` each create .venv on a fresh machine first.
# The variables below keep Kedro, kedro-viz and DVC from phoning home, so nothing waits on the network.
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export DVC_NO_ANALYTICS := 1
export MPLBACKEND := Agg

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test lint clean-data

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install  ## the whole flow on the bundled digits: ingest → pairs → train → embed → evaluate
	$(BIN)/kedro run

test: install  ## lint, then the test suite
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/pytest

clean-data:  ## remove every artifact under data/ (keeps the layer folders)
	find data -mindepth 2 ! -name .gitkeep -delete
