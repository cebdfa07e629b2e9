"""crl_pipelines: compare contrastive representation learning losses, reproducibly.

A framework-free library (no Kedro import): ``sources`` (data readers) and ``images`` (the
canonical dataset and its split), ``sampling`` (the saved plans), ``augment``, ``models`` and
``encoder_settings``, ``losses``, ``training``, ``embed``, ``evaluation`` (scores, intervals,
figures, the report), ``studies``, and the run specification that types every parameter once
(``parameters``, ``experiments``, ``spec``). The Kedro layer adapts it: ``pipelines``,
``pipeline_registry``, ``datasets``, ``hooks``, ``cli``, ``settings``, ``dask_runner``.
``docs/architecture.md`` is the map.
"""

__version__ = "0.1.0"
