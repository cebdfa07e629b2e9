"""The GPU check: one command for a machine with a GPU (`make gpu-check`, or
``python3 scripts/gpu_check.py``), under 8 minutes, printing one table.

It needs torch, torchvision, numpy, scikit-learn, scipy, statsmodels, matplotlib, pandas, rich,
PyYAML, pytest and pydantic, not Kedro or DVC: the library is imported from ``src/`` as it is,
not installed. A GPU image without pydantic takes the wheels ``make gpu-wheels`` downloads into
``.whl/`` (carry that folder): they are installed into a temporary folder first.

Steps, each a row of the table:

1. **environment**: Python, torch, the device.
2. **CUDA tests**: the suite's tests marked ``gpu`` (augmentations on the GPU equal the CPU's,
   fused training on CUDA, with its grouped forward pass, against each run alone, bf16
   training, the losses on CUDA), with pytest.
3. **training benchmark**: ``benchmarks/bench_training.py --device cuda``: the guide-style loop
   against the project's trainer and the four losses fused (images/s, MFU, peak memory).
4. **guide MNIST-sized fused run**: the guide's setting through the library: 3000 images of
   28×28 (scikit-learn's digits upscaled; MNIST itself is not on the machine), ResNet-18 with
   the guide's stem, a 32-d embedding, one pair of each class a batch, 10 epochs, the four
   losses (contrastive, triplet, NT-Xent, cross-entropy) trained together in one step on one
   plan, with the validation monitor; its time, images/s and each loss's validation kNN.

On a machine without CUDA, steps 2 and 4 run what they can on the CPU (the tests skip their
CUDA cases and say so; the fused run at a smoke size: 300 images, one epoch, the small CNN), and
step 3 is skipped, saying so: the check runs everywhere, so it cannot rot.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / ".whl"
NEEDED = [
    "torch", "torchvision", "numpy", "sklearn", "scipy", "statsmodels", "matplotlib", "pandas",
    "rich", "yaml", "pytest", "pydantic",
]  # fmt: skip
CUDA_TESTS = [
    "tests/unit/test_augment.py",
    "tests/unit/test_fused.py",
    "tests/unit/test_losses_more.py",
    "tests/unit/test_train.py",
]
LOSSES = ("contrastive", "triplet", "ntxent", "cross_entropy")

Row = tuple[str, str, float, str]  # step, status, seconds, detail


def missing_modules() -> list[str]:
    import importlib.util

    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


# What a GPU image may lack, at this machine's versions: downloaded for that image's Python
CARRIED = ("pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions")
GPU_PYTHON = "3.12"


def download_wheels() -> int:
    """Download the wheels of :data:`CARRIED` (this environment's versions) for the GPU image's
    Python into ``.whl/`` (git ignores it)."""
    import importlib.metadata

    pinned = [f"{name}=={importlib.metadata.version(name)}" for name in CARRIED]
    platforms = ["manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64"]
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--python-version", GPU_PYTHON, "--implementation", "cp", "-d", str(WHEELS),
        *(f"--platform={name}" for name in platforms), *pinned,
    ]  # fmt: skip
    return subprocess.run(command).returncode


def install_carried_wheels(missing: list[str]) -> str | None:
    """Install the wheels of ``.whl/`` into a temporary folder on the path; None when every
    module is then importable, else why not."""
    wheels = sorted(WHEELS.glob("*.whl"))
    if not wheels:
        return (
            f"missing here: {', '.join(missing)}; run `make gpu-wheels` where pip works and "
            "carry the .whl folder"
        )
    target = Path(tempfile.mkdtemp(prefix="gpu-check-site-"))
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    subprocess.run([*command, "--target", str(target), *map(str, wheels)], check=True)
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(target), os.environ.get("PYTHONPATH")])
    )
    still = missing_modules()
    return f"still missing after installing .whl: {', '.join(still)}" if still else None


def run_step(name: str, step: Callable[[], tuple[str, str]]) -> Row:
    print(f"\n== {name}", flush=True)
    started = time.perf_counter()
    try:
        status, detail = step()
    except Exception as error:  # a failed step is a row of the table, the others still run
        status, detail = "FAILED", f"{type(error).__name__}: {error}"
    return name, status, time.perf_counter() - started, detail


def environment() -> tuple[str, str]:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA: CPU only"
    return "ok", f"Python {platform.python_version()}, torch {torch.__version__}, {device}"


def cuda_tests() -> tuple[str, str]:
    import torch

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", *CUDA_TESTS],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    print(result.stdout[-3000:] + result.stderr[-2000:])
    summary = (result.stdout.strip().splitlines() or ["no output"])[-1].strip("= ")
    if result.returncode != 0:
        return "FAILED", summary
    if not torch.cuda.is_available():
        return "skipped (no CUDA)", f"{summary}: their CUDA cases skip on the CPU"
    return "ok", summary


def training_benchmark() -> tuple[str, str]:
    import torch

    if not torch.cuda.is_available():
        return "skipped (no CUDA)", "benchmarks/bench_training.py --device cuda needs a GPU"
    result = subprocess.run(
        [sys.executable, "benchmarks/bench_training.py", "--device", "cuda", "--rounds", "3",
         "--images", "2000", "--epochs", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    print(result.stdout + result.stderr[-2000:])
    if result.returncode != 0:
        return "FAILED", (result.stderr.strip().splitlines() or ["no output"])[-1]
    ratios = [line for line in result.stdout.splitlines() if line.startswith("ratio (")]
    return "ok", "; ".join(ratios) or "see the table above"


def fused_run(full: bool) -> tuple[str, str]:
    """The guide's MNIST-sized run of the four losses in one step (a smoke size on the CPU)."""
    import torch

    from crl_pipelines.encoder_settings import ModelSettings
    from crl_pipelines.experiments import Experiment
    from crl_pipelines.images import hold_out_validation
    from crl_pipelines.losses import check_loss_params
    from crl_pipelines.sampling import SAMPLINGS, PairsSettings
    from crl_pipelines.training.fused import train_together
    from crl_pipelines.training.job import Job
    from crl_pipelines.training_settings import TrainingSettings

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    count, epochs = (3000, 10) if full else (300, 1)
    model = (
        ModelSettings(arch="resnet18", stem="guide") if full else ModelSettings(arch="small_cnn")
    )
    train, validation = hold_out_validation(mnist_sized(count), 0.1, 0)
    plan = SAMPLINGS["class_pairs"].make_plan(
        train, PairsSettings(epochs=epochs, pairs_per_class=1), None
    )
    training = TrainingSettings(device=str(device))
    jobs = [
        Job(train, plan, Experiment(loss, loss, check_loss_params(loss, None, loss), "class_pairs",
                                    model, training), 0, loss, validation, None, 0.1)
        for loss in LOSSES
    ]  # fmt: skip
    started = time.perf_counter()
    progresses = train_together(jobs, device)
    seconds = time.perf_counter() - started
    _, steps, batch = plan["anchors"].shape
    forwarded = len(LOSSES) * epochs * steps * 2 * batch
    knn = ", ".join(
        f"{loss} {progress.history[-1]['val_knn_accuracy']:.3f}"
        for loss, progress in zip(LOSSES, progresses, strict=True)
    )
    size = f"{len(train.labels)} train images of 28×28, {epochs} epochs × {steps} steps of {batch}"
    detail = f"{size}, {model.arch}; {forwarded / seconds:.0f} images/s; val kNN: {knn}"
    if not full:
        return "ok (CPU smoke size)", detail
    return "ok", detail


def mnist_sized(count: int):
    """``count`` images of 28×28 and their classes: scikit-learn's 1797 digits upscaled, then
    copies of them shifted by one or two pixels until there are ``count``."""
    import numpy as np

    from crl_pipelines.images import ImageDataset
    from crl_pipelines.sources.digits import load_digits_dataset
    from crl_pipelines.sources.transforms import conform

    digits = conform(load_digits_dataset(), image_size=28)
    rng = np.random.default_rng(0)
    rows = np.resize(np.arange(len(digits.labels)), count)
    shifts = (
        rng.integers(-2, 3, size=(count, 2)) * (np.arange(count) >= len(digits.labels))[:, None]
    )
    images = np.stack(
        [
            np.roll(digits.images[row], tuple(shift), axis=(1, 2))
            for row, shift in zip(rows, shifts, strict=True)
        ]
    )
    return ImageDataset(
        images, digits.labels[rows], digits.class_names, {"source": "digits, 28×28"}
    )


def table(rows: list[Row]) -> str:
    lines = ["| step | status | seconds | detail |", "|---|---|---:|---|"]
    lines += [
        f"| {name} | {status} | {seconds:.1f} | {detail} |"
        for name, status, seconds, detail in rows
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--download-wheels",
        action="store_true",
        help=f"download into .whl/ the wheels a GPU image may lack ({', '.join(CARRIED)})",
    )
    if parser.parse_args().download_wheels:
        return download_wheels()
    missing = missing_modules()
    if missing and (why := install_carried_wheels(missing)):
        print(f"error: {why}", file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH")])
    )
    os.environ.setdefault("CRL_PIPELINES_PROGRESS", "0")
    import torch

    full = torch.cuda.is_available()
    rows = [
        run_step("environment", environment),
        run_step("CUDA tests", cuda_tests),
        run_step("training benchmark", training_benchmark),
        run_step("guide MNIST-sized fused run", lambda: fused_run(full)),
    ]
    print("\n" + table(rows))
    return 1 if any(status == "FAILED" for _, status, _, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
