"""The counter screen end to end in headless Chromium: QR on screen decodes to the request, verdict shown."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import urllib.parse
from typing import Any

import pytest

from verifier_helpers import NATIONAL_ID, Wallet

from verifier_constants import TOKEN

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser() -> Any:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("chromium and chromedriver are not installed (/usr/bin/chromium, /usr/bin/chromedriver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="civicid-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1000,1200",
                 f"--user-data-dir={profile}"):
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


def test_counter_screen_flow(browser: Any, make_app: Any, live_server: Any, issuer: Any, holder: Any, clock: Any) -> None:
    import zxingcpp
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    server = live_server(make_app())
    wait = WebDriverWait(browser, 15)
    browser.get(server.url + "/counter")
    assert browser.find_element(By.CSS_SELECTOR, "html").get_attribute("lang") == "zh-CN"
    assert "服务窗口" in browser.page_source
    browser.find_element(By.ID, "lang-en").click()
    assert browser.find_element(By.ID, "start").get_attribute("textContent") == "Show QR code"
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "save-token").click()
    wait.until(lambda d: len(Select(d.find_element(By.ID, "policy")).options) == 4)
    Select(browser.find_element(By.ID, "policy")).select_by_value("senior-bus-pass")
    browser.find_element(By.ID, "start").click()
    qr = wait.until(ec.visibility_of_element_located((By.ID, "qr")))
    wait.until(lambda d: d.execute_script("return document.getElementById('qr').naturalWidth") > 0)
    assert "65" in browser.find_element(By.ID, "purpose").text

    # What the citizen's phone sees: decode the QR from a screenshot of the page.
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png()))
    codes = [c for c in zxingcpp.read_barcodes(shot) if c.valid]
    assert len(codes) == 1
    request_uri = codes[0].text
    shown = browser.find_element(By.ID, "request-uri").get_attribute("textContent")
    assert request_uri == shown
    assert urllib.parse.urlsplit(request_uri).scheme == "openid4vp"
    assert qr.is_displayed()

    status, _ = Wallet(holder, {NATIONAL_ID: issuer.issue(holder)}, clock).answer(request_uri)
    assert status == 200
    verdict = wait.until(ec.visibility_of_element_located((By.ID, "verdict")))
    assert verdict.get_attribute("data-decision") == "true"
    assert verdict.text == "Eligible"
    assert "27, 135, 63" in verdict.value_of_css_property("background-color")
    claims = browser.find_element(By.ID, "claims").text
    assert "address.locality" in claims and "Shenzhen" in claims
    assert "given_name" not in browser.page_source

    # Next citizen: a young one, shown red, in Chinese.
    browser.find_element(By.ID, "next").click()
    browser.find_element(By.ID, "lang-zh").click()
    browser.find_element(By.ID, "start").click()
    wait.until(lambda d: d.find_element(By.ID, "request-uri").get_attribute("textContent") not in ("", request_uri))
    second = browser.find_element(By.ID, "request-uri").get_attribute("textContent")
    from verifier_helpers import national_id_claims

    young = Wallet(holder, {NATIONAL_ID: issuer.issue(holder, national_id_claims(age65=False))}, clock)
    assert young.answer(second)[0] == 200
    wait.until(lambda d: d.find_element(By.ID, "verdict").get_attribute("data-decision") == "false")
    assert browser.find_element(By.ID, "verdict").text == "不符合条件"
    assert "age_over_65" in browser.find_element(By.ID, "reasons").text
