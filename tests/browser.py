"""Headless Chromium for the tests that look at qws in a browser (Debian's chromium and
chromedriver, driven by Selenium).

Where the browser is missing the test is skipped, unless ``QWS_REQUIRE_BROWSER=1`` (which
``.ci/run`` sets after installing it): then a missing browser fails the test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1600,1000",
)


def _which(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser() -> tuple[str, str]:
    """The paths of Chromium and its driver; skip (or fail under ``QWS_REQUIRE_BROWSER=1``)
    when either is missing."""
    chromium, driver = _which(CHROMIUM_NAMES), _which(DRIVER_NAMES)
    if chromium and driver:
        return chromium, driver
    missing = " and ".join(
        n for n, p in (("chromium", chromium), ("chromedriver", driver)) if not p
    )
    why = f"{missing} not found (Debian: apt-get install chromium chromium-driver)"
    if os.environ.get("QWS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"QWS_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why)


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium (Selenium WebDriver) with its own empty profile."""
    chromium, driver_path = require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="qws-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
