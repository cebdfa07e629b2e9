"""The README's "Load a trained encoder" snippet runs as written on a finished run."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from tests.integration.conftest import PROJECT, inside

pytestmark = pytest.mark.xdist_group("tiny_run")


def snippet(heading: str) -> str:
    """The first Python block after ``heading`` in the README."""
    text = (PROJECT / "README.md").read_text()
    section = text[text.index(heading) :]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_load_an_encoder_snippet_runs(tiny_run: Path):
    code = snippet("## Load a trained encoder")
    printed = io.StringIO()
    with inside(tiny_run, "test"), contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    assert re.fullmatch(r"torch.Size\(\[\d+, \d+\]\)\n", printed.getvalue()), printed.getvalue()
