"""The project's command line: Kedro's ``kedro run``, with a quiet console, ``--env`` that may
change the runs, and a user's mistake in one line.

Kedro finds this module (``<package>.cli``) and uses its ``run`` in place of its own, for
``kedro run`` and ``python -m crl_pipelines`` alike. Every option of Kedro's ``run`` is kept, and:

- ``--env X``, ``--params`` and ``--conf-source`` choose the parameters the pipelines are built
  from, too (they are set before the pipelines are first built), so they may change
  ``experiments`` and ``seeds``, and every node gets its settings from them.
- The console shows the project's lines (one per node, the epoch summaries, a progress bar per
  epoch on a terminal: :mod:`crl_pipelines.progress`), warnings and errors; Kedro's own records
  go to the log file only (``conf/logging.yml``). ``--verbose`` (or ``CRL_PIPELINES_VERBOSE=1``)
  shows them on the console too.
- When the run fails with a :class:`~crl_pipelines.errors.UserError` (bad parameters, bad data,
  missing inputs, an unknown environment, a misspelt pipeline, node or namespace, a diverged
  loss), the console shows ``error: <message>`` on stderr (Kedro's records of the failed node
  stay in the log file) and the command exits with status 1, while the traceback goes to the
  log file. With ``--traceback`` (or ``CRL_PIPELINES_TRACEBACK=1``) the error is raised as
  Kedro would. Any other exception is a bug and keeps Kedro's behaviour and its traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.cli.utils import CONTEXT_SETTINGS
from kedro.framework.project import pipelines, settings
from kedro.utils import find_kedro_project

from crl_pipelines.dask_runner import SCHEDULER_ENV
from crl_pipelines.errors import UserError, user_error
from crl_pipelines.pipeline_registry import CONF_SOURCE_ENV, RUNTIME_PARAMS_ENV
from crl_pipelines.progress import plain_off_a_terminal

TRACEBACK_ENV = "CRL_PIPELINES_TRACEBACK"
VERBOSE_ENV = "CRL_PIPELINES_VERBOSE"
DASK_RUNNER = "crl_pipelines.dask_runner.DaskRunner"
ISOLATING_RUNNER = "crl_pipelines.runner.IsolatingRunner"
LOCAL_CLUSTER = "local"

# conf/logging.yml sends this logger to the log file only: it keeps the traceback of every failed
# run, while the console shows a user's mistake as one line.
log = logging.getLogger(__name__)


class UnknownEnvironmentError(UserError, ValueError):
    """``--env`` names an environment the configuration does not have."""


def select_run(env: str | None, conf_source: str | None, params: dict[str, Any]) -> None:
    """Build the pipelines from the run's parameters: Kedro's ``--env``, ``--conf-source`` and
    ``--params`` reach the session only, while the pipeline registry, which binds every node's
    settings, reads ``KEDRO_ENV`` and the project's two variables
    (:mod:`crl_pipelines.pipeline_registry`). The registry is lazy and nothing has read it yet;
    it is reset in case something did."""
    if env is not None:
        conf = Path(conf_source) if conf_source else _project() / settings.CONF_SOURCE
        if conf.is_dir() and not (conf / env).is_dir():
            known = sorted(path.parent.name for path in conf.glob("*/parameters*.yml"))
            raise UnknownEnvironmentError(
                f"there is no configuration environment {env!r} (no folder {conf / env}); "
                f"use one of {', '.join(known)}, or create {conf / env}/parameters.yml"
            )
        os.environ["KEDRO_ENV"] = env
    os.environ[RUNTIME_PARAMS_ENV] = json.dumps(params or {})
    if conf_source:
        os.environ[CONF_SOURCE_ENV] = conf_source
    pipelines.configure(f"{__package__}.pipeline_registry")


class UnknownNameError(UserError, ValueError):
    """``--pipelines``, ``--nodes``, ``--from-nodes``, ``--to-nodes`` or ``--namespaces`` names
    something the pipelines do not have."""


def check_names(options: dict[str, Any]) -> None:
    """The pipelines, nodes and namespaces the options name exist (Kedro reports a misspelt name
    with a traceback); a near name is suggested. This builds the pipelines (and so reads and
    checks the parameters) as the run will ask for them, so the run reuses them."""
    requested = list(options["pipelines"] or ()) or list(filter(None, [options["pipeline"]]))
    pipelines.set_requested(requested or None)  # what the session asks: it keeps what is built
    registered = dict(pipelines.items())
    everything = registered["__default__"].nodes if "__default__" in registered else []
    nodes = [node.name for node in everything]
    namespaces = {
        node.namespace.rsplit(".", depth)[0]
        for node in everything
        if node.namespace
        for depth in range(node.namespace.count(".") + 1)
    }
    asked = (
        ("pipeline", [*options["pipelines"], *filter(None, [options["pipeline"]])], registered),
        ("node", [*options["node_names"], *options["from_nodes"], *options["to_nodes"]], nodes),
        ("namespace", options["namespaces"], namespaces),
    )
    for kind, names, known in asked:
        for name in names or ():
            if name not in known:
                near = sorted(k for k in known if k.endswith(f".{name}"))
                near = near or get_close_matches(name, sorted(known), n=3)
                where = "list" if kind == "pipeline" else "describe"
                hint = f"did you mean {' or '.join(near)}?" if near else "none is near it"
                raise UnknownNameError(
                    f"there is no {kind} {name!r}: {hint} (`kedro registry {where}` lists them)"
                )


def show_everything() -> None:
    """Kedro's own records on the console as well: ``conf/logging.yml`` sends them to the log
    file (and only their warnings to the console); passed on to the root logger's handlers,
    they reach both."""
    kedro = logging.getLogger("kedro")
    for handler in list(kedro.handlers):
        kedro.removeHandler(handler)
    kedro.propagate = True


class _UserErrorChatter(logging.Filter):
    """Kedro's records about a node that a user's mistake stopped (the node failed with the
    message, the nodes that have not run): the command ends with that message in one line, so
    they stay out of the console (the log file keeps them). Kedro logs them while it handles the
    exception, which is how they are known."""

    def filter(self, record: logging.LogRecord) -> bool:
        handling = sys.exc_info()[1]
        return not (
            record.name.startswith("kedro") and handling is not None and user_error(handling)
        )


def quiet_user_errors() -> None:
    """Keep Kedro's records about a user's mistake off the console's handlers."""
    for logger in (logging.getLogger(), logging.getLogger("kedro")):
        for handler in logger.handlers:
            if not isinstance(handler, logging.FileHandler):
                handler.addFilter(_UserErrorChatter())


