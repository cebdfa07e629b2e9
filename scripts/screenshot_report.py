"""Screenshots of the HTML report in headless Chromium, for the README: the top of the page at a
desktop width (``docs/report.png``) and at a phone's (``docs/report-narrow.png``).

    python scripts/screenshot_report.py [data/08_reporting/report.html] [--out docs]

Chromium runs offline (the report is self-contained) with a throw-away profile.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (file name, window width × height in CSS pixels)
SHOTS = (("report.png", (1280, 900)), ("report-narrow.png", (420, 900)))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=10000",
)


def chromium(page: Path, *arguments: str, width: int = 1280, height: int = 900) -> str:
    """Run headless Chromium on ``page`` with ``arguments`` (``--screenshot=…``,
    ``--dump-dom``) in a window of ``width`` × ``height``; returns what it printed."""
    browser = shutil.which("chromium")
    if browser is None:
        raise FileNotFoundError("chromium is not installed: `apt-get install -y chromium`")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             *arguments, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
    return done.stdout


def screenshots(report: Path, out: Path) -> list[Path]:
    """Every shot of :data:`SHOTS` of ``report``, written under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (width, height) in SHOTS:
        target = (out / name).resolve()
        chromium(report, f"--screenshot={target}", width=width, height=height)
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "report", nargs="?", type=Path, default=ROOT / "data/08_reporting/report.html"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    arguments = parser.parse_args()
    if not arguments.report.is_file():
        sys.exit(f"no report at {arguments.report}: run `kedro run` (or KEDRO_ENV=test) first")
    for path in screenshots(arguments.report, arguments.out):
        print(f"{path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
