# One-command set-up: `make run` and `make test` each create .venv on a fresh machine first.
# The variables below keep Kedro, kedro-viz and DVC from phoning home, so nothing waits on the network.
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export DVC_NO_ANALYTICS := 1
# DVC Studio, where DVC and DVCLive would post experiments and live metrics given a token
export DVC_STUDIO_OFFLINE := 1
export MPLBACKEND := Agg
# pip installs without byte-compiling every module of every dependency (half the install's time);
# Python compiles what a run imports, on first import, and keeps it (even where the shell says not to)
export PYTHONDONTWRITEBYTECODE :=

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run record test test-fast lint clean-data repro viz pipeline-picture gpu-check gpu-wheels

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install  ## the whole flow on the bundled digits (kedro run), then recorded in dvc.lock
	@$(BIN)/kedro run || { echo "nothing recorded in dvc.lock: kedro run failed" >&2; exit 1; }
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/dvc_record.py || true

record: install  ## record in dvc.lock the outputs a `kedro run` on conf/base made (dvc commit, seconds)
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/dvc_record.py

test: install  ## lint, then the whole test suite, on two workers (CI's command; ~8 min here)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/pytest -n 2 --dist loadgroup

test-fast: install  ## the unit tier: no subprocess, cluster or process group (under a minute)
	$(BIN)/pytest tests/unit -m "not processes" -q

repro: install  ## dvc repro: re-run the stages (dvc.yaml) whose code, data or parameters changed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

viz: install  ## kedro-viz on http://127.0.0.1:4141 (Ctrl-C stops it)
	$(BIN)/kedro viz run --host 127.0.0.1 --no-browser

pipeline-picture: install  ## re-render docs/pipeline.png for the README (needs Debian's chromium)
	$(BIN)/python scripts/render_pipeline.py

# the GPU image's python3 holds torch; here, the project's environment when there is one
CHECK_PYTHON = $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)

gpu-check:  ## on a GPU machine (no Kedro, no DVC needed): CUDA tests, the training benchmark, the guide's MNIST-sized fused run, one table (under 8 min); on a CPU it skips the CUDA parts
	$(CHECK_PYTHON) scripts/gpu_check.py

gpu-wheels: install  ## download into .whl/ the wheels a GPU image may lack (pydantic), to carry with the check
	$(BIN)/python scripts/gpu_check.py --download-wheels

clean-data:  ## remove what the pipelines wrote (data/02_* … 09_*, checkpoints); raw data stays
	rm -rf data/0[2-9]_* data/checkpoints

# DVC from a fresh clone (docs/dvc.md): the artifacts, the experiments table, the plots page.
.PHONY: pull exp-show plots

pull: install  ## dvc pull this commit's artifacts, or say in one line the cheapest way to make them
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/dvc_pull.py

exp-show: install  ## dvc exp show, short: each experiment's probe accuracy and the parameters that differ
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/exp_show.py

plots: install  ## dvc plots show: dvc_plots/index.html, which renders offline (.dvc/plots/)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc plots show
