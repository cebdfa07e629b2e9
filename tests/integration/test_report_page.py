"""The HTML report of the tiny run as a reader sees it: offline in headless Chromium, at a desktop
width and at a phone's."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crl_pipelines.evaluation.figures import COMPARISON_FIGURES, RUN_FIGURES
from crl_pipelines.evaluation.report import SECTIONS
from tests.integration.conftest import PROJECT

RUNS = ["contrastive", "triplet", "ntxent", "cross_entropy", "random_init"]  # the test env's
TALLEST = 8000  # CSS pixels at 1280 wide: the report reads in a minute

# the tests that share the session's tiny_run fixture run on one worker (pytest-xdist)
pytestmark = pytest.mark.xdist_group("tiny_run")

# Added to a copy of the report: what the page looks like to a reader, sent to the frame's
# parent (headless Chromium's window is at least 500 pixels wide; a frame can be narrower).
# First as it opens (runs and settings folded): its height; then a link to the first run,
# which unfolds it; then with every fold open: whatever could stick out sideways.
PROBE = """<script>
const pause = ms => new Promise(done => setTimeout(done, ms));
window.addEventListener("load", async () => {
  const root = document.documentElement, data = document.body.dataset;
  const links = Array.from(document.querySelectorAll("nav.toc a"), a => a.getAttribute("href"));
  const headings = Array.from(document.querySelectorAll("h2, h3"));
  data.height = root.scrollHeight;
  data.tocLinks = links.length;
  data.tocBroken = links.filter(h => !document.getElementById(h.slice(1))).length;
  const linked = h => links.includes("#" + h.closest("section[id]").id);
  data.unlinkedHeadings = headings.filter(h => !linked(h)).length;
  const run = document.querySelector("#runs section[id]");
  location.hash = run.id;
  await pause(100);
  data.unfoldedByLink = run.querySelector("details").open;
  document.querySelectorAll("details").forEach(d => d.open = true);
  await pause(100);
  const curves = document.querySelector('figure[data-figure="training_curves"] .frame');
  data.curvesWidth = Math.round(curves.getBoundingClientRect().width);
  data.overflow = root.scrollWidth - root.clientWidth;
  data.tables = document.querySelectorAll("table").length;
  data.widerTables = Array.from(document.querySelectorAll("table")).filter(
    t => t.getBoundingClientRect().width > t.parentElement.clientWidth + 1).length;
  data.squeezedFigures = Array.from(document.images).filter(
    i => i.getBoundingClientRect().width + 0.5 < parseFloat(i.style.minWidth || 0)).length;
  data.captions = Array.from(document.querySelectorAll("figcaption"), c => c.textContent).join("|");
  parent.postMessage(Object.assign({}, data), "*");
});
</script></body>"""
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="probed.html" style="border:0; width:{width}px; height:900px"></iframe>
<script>
window.addEventListener("message", event => Object.assign(document.body.dataset, event.data));
</script></body></html>"""


def probe(chromium: str, report: Path, width: int, profile: Path) -> dict[str, str]:
    """The report with :data:`PROBE`, rendered offline in a frame ``width`` CSS pixels wide:
    the ``data-*`` attributes the page and the probe set once everything has loaded."""
    report.with_name("probed.html").write_text(
        report.read_text("utf-8").replace("</body>", PROBE), "utf-8"
    )
    frame = report.with_name("frame.html")
    frame.write_text(FRAME.format(width=width), "utf-8")
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", f"--window-size={width + 40},900",
         "--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom",
         frame.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    body = re.search(r"<body([^>]*)>", result.stdout)
    assert body, result.stderr[-2000:]
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))


@pytest.fixture(scope="module")
def pages(tiny_run, tmp_path_factory) -> dict[int, dict[str, str]]:
    """The tiny run's report probed at 1280 and at 420 CSS pixels wide."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    folder = tmp_path_factory.mktemp("page")
    report = Path(shutil.copy(tiny_run / "data" / "08_reporting" / "report.html", folder))
    return {width: probe(chromium, report, width, folder / "profile") for width in (1280, 420)}


@pytest.mark.slow
def test_every_figure_decodes_and_every_section_is_reachable(pages):
    """Every embedded figure decodes; every heading sits in a section the table of contents
    links to, every link leads to a section, and a link to a folded run unfolds it."""
    desktop = pages[1280]
    expected_images = len(RUNS) * len(RUN_FIGURES) + len(COMPARISON_FIGURES) + 1  # + CKA
    assert desktop["images-total"] == desktop["images-loaded"] == str(expected_images), desktop
    untuned = [id_ for id_, _ in SECTIONS if id_ != "tuning"]
    assert int(desktop["toc-links"]) == len(untuned) + len(RUNS) and desktop["toc-broken"] == "0"
    assert desktop["unlinked-headings"] == "0" and desktop["unfolded-by-link"] == "true"
    assert "vif|" not in desktop["captions"] and "variance inflation factor" in desktop["captions"]


@pytest.mark.slow
def test_the_page_is_short_at_a_desktop_width_and_scales_at_a_phones(pages):
    """Folded, the report is under 8 000 px at 1280 px wide, every table fits its width and the
    training curves span the page; at 420 px the same report is at most three times as tall
    (its tables reflowed)."""
    desktop, narrow = pages[1280], pages[420]
    assert int(desktop["height"]) < TALLEST, desktop["height"]
    assert int(desktop["curves-width"]) >= 1100, desktop  # not squeezed into a column
    assert desktop["wider-tables"] == "0", desktop  # every column in view, none behind a scroll
    assert int(desktop["height"]) < int(narrow["height"]) < 3 * int(desktop["height"])


@pytest.mark.slow
def test_nothing_sticks_out_or_shrinks_unreadably_at_a_phones_width(pages):
    """At 420 px, every fold open: the page never scrolls sideways, no table is wider than its
    box (each reflows), and no figure is narrower than its readable width (a wider one
    scrolls inside its own frame)."""
    narrow = pages[420]
    assert narrow["overflow"] == "0", narrow
    assert int(narrow["tables"]) > len(RUNS) and narrow["wider-tables"] == "0", narrow
    assert narrow["squeezed-figures"] == "0", narrow
    assert int(narrow["curves-width"]) <= 420 - 2 * 12  # its frame laid out at 420 pixels


@pytest.mark.slow
def test_screenshots_show_a_page(tiny_run, tmp_path):
    """The screenshots scripts/screenshot_report.py takes at both widths show a page (dark text
    on a light background), not a blank one."""
    from PIL import Image

    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    report = tiny_run / "data" / "08_reporting" / "report.html"
    script = PROJECT / "scripts" / "screenshot_report.py"
    subprocess.run([sys.executable, script, report, "--out", tmp_path], check=True, timeout=240)
    for name, width in [("report.png", 1280), ("report-narrow.png", 420)]:
        shot = Image.open(tmp_path / name).convert("L")
        assert shot.size == (width, 900)
        pixels = np.asarray(shot)
        assert (pixels < 128).mean() > 0.01, name  # dark text on the page
        assert (pixels > 240).mean() > 0.5, name  # on a light background
