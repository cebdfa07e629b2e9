"""Project settings (Kedro defaults except for the hooks and the configuration environments)."""

from crl_pipelines.hooks import ProjectHooks

HOOKS = (ProjectHooks(),)

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
