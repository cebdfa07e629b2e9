"""The report's Jinja templates (package data, read by :mod:`crl_pipelines.evaluation.report`);
a package of its own so that installing does not warn that data sits outside any package."""
