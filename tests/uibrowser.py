"""Helpers for the dashboard's browser tests and screenshots: Debian's Chromium driven by
Python Playwright (`playwright install` cannot download a browser here)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("OPSLOOP_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
]


def launch(playwright: Any) -> Any:
    """Headless Chromium; fails loudly when it is not installed (never a skip)."""
    if not Path(CHROMIUM).is_file():
        raise RuntimeError(
            f"Chromium is not installed at {CHROMIUM}: run scripts/setup.sh "
            "(it runs `apt-get install -y chromium`) or set OPSLOOP_CHROMIUM"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


def login(page: Any, base: str, name: str, token: str) -> None:
    page.goto(f"{base}/ui/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=token]", token)
    page.click("form[action$='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/ui/")
