"""Project settings: Kedro's defaults but for the hooks, the configuration loader (overrides that
change exactly the keys they name: :mod:`crl_pipelines.config_loader`) and the configuration
environments; and kedro-viz kept off the network (:mod:`crl_pipelines.kedro_viz_offline`)."""

from crl_pipelines.config_loader import ProjectConfigLoader
from crl_pipelines.hooks import ProjectHooks
from crl_pipelines.kedro_viz_offline import skip_update_check

HOOKS = (ProjectHooks(),)

CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}

skip_update_check()