def _project() -> Path:
    return find_kedro_project(Path.cwd()) or Path.cwd()


def use_dask(options: dict[str, Any], dask: str | None) -> dict[str, Any]:
    """``--dask [ADDRESS]`` (or ``CRL_DASK_SCHEDULER``) as Kedro's runner options: the
    :class:`~crl_pipelines.dask_runner.DaskRunner` on that scheduler, or on a local cluster;
    without them, and without ``--runner``, the project's
    :class:`~crl_pipelines.runner.IsolatingRunner`."""
    address = dask if dask is not None else os.environ.get(SCHEDULER_ENV)
    if options["runner"]:
        return options
    if address is None:
        return {**options, "runner": ISOLATING_RUNNER}
    runner_params = dict(options["runner_params"] or {})
    if address != LOCAL_CLUSTER:
        runner_params.setdefault("address", address)
    return {**options, "runner": DASK_RUNNER, "runner_params": runner_params}


def _run(traceback: bool, dask: str | None, verbose: bool, **options: Any) -> dict[str, Any]:
    """Kedro's run; a user's mistake becomes one line on stderr and exit status 1."""
    options = use_dask(options, dask)
    plain_off_a_terminal()  # one line per record in a pipe, CI or DVC: rich wraps at 80 columns
    if verbose:
        show_everything()
    if not (traceback or verbose):
        quiet_user_errors()
    try:
        select_run(options["env"], options["conf_source"], options["params"])
        check_names(options)  # builds the pipelines: a wrong parameter stops here, in one line
        return kedro_run.callback(**options)
    except Exception as error:
        log.error("the run failed", exc_info=error)
        mistake = user_error(error)
        if mistake is None or traceback:
            raise
        click.echo(f"error: {mistake}", err=True)
        click.get_current_context().exit(1)


@click.group(context_settings=CONTEXT_SETTINGS, name=__file__)
def cli() -> None:
    """Command line tools for crl_pipelines."""


run = click.Command(
    name="run",
    context_settings=kedro_run.context_settings,
    callback=_run,
    params=[
        *kedro_run.params,
        click.Option(
            ["--traceback"],
            is_flag=True,
            envvar=TRACEBACK_ENV,
            help="Show the traceback of a mistake in the parameters or the data too "
            f"(also {TRACEBACK_ENV}=1); it is always in the log file.",
        ),
        click.Option(
            ["--dask"],
            is_flag=False,
            flag_value=LOCAL_CLUSTER,
            default=None,
            metavar="[ADDRESS]",
            help="Train the runs at once on a Dask cluster: the scheduler's address "
            f"(tcp://host:8786; also {SCHEDULER_ENV}), or none for a local cluster of two "
            "workers. Short for --runner=" + DASK_RUNNER + ".",
        ),
        click.Option(
            ["--verbose"],
            is_flag=True,
            envvar=VERBOSE_ENV,
            help="Show everything on the console: Kedro's own records too (each dataset loaded "
            f"and saved, each node run; also {VERBOSE_ENV}=1). They are always in the log file.",
        ),
    ],
    help=kedro_run.help,
)
cli.add_command(run)
