"""Shared test settings: no telemetry, no network, a headless matplotlib; and, when the suite
runs on two workers (`make test`: pytest-xdist), one torch thread for each worker and each
process it starts, so that they do not fight over the two cores."""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# scikit-learn's k-means asks joblib for the physical cores, which runs `lscpu`: say it here
os.environ.setdefault("LOKY_MAX_CPU_COUNT", str(os.cpu_count() or 1))
