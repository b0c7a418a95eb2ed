"""The match-quality report in a real browser: headless Chromium (Debian's ``chromium``,
driven by Playwright) opens ``match_quality.html`` of a small synthetic run and must show
it with no console error, no page error and no network request, with every part and its
charts; a full-page screenshot is saved under the test's tmp_path (its path is printed).

Chromium comes from Debian: when ``/usr/bin/chromium`` is missing, the session fixture
installs it with apt-get (root, as in CI); ``playwright install`` is never used.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from stages import run_night

from pipeline import report as R

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
HEADINGS = ("1. Headline", "2. The fitted model", "3. Match weights and the threshold",
            "4. Persons and families", "5. Blocking", "6. Night over night",
            "7. Against the synthetic truth", "8. Privacy audit")
LOCAL = ("file://", "data:", "about:")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt-get when missing (fails the test clearly when
    it cannot be)."""
    if not CHROMIUM.exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
            try:
                done = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                      timeout=1200, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                pytest.fail(f"cannot install Debian's chromium: `{' '.join(cmd)}` failed "
                            f"({exc}); install it by hand (apt-get install chromium)")
            if done.returncode:
                tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
                pytest.fail(f"cannot install Debian's chromium: `{' '.join(cmd)}` exited "
                            f"{done.returncode}:\n{tail}")
        if not CHROMIUM.exists():
            pytest.fail(f"apt-get installed chromium but {CHROMIUM} is still missing")
    return CHROMIUM


@pytest.fixture(scope="module")
def report_html(small_night: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``match_quality.html`` of the small synthetic night, with its truth (stages run as
    plain functions, the report written before the manifest as the flow does)."""
    out = tmp_path_factory.mktemp("report_browser") / "runs"
    return run_night(small_night, out, None, small_night / "truth")["run_dir"] / R.REPORT_HTML


def test_report_renders_offline_without_errors(chromium: Path, report_html: Path,
                                               tmp_path: Path) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:                                   # pragma: no cover
        pytest.fail("the playwright package is missing: pip install -r requirements.lock")

    console_errors: list[str] = []
    page_errors: list[str] = []
    requests: list[str] = []
    blocked: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("console", lambda m: console_errors.append(m.text)
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))

            def only_local(route):                        # never let a request out
                if route.request.url.startswith(LOCAL):
                    route.continue_()
                else:
                    blocked.append(route.request.url)
                    route.abort()

            page.route("**/*", only_local)
            page.goto(report_html.as_uri(), wait_until="load")
            page.wait_for_load_state("networkidle")

            headings = [h.strip() for h in page.locator("h2").all_inner_texts()]
            charts = page.locator("svg.chart")
            n_charts = charts.count()
            widths = [charts.nth(i).bounding_box()["width"] for i in range(n_charts)]
            how = page.locator("p.how").count()
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth")
            shot = tmp_path / "match_quality.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    print(f"\nscreenshot of the match-quality report: {shot}")
    network = [u for u in requests if not u.startswith(LOCAL)]
    assert console_errors == [], console_errors
    assert page_errors == [], page_errors
    assert network == [] and blocked == [], network + blocked
    assert requests == [report_html.as_uri()]             # the file itself, nothing else
    assert headings == list(HEADINGS)
    assert how == len(HEADINGS)                            # "How to read this" in each part
    assert n_charts >= 4
    assert all(w >= 300 for w in widths), widths          # charts drawn at a readable size
    assert overflow <= 0                                   # no sideways scrolling on a laptop
    assert shot.stat().st_size > 50_000
