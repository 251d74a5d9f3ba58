"""Save a screenshot of each dashboard page (desktop, and the overview at phone width)
under docs/screenshots/, from a running dashboard: `scripts/screenshots.sh` starts one on
an `opsloop demo` project and calls this with its URL and admin token."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from playwright.sync_api import sync_playwright

from uibrowser import launch, login

PAGES = [
    ("overview", "/ui/"),
    ("model", "/ui/models/churn?a=1&b=2"),
    ("deployment", "/ui/models/churn/deployment"),
    ("monitoring", "/ui/models/churn/monitoring"),
    ("dora", "/ui/dora"),
    ("events", "/ui/events"),
]


def main(url: str, token: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        login(page, url, "screenshots", token)
        for name, path in PAGES:
            page.goto(url + path)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(url + "/ui/")
        page.screenshot(path=str(out / "overview-phone.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
