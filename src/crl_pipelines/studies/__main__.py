"""``python -m crl_pipelines.studies``: see :mod:`crl_pipelines.studies`."""

import sys

from crl_pipelines.studies.cli import main

sys.exit(main())
