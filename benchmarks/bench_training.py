"""Training throughput: the guide's own training loop against the project's trainer.

Run: ``.venv/bin/python benchmarks/bench_training.py [--rounds 3] [--batch-pairs 10]
[--device cpu|cuda] [--default-run]``. Prints the machine, then one table row per round (the
ways alternated in one run: guide-style, project, project fused, guide-style, ...), the median
images/s of each way and their ratios, the model-FLOP utilization and the peak memory.

Both ways train the same encoder (ResNet-18 with the guide's stem: 7×7 stride-2 conv and
max-pool; the 32-d linear projector; the same initial weights) with Adam (lr 1e-3) and the margin
pair loss on the same images: scikit-learn's digits, a stratified subset upscaled to 28×28.

- **guide-style**: the guide's loop written out here. A ``torch.utils.data.Dataset`` whose
  ``__getitem__(i)`` picks, in Python (``random.Random``), another image of image i's class as
  its positive and returns both as float tensors with the label; a ``DataLoader`` (shuffled,
  ``num_workers=0``, ``drop_last``) collates ``--batch-pairs`` such pairs; two forward passes
  (the anchor batch, then the positive batch); the loss ``y·d² + (1−y)·max(0, m − d)²`` (m = 1)
  averaged over every (anchor i, positive j) of the batch: (i, i) is the drawn positive pair,
  (i, j≠i) the in-batch negatives, with y = 1 when the two labels agree (a shuffled batch may
  hold two pairs of one class); ``loss.item()`` summed every step, as the guide prints it.
- **project**: ``crl_pipelines.training.train_encoder`` with the contrastive loss on a
  ``class_pairs`` plan of ``--batch-pairs / 10`` pairs per class (one forward pass over anchors
  and positives together), no validation, no checkpoint.
- **project, 4 runs fused**: the default run's four losses (contrastive, triplet, NT-Xent,
  cross-entropy) trained together on one such plan (``crl_pipelines.training.fused``: one batch,
  one forward pass per encoder on the CPU or one grouped pass on CUDA, one backward, one
  optimizer step); its images/s are summed over the four runs, as the issue's target counts them.

Timing: the seconds of the epochs only, set-up (building the model, the loader, the plan) left
out: the guide-style loop is timed around its epochs; the project's time is the sum of
``progress.history[i]["seconds"]`` (the loop's own per-epoch clock). An untimed warm-up round of
each way comes first. Model-FLOP utilization: images/s × training FLOPs an image (3 × one
forward, counted by ``FlopCounterMode``) ÷ the peak: on the CPU a measured float32 matmul rate
(not a datasheet peak) unless ``--peak-gflops`` is given; on CUDA ``--peak-tflops`` (bf16 dense;
by default the datasheet's for a GPU in ``DATASHEET_TFLOPS``). ``--precision`` applies to both
ways; ``auto`` is the trainer's default (bf16 autocast on CUDA, fp32 on the CPU). Peak memory:
the RSS high-water mark of each round on the CPU, ``torch.cuda.max_memory_allocated`` on CUDA.

``--default-run`` (minutes; off by default) also times the experiments of
``conf/base/parameters.yml`` (seed 0, their per-epoch validation monitor, no checkpoint), each a
``train_encoder`` call: wall time and images/s of each, and of all together; then the same
experiments trained together where ``training.fuse`` groups them (as the pipeline does).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import random
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

os.environ.setdefault("CRL_PIPELINES_PROGRESS", "0")

CLASSES = 10  # digits
MARGIN = 1.0
LEARNING_RATE = 1e-3
DATASHEET_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0}  # bf16 dense, no sparsity
PARAMETERS = Path(__file__).resolve().parents[1] / "conf" / "base" / "parameters.yml"


@dataclasses.dataclass(frozen=True)
class Result:
    """One timed round of one way."""

    images: int  # images the timed epochs forwarded (anchors and positives)
    seconds: float
    peak_mib: float  # peak memory of the round
    start_mib: float | None  # memory in use when the round's peak was reset (None: not reset)

    @property
    def memory(self) -> str:
        """The peak, and how far it rose above the round's start."""
        if self.start_mib is None:
            return f"{self.peak_mib:.0f} (process)"
        return f"{self.peak_mib:.0f} (+{self.peak_mib - self.start_mib:.0f})"

    @property
    def rate(self) -> float:
        return self.images / self.seconds


