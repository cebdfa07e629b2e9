"""Project settings (Kedro defaults except for the hooks, the configuration environments, and
kedro-viz's update check)."""

import importlib.util
import sys

from crl_pipelines.hooks import ProjectHooks

HOOKS = (ProjectHooks(),)

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}


def _skip_kedro_viz_update_check() -> None:
    """`kedro viz run` asks PyPI for kedro-viz's latest version before it starts the server, and
    the server asks again for the page's version banner (``requests.get``, 30 s timeout each).
    kedro-viz 12.5 has no setting or environment variable for it: `kedro_viz.launchers.cli.run`
    and `kedro_viz.api.rest.responses.version` call `integrations.pypi.get_latest_version`
    unconditionally (only requests' proxy variables reach it, and they would reroute every
    request). So answer without asking, as its static build does: the latest version is the
    installed one. (Answering "unknown" would not do: the server compares
    the versions as strings, and "12.5.0" < "None" makes the page say an update is due.)
    Kedro imports these settings before `kedro viz run` makes the check, and the server process
    imports them when it loads the project (the endpoint may already hold its own reference)."""
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


_skip_kedro_viz_update_check()
