"""Save a screenshot of each dashboard page (desktop, and the overview at phone width)
under docs/screenshots/, from a running dashboard: `scripts/screenshots.sh` starts one on
an `opsloop demo` project and calls this with its URL and admin token. Each is at most
TALLEST pixels tall and saved with a 256-colour palette (Pillow), to stay well under 150 KB
in the repository. (docs/screenshots/monitoring-days.png, a month of hourly windows per
day, is `benchmarks/ui_pages.py --screenshot`: the demo has a few windows only.)"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

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
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        login(page, url, "screenshots", token)
        for name, path in PAGES:
            page.goto(url + path)
            shoot(page, out / f"{name}.png", 1280)
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(url + "/ui/")
        shoot(page, out / "overview-phone.png", 390)
        browser.close()


TALLEST = 1600


def shoot(page: Any, path: Path, width: int) -> None:
    from PIL import Image

    height = min(int(page.evaluate("document.documentElement.scrollHeight")), TALLEST)
    clip = {"x": 0, "y": 0, "width": width, "height": height}
    page.screenshot(path=str(path), full_page=True, clip=clip)
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256)
    small.save(path, optimize=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
