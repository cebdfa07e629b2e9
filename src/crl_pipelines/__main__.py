"""``python -m crl_pipelines`` and the ``crl-pipelines`` script: the project's ``kedro run``
(:mod:`crl_pipelines.cli`, found by Kedro's ``find_run_command``), with the same options and the
same handling of errors: a user's mistake ends in one line, a bug keeps its traceback.
"""

import sys
from pathlib import Path
from typing import Any

from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project


def main(*args: Any, **kwargs: Any) -> Any:
    """Run the project's pipelines as ``kedro run`` would (in an interactive session, return
    instead of exiting)."""
    package_name = Path(__file__).parent.name
    configure_project(package_name)

    interactive = hasattr(sys, "ps1")
    kwargs["standalone_mode"] = not interactive

    run = find_run_command(package_name)
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()
