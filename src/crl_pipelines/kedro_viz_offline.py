"""kedro-viz without the network: its update check answered with the installed version.

Why: `kedro viz run` asks PyPI for kedro-viz's latest version before it starts the server, and
the server asks again for the page's version banner (``requests.get``, 30 s timeout each). On a
machine without internet (this project's CI, a cluster node) each start then waits a minute.
kedro-viz 12.5 has no setting or environment variable for it: `kedro_viz.launchers.cli.run` and
`kedro_viz.api.rest.responses.version` call `integrations.pypi.get_latest_version`
unconditionally (only requests' proxy variables reach it, and they would reroute every request).
So the check is answered without asking, as kedro-viz's static build does: the latest version is
the installed one. (Answering "unknown" would not do: the server compares the versions as
strings, and "12.5.0" < "None" makes the page say an update is due.)

The project's settings (:mod:`crl_pipelines.settings`) call :func:`skip_update_check`: Kedro
imports them before `kedro viz run` makes the check, and the server process imports them when it
loads the project (the endpoint may already hold its own reference, which is replaced too).
"""

from __future__ import annotations

import importlib.util
import sys


def skip_update_check() -> None:
    """Make kedro-viz's "latest version" the installed one (nothing when kedro-viz is absent)."""
    if importlib.util.find_spec("kedro_viz") is None:
        return
    from kedro_viz import __version__
    from kedro_viz.integrations import pypi
    from packaging.version import parse

    installed = parse(__version__)

    def latest_is_installed():
        return installed

    pypi.get_latest_version = latest_is_installed
    version_endpoint = sys.modules.get("kedro_viz.api.rest.responses.version")
    if version_endpoint is not None:
        version_endpoint.get_latest_version = latest_is_installed
