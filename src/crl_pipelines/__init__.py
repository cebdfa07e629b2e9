"""crl_pipelines: compare contrastive representation learning losses, reproducibly.

The modules directly under this package (``data``, ``sampling``, ``models``, ``losses``, ``train``,
``embed``, ``metrics``, ``plots``, ``report``) are a framework-free library: they import no Kedro.
``pipelines``, ``datasets``, ``hooks`` and ``pipeline_registry`` adapt it to Kedro.
"""

__version__ = "0.1.0"