def guide_model() -> Any:
    from crl_pipelines.encoder_settings import ModelSettings

    return ModelSettings(arch="resnet18", stem="guide")


def digits_28(count: int, size: int = 28) -> Any:
    """A stratified subset of ``count`` digits, resized to size × size (Pillow bilinear)."""
    from crl_pipelines.images import stratified_subsample
    from crl_pipelines.sources.digits import load_digits_dataset
    from crl_pipelines.sources.transforms import conform

    return conform(stratified_subsample(load_digits_dataset(), count, seed=0), image_size=size)


def fresh_encoder(train: Any, device: torch.device) -> torch.nn.Module:
    """The encoder both ways start from (seed 0, as ``train_encoder`` builds it)."""
    from crl_pipelines.models import build_encoder
    from crl_pipelines.training.job import encoder_config

    return build_encoder(encoder_config(train, guide_model()), seed=0).to(device).train()


# ---- memory ------------------------------------------------------------------------------------


def _status_mib(key: str) -> float | None:
    """A ``/proc/self/status`` memory line (Linux), in MiB; None where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak(device: torch.device) -> float | None:
    """Start a fresh peak: CUDA's allocator statistics, or Linux's RSS high-water mark
    (``clear_refs`` 5). Returns the memory in use at the start (MiB), None where the CPU peak
    cannot be reset (it is then the process's since it began)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device) / 2**20
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _status_mib("VmRSS")


def peak_mib(device: torch.device) -> float:
    """Peak memory since :func:`reset_peak`: CUDA allocated, or resident set size (MiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    high_water = _status_mib("VmHWM")
    if high_water is not None:
        return high_water
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---- the guide-style loop ----------------------------------------------------------------------


class GuidePairs(Dataset):
    """The guide's pair dataset: item i is image i, a random other image of its class (picked
    in Python on every access), and its label."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int) -> None:
        self.images, self.labels = images, labels
        self.by_class = {int(k): np.flatnonzero(labels == k).tolist() for k in np.unique(labels)}
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        label = int(self.labels[i])
        j = i
        while j == i:
            j = self.rng.choice(self.by_class[label])
        anchor = torch.from_numpy(self.images[i]).float()
        return anchor, torch.from_numpy(self.images[j]).float(), label


