"""The project's configuration loader: overrides change exactly the keys they name.

Kedro's loader merges a run's ``--params`` into each configuration folder before the folders are
merged, and an environment's top-level key replaces base's whole block: so ``--params
augment.blur.p=0.1`` under an environment that does not set ``augment`` turns ``augment`` into
``{blur: {p: 0.1}}``, and crop, rotation and brightness are gone without a word. Here the
parameters are built in layers, each over the effective parameters below it:

1. ``base/``;
2. a named environment (``--env test``, ``KEDRO_ENV=guide_mnist``): its top-level keys replace
   base's blocks, as documented in ``conf/README.md`` (an environment is a whole setting);
3. ``local/`` (read when no environment is named): an override, merged key by key;
4. the run's ``--params``: merged key by key, over whatever the environment made.

``dvc exp run -S`` edits ``conf/base/parameters.yml`` itself, line by line, so it changes exactly
its key too. A parameters file that is not a mapping, or not YAML, stops in one line naming it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from omegaconf import DictConfig, OmegaConf
from yaml.parser import ParserError
from yaml.scanner import ScannerError

from crl_pipelines.parameters import ParameterError

PARAMETERS = "parameters"


class ProjectConfigLoader(OmegaConfigLoader):
    """Kedro's ``OmegaConfigLoader``, but for how the parameters' layers merge (module doc)."""

    def _read_dir_configs(self, conf_path: str, patterns: Any, key: str, *args: Any) -> Any:
        """Kedro's reading of one folder, with a file that is not YAML, or (parameters) not a
        mapping, named in one line."""
        try:
            return super()._read_dir_configs(conf_path, patterns, key, *args)
        except (ParserError, ScannerError) as error:
            raise ParameterError(_not_yaml(error)) from error

    def _check_duplicates(self, key: str, config_per_file: dict[Path, Any]) -> None:
        if key == PARAMETERS:
            for path, config in config_per_file.items():
                if not isinstance(config, DictConfig):
                    raise ParameterError(
                        f"{path} holds a list or a value, not a mapping of parameters; write "
                        "it as `key: value` lines, as conf/base/parameters.yml is"
                    )
        super()._check_duplicates(key, config_per_file)

    def _merge_and_resolve(self, key: str, config_per_file: dict[Path, DictConfig]) -> Any:
        """One folder's files merged and resolved; for the parameters, without ``--params``
        (applied last, over the merged folders, by :meth:`_resolve_from_raw_config`)."""
        if key != PARAMETERS or not config_per_file:
            return super()._merge_and_resolve(key, config_per_file)
        merged = OmegaConf.unsafe_merge(*config_per_file.values())
        return OmegaConf.to_container(merged, resolve=True)

    def _merge_configs(
        self, config: dict[str, Any], env_config: dict[str, Any], key: str, env_path: str
    ) -> Any:
        """``local/`` merges key by key over base; a named environment replaces whole blocks."""
        if key == PARAMETERS and (self.env or self.default_run_env) == self.default_run_env:
            return self._soft_merge(config, env_config, env_path)
        return super()._merge_configs(config, env_config, key, env_path)

    def _resolve_from_raw_config(self, key: str, *args: Any) -> Any:
        """The folders merged, then, for the parameters, ``--params`` over them key by key."""
        merged = super()._resolve_from_raw_config(key, *args)
        if key != PARAMETERS or not self.runtime_params:
            return merged
        return OmegaConf.to_container(OmegaConf.unsafe_merge(merged, self.runtime_params))


def _not_yaml(error: ParserError | ScannerError) -> str:
    """One line for a configuration file that is not YAML: the file, what and where."""
    named = re.search(r"file (.+?), unable to read", str(error))
    path = named.group(1) if named else "a configuration file"
    cause = error.__cause__ if isinstance(error.__cause__, ParserError | ScannerError) else error
    mark = cause.problem_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{path} is not valid YAML: {cause.problem}{where}; fix the file"
