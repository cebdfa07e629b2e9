"""Render the README's pipeline picture: kedro-viz's default view in headless Chromium.

    .venv/bin/python scripts/render_pipeline.py        # or: make pipeline-picture

1. `kedro viz build` writes the static site of the project's pipelines (conf/base) to build/.
2. A local HTTP server on 127.0.0.1 serves it (the page fetches its data, so file:// won't do).
3. Chromium (Debian's `chromium` package: apt-get install chromium) loads the page headless and
   saves a screenshot to docs/pipeline.png. The page shows what `make viz` opens on: the default
   pipeline, its nodes and datasets, the experiment groups collapsed; only the look is preset
   (light theme, no feature hints, no minimap).

It also writes docs/pipeline.json, what the picture shows (the top-level nodes, one group per
experiment, and the datasets drawn outside every group), so a test without Chromium can tell when
the picture is out of date.
Nothing here reaches the network: Chromium runs with its background networking off.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUIET = {"KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "DVC_NO_ANALYTICS": "1"}
# kedro-viz keeps its settings in the page's localStorage under "KedroViz"; the page below sets
# the look, then opens the default pipeline as `make viz` does (groups collapsed, default filters).
SETTINGS = {
    "theme": "light",
    "showFeatureHints": False,
    "expandAllPipelines": False,
    "visible": {"sidebar": True, "miniMap": False, "code": False},
}
START_PAGE = f"""<!doctype html><meta charset="utf-8"><script>
localStorage.setItem("KedroViz", {json.dumps(json.dumps(SETTINGS))});
location.replace("/?pid=__default__");
</script>
"""
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=60000",  # let the page fetch its data and lay out the graph
]


def build_site(root: Path) -> Path:
    # the picture is of conf/base's pipelines, whatever conf/local or KEDRO_ENV say
    environment = {**os.environ, **QUIET, "KEDRO_ENV": "base"}
    subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"], cwd=root, env=environment, check=True
    )
    site = root / "build"
    if not (site / "api" / "main").is_file():
        raise SystemExit("kedro viz build wrote no build/api/main; see its output above")
    return site


def shown_in_picture(site: Path) -> dict[str, list[str]]:
    """The default pipeline's top level as the picture shows it: nodes, experiment groups (seeds
    nested inside) and the datasets drawn outside every group."""
    main = json.loads((site / "api" / "main").read_text())
    kinds = {node["id"]: (node["type"], node["name"]) for node in main["nodes"]}
    top = [kinds[child["id"]] for child in main["modular_pipelines"]["__root__"]["children"]]
    return {
        "nodes": sorted(name for kind, name in top if kind == "task"),
        "groups": sorted(name for kind, name in top if kind == "modularPipeline"),
        "datasets": sorted(name for kind, name in top if kind == "data"),
    }


@contextlib.contextmanager
def serve(site: Path):
    """``site`` on http://127.0.0.1:<free port>/, plus the settings page at /picture.html."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/picture.html":
                body = START_PAGE.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                super().do_GET()

        def log_message(self, *args):  # quiet
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(site))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def screenshot(url: str, output: Path, chromium: str, width: int, height: int) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        result = subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={output}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    if result.returncode != 0 or not output.is_file():
        raise SystemExit(f"chromium failed ({result.returncode}):\n{result.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "pipeline.png")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    arguments = parser.parse_args()
    if shutil.which(arguments.chromium) is None:
        raise SystemExit("no chromium on PATH: apt-get install chromium (Debian's package)")

    site = build_site(ROOT)
    with serve(site) as address:
        screenshot(
            f"{address}/picture.html",
            arguments.output,
            arguments.chromium,
            arguments.width,
            arguments.height,
        )
    manifest = arguments.output.with_suffix(".json")
    manifest.write_text(json.dumps(shown_in_picture(site), indent=2) + "\n")
    print(f"wrote {arguments.output} and {manifest}")


if __name__ == "__main__":
    main()
