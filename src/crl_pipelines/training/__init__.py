"""Training: one encoder, one loss, the shared sampling plan.

The train images and the plan live on the training device; a *step* (one per sampling,
:mod:`crl_pipelines.training.steps`) gathers a batch by index, makes its views there and runs one
forward pass; the *loop* (:mod:`~crl_pipelines.training.loop`) updates, records the history, runs
the per-epoch *monitor* and writes a *checkpoint* after every epoch, so an interrupted run resumes
and, on the CPU, ends with the same weights as an uninterrupted one. A run's inputs are a
:class:`~crl_pipelines.training.job.Job`; runs that share a plan and settings may be trained
together, one step for all (:mod:`~crl_pipelines.training.fused`). :mod:`~.trainer` composes
them (``train_encoder``). Nothing is imported here, so the settings (:mod:`~.settings`) load
without the training code.
"""