def margin_pair_loss(
    anchors: torch.Tensor, positives: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """y·d² + (1−y)·max(0, m − d)² over every (anchor i, positive j) of the batch."""
    squared = (anchors[:, None, :] - positives[None, :, :]).pow(2).sum(dim=-1)
    distance = squared.clamp_min(1e-12).sqrt()
    similar = (labels[:, None] == labels[None, :]).float()
    push = (MARGIN - distance).clamp_min(0).pow(2)
    return (similar * squared + (1.0 - similar) * push).mean()


def guide_round(
    train: Any, batch_pairs: int, epochs: int, device: torch.device, bf16: bool, seed: int
) -> Result:
    """``epochs`` epochs of the guide-style loop; the time of the epochs only."""
    encoder = fresh_encoder(train, device)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=LEARNING_RATE)
    loader = DataLoader(
        GuidePairs(train.images, train.labels, seed),
        batch_size=batch_pairs,
        shuffle=True,
        num_workers=0,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    synchronize(device)
    start = reset_peak(device)
    seconds = 0.0
    for _ in range(epochs):
        started, running = time.perf_counter(), 0.0
        for anchors, positives, labels in loader:
            anchors, positives = anchors.to(device), positives.to(device)
            labels = labels.to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                anchor_embeddings = encoder(anchors)
                positive_embeddings = encoder(positives)
            loss = margin_pair_loss(anchor_embeddings.float(), positive_embeddings.float(), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running += loss.item()
        synchronize(device)
        seconds += time.perf_counter() - started
    return Result(epochs * len(loader) * 2 * batch_pairs, seconds, peak_mib(device), start)


# ---- the project's trainer ---------------------------------------------------------------------


def project_round(
    train: Any, batch_pairs: int, epochs: int, device: torch.device, precision: str, seed: int
) -> Result:
    """``epochs`` epochs of ``train_encoder`` on a class-pair plan; the loop's epoch seconds."""
    from crl_pipelines.experiments import Experiment
    from crl_pipelines.sampling.class_pairs import class_pair_plan
    from crl_pipelines.training.trainer import train_encoder
    from crl_pipelines.training_settings import TrainingSettings

    plan = class_pair_plan(train.labels, train.class_names, epochs, batch_pairs // CLASSES, seed)
    training = TrainingSettings(device=str(device), precision=precision, learning_rate=1e-3)
    experiment = Experiment(
        "contrastive", "contrastive", {"margin": MARGIN}, "class_pairs", guide_model(), training
    )
    start = reset_peak(device)
    _, progress = train_encoder(train, plan, experiment, seed=0)
    planned_epochs, steps, batch = plan["anchors"].shape
    seconds = sum(row["seconds"] for row in progress.history)
    return Result(planned_epochs * steps * 2 * batch, seconds, peak_mib(device), start)


FUSED = "project, 4 runs fused"
FUSED_LOSSES = {  # the default run's four experiments
    "contrastive": {"margin": MARGIN},
    "triplet": {"margin": MARGIN},
    "ntxent": {"temperature": 0.5},
    "cross_entropy": {},
}


def fused_round(
    train: Any, batch_pairs: int, epochs: int, device: torch.device, precision: str, seed: int
) -> Result:
    """The four default losses trained together (``training.fused``) on one class-pair plan;
    images of all four, the group's epoch seconds."""
    from crl_pipelines.experiments import Experiment
    from crl_pipelines.sampling.class_pairs import class_pair_plan
    from crl_pipelines.training.fused import train_together
    from crl_pipelines.training.job import Job
    from crl_pipelines.training_settings import TrainingSettings

    plan = class_pair_plan(train.labels, train.class_names, epochs, batch_pairs // CLASSES, seed)
    training = TrainingSettings(device=str(device), precision=precision, learning_rate=1e-3)
    jobs = [
        Job(train, plan, Experiment(loss, loss, params, "class_pairs", guide_model(), training),
            0, loss, None, None, 0.1)
        for loss, params in FUSED_LOSSES.items()
    ]  # fmt: skip
    start = reset_peak(device)
    progresses = train_together(jobs, device)
    planned_epochs, steps, batch = plan["anchors"].shape
    seconds = sum(row["seconds"] for row in progresses[0].history)
    images = len(jobs) * planned_epochs * steps * 2 * batch
    return Result(images, seconds, peak_mib(device), start)


# ---- FLOPs and the peak ------------------------------------------------------------------------


def forward_flops_per_image(train: Any, device: torch.device, batch: int) -> float:
    """FLOPs of one forward pass an image, counted over one batch (``FlopCounterMode``)."""
    from torch.utils.flop_counter import FlopCounterMode

    encoder = fresh_encoder(train, device)
    images = torch.from_numpy(train.images[:batch]).to(device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        encoder(images)
    return counter.get_total_flops() / len(images)


def measured_matmul_gflops(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """The best float32 n×n matmul rate of ``repeats`` (GFLOP/s): a measured rate."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best / 1e9


def peak_gflops(args: argparse.Namespace, device: torch.device) -> tuple[float | None, str]:
    """The peak the utilization is measured against, in GFLOP/s, and what it is."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        tflops = args.peak_tflops
        if tflops is None:
            tflops = next((v for k, v in DATASHEET_TFLOPS.items() if k in name), None)
        if tflops is None:
            return None, f"unknown for {name}: give --peak-tflops"
        return tflops * 1e3, f"{tflops:g} TFLOP/s, bf16 dense datasheet peak of {name}"
    if args.peak_gflops is not None:
        return args.peak_gflops, f"{args.peak_gflops:g} GFLOP/s, given on the command line"
    rate = measured_matmul_gflops(device)
    return rate, (
        f"{rate:.1f} GFLOP/s, a measured float32 2048×2048 matmul rate on this machine at "
        f"{torch.get_num_threads()} threads (not a datasheet peak)"
    )


# ---- the comparison ----------------------------------------------------------------------------


def machine_line(device: torch.device) -> str:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none used"
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; "
        f"torch {torch.__version__}; device {device} (GPU: {gpu}); "
        f"torch threads {torch.get_num_threads()}"
    )


def utilization(rate: float, train_flops: float, peak: float | None) -> str:
    return "n/a" if peak is None else f"{100 * rate * train_flops / (peak * 1e9):.2f} %"


def compare(args: argparse.Namespace, device: torch.device, bf16: bool) -> None:
    """The alternated rounds, their table, the medians and the ratio."""
    train = digits_28(args.images)
    epochs, pairs = args.epochs, args.batch_pairs
    steps = len(train.labels) // pairs
    print(
        f"data: {len(train.labels)} scikit-learn digits, 8×8 → 28×28 (Pillow bilinear), "
        f"{CLASSES} classes; model: resnet18, guide stem, 32-d projector; a step: {pairs} "
        f"pairs = {2 * pairs} images, {steps} steps an epoch, {epochs} epoch(s) a round; "
        f"Adam lr {LEARNING_RATE:g}; {'bf16 autocast' if bf16 else 'fp32'} (both ways)"
    )
    forward = forward_flops_per_image(train, device, 2 * pairs)
    peak, peak_text = peak_gflops(args, device)
    print(f"FLOPs an image: forward {forward / 1e6:.1f} M (FlopCounterMode over one batch of "
          f"{2 * pairs}), training ≈ 3 × forward = {3 * forward / 1e6:.1f} M")  # fmt: skip
    print(f"peak: {peak_text}\n")
    precision = "bf16" if bf16 else "fp32"
    warm = digits_28(max(100, 3 * pairs))
    guide_round(warm, pairs, 1, device, bf16, seed=99)  # untimed warm-up of each way
    project_round(warm, pairs, 1, device, precision, seed=99)
    fused_round(warm, pairs, 1, device, precision, seed=99)
    results: dict[str, list[Result]] = {"guide-style": [], "project": [], FUSED: []}
    memory = "RSS" if device.type == "cpu" else "CUDA allocated"
    memory = f"peak {memory} (MiB, + rise in the round)"
    print(f"| round | way | images | seconds | images/s | MFU | {memory} |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for index in range(args.rounds):
        for way in results:
            if way == "guide-style":
                result = guide_round(train, pairs, epochs, device, bf16, seed=index)
            elif way == "project":
                result = project_round(train, pairs, epochs, device, precision, seed=index)
            else:
                result = fused_round(train, pairs, epochs, device, precision, seed=index)
            results[way].append(result)
            print(f"| {index + 1} | {way} | {result.images} | {result.seconds:.2f} | "
                  f"{result.rate:.1f} | {utilization(result.rate, 3 * forward, peak)} | "
                  f"{result.memory} |", flush=True)  # fmt: skip
    summarize(results, 3 * forward, peak, device)


def summarize(
    results: dict[str, list[Result]], train_flops: float, peak: float | None, device: torch.device
) -> None:
    """Medians of each way, the ratio of the medians and the median of the per-round ratios."""
    print("\n| way | median images/s | range | median MFU |")
    print("|---|---:|---:|---:|")
    medians = {}
    for way, rounds in results.items():
        rates = [r.rate for r in rounds]
        medians[way] = statistics.median(rates)
        print(f"| {way} | {medians[way]:.1f} | {min(rates):.1f}–{max(rates):.1f} | "
              f"{utilization(medians[way], train_flops, peak)} |")  # fmt: skip
    print()
    for way in ("project", FUSED):
        per_round = [
            p.rate / g.rate for p, g in zip(results[way], results["guide-style"], strict=True)
        ]
        ratio = medians[way] / medians["guide-style"]
        print(
            f"ratio ({way} ÷ guide-style): of the medians {ratio:.2f}×, median of the per-round "
            f"ratios {statistics.median(per_round):.2f}× "
            f"({', '.join(f'{r:.2f}' for r in per_round)})"
        )
    if device.type == "cpu":
        print(
            "peak RSS: the process's high-water mark within each round (Linux clear_refs 5; "
            "'(process)': since the process began), and its rise above the RSS at the round's "
            "start; freed heap the allocator keeps still counts as resident"
        )


# ---- the default run ---------------------------------------------------------------------------


def default_inputs() -> tuple[Any, Any, Any]:
    """The default parameters' spec, and their train and validation splits as ingest makes them."""
    import yaml

    from crl_pipelines.images import hold_out_validation, split_train_test
    from crl_pipelines.sources import build_dataset
    from crl_pipelines.spec import build_spec

    spec = build_spec(yaml.safe_load(PARAMETERS.read_text()))
    ingest = spec.parameters.ingest
    dataset = build_dataset(ingest)
    train, _ = split_train_test(dataset, ingest.test_fraction, ingest.seed)
    train, validation = hold_out_validation(train, ingest.validation_fraction, ingest.seed)
    return spec, train, validation


def default_run(device: torch.device) -> None:
    """Each experiment of ``conf/base/parameters.yml`` (seed 0) through ``train_encoder``, with
    its per-epoch validation monitor, no checkpoint; wall time of each call, and summed."""
    from crl_pipelines.sampling import SAMPLINGS
    from crl_pipelines.training.fused import train_together
    from crl_pipelines.training.job import Job

    spec, train, validation = default_inputs()
    shared, plans = spec.parameters, {}
    print(f"\ndefault run ({PARAMETERS.relative_to(PARAMETERS.parents[2])}): {len(train.labels)} "
          f"train and {len(validation.labels) if validation else 0} validation images of "
          f"{train.images.shape[1:]}, model {shared.model.arch} ({shared.model.stem} stem), "
          f"seed {shared.seeds[0]}, device {device}\n")  # fmt: skip
    print("| experiment | plan (epochs × steps × pairs) | images | wall (s) | images/s |")
    print("|---|---|---:|---:|---:|")
    total_images, total_seconds, experiments = 0, 0.0, []
    for name, experiment in spec.experiments.items():
        training = experiment.training.model_copy(update={"device": str(device)})
        experiment = dataclasses.replace(experiment, training=training)
        experiments.append(experiment)
        if experiment.sampling not in plans:
            plans[experiment.sampling] = SAMPLINGS[experiment.sampling].make_plan(
                train, shared.pairs, shared.augment
            )
        plan = plans[experiment.sampling]
        started = time.perf_counter()
        job = Job(train, plan, experiment, shared.seeds[0], name, validation, None, 0.1)
        train_one_default(job)
        seconds = time.perf_counter() - started
        epochs, steps, batch = plan["anchors"].shape
        images = epochs * steps * 2 * batch
        total_images, total_seconds = total_images + images, total_seconds + seconds
        print(f"| {name} | {epochs} × {steps} × {batch} | {images} | {seconds:.1f} | "
              f"{images / seconds:.1f} |", flush=True)  # fmt: skip
    print(f"| **all {len(spec.experiments)}**, one after another | | {total_images} | "
          f"{total_seconds:.1f} | {total_images / total_seconds:.1f} |")  # fmt: skip
    jobs = [
        Job(train, plans[e.sampling], e, shared.seeds[0], e.name, validation, None, 0.1)
        for e in experiments
    ]
    started = time.perf_counter()
    for group in fusion_groups(jobs):
        if len(group) > 1:
            train_together(group, device)
        else:
            train_one_default(group[0])
    seconds = time.perf_counter() - started
    print(f"| **all {len(spec.experiments)}**, fused by plan and settings | | {total_images} | "
          f"{seconds:.1f} | {total_images / seconds:.1f} |")  # fmt: skip


def fusion_groups(jobs: list[Any]) -> list[list[Any]]:
    """The jobs that ``training.fused`` would train together, as the pipeline groups them."""
    from crl_pipelines.training.fused import fusion_key

    groups: dict[Any, list[Any]] = {}
    for job in jobs:
        groups.setdefault(fusion_key(job) or job.name, []).append(job)
    return list(groups.values())


def train_one_default(job: Any) -> None:
    from crl_pipelines.training.trainer import train_encoder

    train_encoder(
        job.train, job.plan, job.experiment, job.seed, name=job.name, validation=job.validation
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each way, alternated")
    parser.add_argument("--batch-pairs", type=int, default=10, help="pairs a step (×2 images)")
    parser.add_argument("--images", type=int, default=400, help="digits in the training subset")
    parser.add_argument("--epochs", type=int, default=1, help="epochs a round")
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", default=default_device, choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16"],
        help="of both ways; auto: bf16 autocast on CUDA, fp32 on the CPU",
    )
    parser.add_argument("--peak-gflops", type=float, help="CPU peak (default: a measured matmul)")
    parser.add_argument("--peak-tflops", type=float, help="CUDA bf16 dense peak (H200: 989)")
    parser.add_argument(
        "--default-run", action="store_true", help="also time the default run's experiments"
    )
    args = parser.parse_args()
    if args.batch_pairs % CLASSES:
        parser.error(f"--batch-pairs must be a multiple of {CLASSES} (pairs of every class)")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available here")
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")
    print(machine_line(device) + "\n")
    compare(args, device, bf16)
    if args.default_run:
        default_run(device)


if __name__ == "__main__":
    main()
