"""Take docs/explore.png, the README's picture of `vaekit explore`: the explorer of a trained run
in Debian's headless Chromium (Playwright), after clicking a point of the map and picking the two
ends of an interpolation, as a user would.

    vaekit train configs/digits.yaml           # the quick start's run, runs/digits
    python docs/screenshot.py runs/digits      # writes docs/explore.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.explore import create_app
from vaekit.explore.server import background

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a trained run directory")
    ap.add_argument("--out", default=str(HERE / "explore.png"))
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--points", type=int, nargs=3, default=[3, 11, 40], metavar=("SHOWN", "A", "B"),
                    help="the map points clicked: the one shown, and the interpolation's two ends")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with background(create_app(args.run, limit=500)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1150})
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        box = page.locator("#map").bounding_box()
        shown, a, b = args.points
        for i, button in ((a, "Set as A"), (b, "Set as B"), (shown, None)):
            at = page.evaluate(f"window.vaekitExplorer.pointPosition({i})")
            page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
            page.wait_for_selector(f"#point-panel[data-index='{i}'] #point-recon img")
            if button:
                page.get_by_role("button", name=button).click()
        page.get_by_role("button", name="Interpolate").click()
        page.wait_for_timeout(1500)
        page.screenshot(path=args.out, full_page=True)
        browser.close()
    print(f"wrote {args.out}")
    return Path(args.out)


if __name__ == "__main__":
    main()
