"""Studies: a grid over any parameters, each variant a DVC experiment, gathered into one report.

A study is one YAML file, ``conf/studies/<name>.yml``::

    name: feature_suppression         # the file's name; prefixes the DVC experiments' names
    description: What the study asks. # optional, shown in the report
    fixed:                            # dotted path -> value, set in every variant; a mapping
      pairs.epochs: 3                 # replaces the block whole (e.g. `experiments:`)
      experiments: {ntxent: {loss: ntxent, sampling: augmented_views}}
    grid:                             # dotted path -> values; the variants are the cartesian
      ingest.randbits.bits: [0, 1, 2] # product, the first parameter varying slowest
    scores: [probe_accuracy]          # what the report shows (default: probe_accuracy)
    x: ingest.randbits.bits           # the figures' x axis (default: the first grid parameter)

Every dotted path names a parameter of ``conf/base/parameters.yml`` or a new key of one of its
blocks (after ``fixed`` is applied, so the grid may vary inside a fixed block), and every variant
must pass the project's parameter check (:func:`crl_pipelines.spec.build_spec`), so a typo stops
the study before anything is queued, with one line naming the key.

``python -m crl_pipelines.studies run conf/studies/<name>.yml --jobs 2`` queues one DVC
experiment per variant, ``<name>-<index>`` (``dvc exp run --queue -S
'conf/base/parameters.yml:<path>=<value>' …``), starts ``dvc queue start -j <jobs>``, prints one
line per finished variant and the log tail of each failed one while the others go on, then
gathers. ``… report <name>`` gathers only: every variant's comparison table
(``data/08_reporting/comparison.csv``: every score, with its interval), read at the variant's
commit from the DVC cache (``dvc exp show --json`` names the commits), into
``data/09_studies/<name>/`` (``results.csv``, ``report.md``, one ``<score>.png`` per score).

Prerequisites, in the project root (``--root``):

- a git repository with at least one commit and DVC initialised: each variant is a DVC
  experiment on the current commit (its baseline), run by a queue worker in a temporary copy of
  the workspace as it is when queued (tracked files, uncommitted changes included; git-ignored
  files such as ``conf/local`` are not copied). Commit first, so the baseline is what you mean;
  ``report`` finds the experiments of the current commit only.
- raw data under ``data/01_raw`` tracked with ``dvc add`` (the copy gets it from the DVC cache).
- optional: a committed ``dvc repro`` (``dvc.lock``, with its outputs in the cache): a variant
  then re-runs only the stages its parameters reach; without it each variant runs every stage.
  Either way a stage whose inputs match an earlier run of any experiment comes from DVC's run
  cache instead of running again.

The queue workers run each variant's stages with this process's environment, less
``KEDRO_ENV`` (DVC reads ``conf/base`` only); ``OMP_NUM_THREADS`` defaults to the CPU count ÷
jobs, so parallel variants do not oversubscribe the CPU. A study is refused while one of its
variants is queued or running, or when an experiment of the current commit has a variant's name
already (``--replace`` removes those first, with ``dvc exp remove``).
"""

from crl_pipelines.studies.cli import gather, main, run_study
from crl_pipelines.studies.definition import (
    COMPARISON,
    PARAMETERS,
    REPORTS,
    StudySettings,
    Variant,
    check_study,
    hydra_value,
    load_study,
    study_file,
    variant_parameters,
    variants,
)
from crl_pipelines.studies.queue import base_parameters, parse_queue_status, wait_for
from crl_pipelines.studies.report import score_figure, write_report
from crl_pipelines.studies.results import (
    comparison_at,
    experiment_records,
    label,
    number,
    study_results,
)

__all__ = [
    "COMPARISON",
    "PARAMETERS",
    "REPORTS",
    "StudySettings",
    "Variant",
    "base_parameters",
    "check_study",
    "comparison_at",
    "experiment_records",
    "gather",
    "hydra_value",
    "label",
    "load_study",
    "main",
    "number",
    "parse_queue_status",
    "run_study",
    "score_figure",
    "study_file",
    "study_results",
    "variant_parameters",
    "variants",
    "wait_for",
    "write_report",
]
