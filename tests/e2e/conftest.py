"""Fixtures for the end-to-end tests: one `civicid up` for the session, and headless Chromium."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Iterator

import pytest

from e2e_support import Up

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running `civicid up` (any free ports, a fresh data folder); its JSON line."""
    up = Up(tmp_path_factory.mktemp("system") / "data", "--port-base", "0")
    try:
        yield up.wait_ready()
    finally:
        up.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless chromium through chromedriver, with a fresh profile; skips with a reason when absent."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(f"chromium and chromedriver are not installed ({CHROMIUM}, {CHROMEDRIVER})")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="civicid-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1000,1400",
                 "--lang=en-US", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception as exc:  # A broken browser install is an environment problem, not a failure of ours.
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"chromium could not start ({type(exc).__name__})")
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
