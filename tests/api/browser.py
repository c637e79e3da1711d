"""Headless Chromium from Debian's packages (``scripts/setup`` installs ``chromium`` and
``chromium-driver``) driven by Selenium. The driver's path is given, so Selenium
Manager never runs and nothing is downloaded."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Where screenshots go: docs/images/ when regenerating the README's pictures
#: (``ALPHA_SCREENSHOT_DIR=docs/images``), else the test's temporary directory.
SCREENSHOT_DIR_ENV = "ALPHA_SCREENSHOT_DIR"
WAIT_SECONDS = 10


def start_chromium(width: int = 1200, height: int = 900) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.is_file():
            pytest.fail(f"{binary} is missing: run scripts/setup (apt chromium chromium-driver)")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def wait_for(driver: Any, condition: Callable[[Any], Any], what: str) -> Any:
    """Until ``condition`` holds (or ``WAIT_SECONDS``). An element the condition found a
    moment before may have been replaced since (the page re-renders on its live events
    and after each action): that is asked again, not a failure."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition, message=what)


def screenshot(driver: Any, name: str, fallback: Path) -> Path:
    folder = Path(os.environ.get(SCREENSHOT_DIR_ENV) or fallback)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert driver.save_screenshot(str(path)), path
    return path
