"""Evaluation of encoders: the score functions, their registry, the battery, figures and report.

Modules: ``metrics`` (pure numpy/scikit-learn score functions, importable on their own, e.g. by
training's per-epoch monitor), ``scores`` (the registry: one entry per score), ``battery`` (every
registered score of one run's embeddings), ``plots`` (figures), ``report`` (comparison table,
ranking, Markdown and HTML) and ``metrics_file`` (DVC's metrics). Nothing is imported here, so
importing one module does not pull in the others.
"""
