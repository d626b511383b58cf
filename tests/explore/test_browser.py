"""The explorer in a real browser: Debian's Chromium, headless, driven by Playwright against a
real uvicorn server on a free port. The page loads with no console error, clicking a point of the
map shows its input and reconstruction, moving a slider changes the decoded picture (its pixels
compared), a typed upload is encoded, and a screenshot is kept as a test artifact
($VAEKIT_TEST_ARTIFACTS, else the test's temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from explore_helpers import expected_pixels, pixels, png_bytes
from vaekit.explore import create_app
from vaekit.explore.server import background

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed; "
                                                             "CI installs it (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.problems = problems
    yield page
    page.close()


def artifact(tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("VAEKIT_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def decoded_src(page) -> str:
    return page.locator("#decoded img").get_attribute("src")


def test_the_page_explores_an_image_run(digits_run, page, tmp_path):
    app = create_app(digits_run, limit=120)
    state = app.state.explorers["digits"]
    with background(app) as url:
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        assert page.locator("#run-name").inner_text() == "digits"
        assert page.locator("#sliders input[type=range]").count() == 4
        assert page.locator("#sample-out img").count() == 16

        # click a point: its input and reconstruction appear, and its code goes into the sliders
        box = page.locator("#map").bounding_box()
        at = page.evaluate("window.vaekitExplorer.pointPosition(9)")
        page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
        page.wait_for_selector("#point-panel[data-index='9'] #point-recon img")
        np.testing.assert_array_equal(pixels(page.locator("#point-input img").get_attribute("src")),
                                      expected_pixels(state.x[9]))
        assert page.locator("#point-recon img").evaluate("img => img.complete && img.naturalWidth") == 8
        first = page.locator("#sliders input[type=range]").first
        top = state.order[0]
        assert page.evaluate("window.vaekitExplorer.state.code") == pytest.approx(state.mu[9].tolist(), abs=1e-6)
        step = (state.high[top] - state.low[top]) / 400  # the slider shows the code to its step
        assert float(first.input_value()) == pytest.approx(float(state.mu[9, top]), abs=step / 2 + 1e-6)

        # move the most informative slider to its end: the decoded picture changes
        page.wait_for_function("() => Number(document.querySelector('#decoded').dataset.version) >= 2")
        before_version = int(page.locator("#decoded").get_attribute("data-version"))
        before = pixels(decoded_src(page))
        first.focus()
        page.keyboard.press("End")
        page.wait_for_function(f"() => Number(document.querySelector('#decoded').dataset.version) > {before_version}")
        after = pixels(decoded_src(page))
        assert np.abs(after.astype(int) - before.astype(int)).max() > 0, "moving the slider changed no pixel"
        code = page.evaluate("window.vaekitExplorer.state.code")
        assert code[top] == pytest.approx(state.high[top], rel=1e-6)

        # interpolate between two points, draw samples at another temperature
        page.click("#set-a")
        at = page.evaluate("window.vaekitExplorer.pointPosition(30)")
        page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
        page.wait_for_selector("#point-panel[data-index='30']")
        page.click("#set-b")
        page.fill("#steps", "6")
        page.click("#interpolate")
        page.wait_for_function("() => document.querySelectorAll('#interp-out img').length === 6")

        # upload a picture of one's own
        upload = tmp_path / "mine.png"
        upload.write_bytes(png_bytes(np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1))))
        page.set_input_files("#image-file", str(upload))
        page.click("#encode-image button[type=submit]")
        page.wait_for_selector("#encode-recon img")

        shot = artifact(tmp_path, "explore-digits.png")
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    assert shot.stat().st_size > 0
    assert page.problems == []
    assert page.locator("#error").is_hidden()


def test_the_page_shows_sentences_and_rows(text_run, table_run, page, tmp_path):
    app = create_app([text_run, table_run], limit=40)
    with background(app) as url:
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        assert page.locator("#decoded .sentence").count() == 1 and page.locator("#sample-out li").count() == 16
        page.fill("#sentence", "the cat sees the dog")
        page.click("#encode-text button[type=submit]")
        page.wait_for_selector("#encode-recon .sentence")
        page.screenshot(path=str(artifact(tmp_path, "explore-text.png")), full_page=True)

        page.select_option("#run-select", "people")
        page.wait_for_function("() => document.body.dataset.ready === 'true' && "
                               "document.querySelector('#run-name').textContent === 'people'")
        assert page.locator("#decoded table.rows tbody tr").count() == 1
        assert page.locator("#sample-out table.rows tbody tr").count() == 16
        page.select_option("#col-city", label="Nice")
        page.fill("#col-age", "33")
        page.click("#encode-row button[type=submit]")
        page.wait_for_selector("#encode-input table.rows")
        cells = page.locator("#encode-input table.rows td").all_inner_texts()
        assert cells[:3] == ["33", "missing", "Nice"]
        page.screenshot(path=str(artifact(tmp_path, "explore-table.png")), full_page=True)
    assert page.problems == []
