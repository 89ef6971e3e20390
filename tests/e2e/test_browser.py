"""The officer console and the counter screen of a running `civicid up`, in headless Chromium.

What a phone's camera sees is decoded from screenshots of the page (zxing-cpp), and
the real wallet CLI (a subprocess) uses it.
"""

from __future__ import annotations

import io
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from civicid.demo import CITIZEN
from e2e_support import WalletCLI, http

pytestmark = pytest.mark.e2e


def _codes_on_screen(browser: Any) -> list[str]:
    import zxingcpp
    from PIL import Image

    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png()))
    return [str(c.text) for c in zxingcpp.read_barcodes(shot) if c.valid]


def test_officer_console_sign_in_and_issue_shows_a_usable_offer_qr(system: dict[str, Any], browser: Any,
                                                                     tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    browser.get(system["officer_console"] + "login?lang=en")
    browser.find_element(By.NAME, "username").send_keys(system["officer_username"])
    browser.find_element(By.NAME, "password").send_keys(system["officer_password"])
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    wait.until(lambda d: "Sign out" in d.page_source)
    browser.find_element(By.LINK_TEXT, "National identity card").click()
    wait.until(ec.presence_of_element_located((By.NAME, "given_name")))

    fields = {
        "given_name": "Lan", "family_name": "Chen", "nationalities": "CN", "personal_identifier": "440305-19500101-0002",
        "address.street_address": "2 Shennan Avenue", "address.locality": "Shenzhen", "address.region": "Guangdong",
        "address.postal_code": "518000", "address.country": "CN",
    }
    for name, value in fields.items():
        browser.find_element(By.NAME, name).send_keys(value)
    # A date input's typing order depends on the locale; set its value as the date picker would.
    birthdate = browser.find_element(By.NAME, "birthdate")
    browser.execute_script("arguments[0].value = '1950-01-01'", birthdate)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()

    pin = wait.until(ec.visibility_of_element_located((By.ID, "tx-code"))).text
    assert pin.isdigit() and len(pin) == 6
    wait.until(lambda d: d.execute_script("return document.querySelector('main img').naturalWidth") > 0)
    codes = _codes_on_screen(browser)
    assert len(codes) == 1
    link = codes[0]
    assert urllib.parse.urlsplit(link).scheme == "openid-credential-offer"

    # The QR on the officer's screen is what the citizen's wallet scans.
    wallet = WalletCLI(tmp_path / "wallet", system)
    wallet.must("init")
    received = json.loads(wallet.must("receive", link, "--pin", pin, "--json"))
    assert received[0]["type"] and received[0]["id"]


def _counter_showing_a_request(system: dict[str, Any], browser: Any, policy: str, *, offline: bool) -> Any:
    """Sign in to the counter screen (in English), open a request for ``policy``, wait for its QR code; the waiter."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 20)
    browser.get(system["counter_screen"])
    browser.find_element(By.ID, "lang-en").click()
    browser.find_element(By.ID, "token").send_keys(system["counter_token"])
    browser.find_element(By.ID, "save-token").click()
    wait.until(lambda d: len(Select(d.find_element(By.ID, "policy")).options) >= 4)
    Select(browser.find_element(By.ID, "policy")).select_by_value(policy)
    if offline:
        browser.find_element(By.ID, "offline").click()
    browser.find_element(By.ID, "start").click()
    wait.until(ec.visibility_of_element_located((By.ID, "qr")))
    wait.until(lambda d: d.execute_script("return document.getElementById('qr').naturalWidth") > 0)
    return wait


@pytest.fixture
def citizen_wallet(system: dict[str, Any], tmp_path: Path) -> WalletCLI:
    """A wallet holding the demo citizen's national ID card, issued through the admin API."""
    status, offer = http(system["issuer"] + "/admin/offers", body={"credential_configuration_id": "national_id", "claims": CITIZEN},
                         token=system["officer_token"])
    assert status == 201
    wallet = WalletCLI(tmp_path / "citizen", system)
    wallet.must("init")
    wallet.must("receive", offer["credential_offer"], "--pin", offer["tx_code"])
    return wallet


def test_counter_screen_shows_a_request_qr_then_the_green_result(system: dict[str, Any], browser: Any,
                                                                   citizen_wallet: WalletCLI) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    wait = _counter_showing_a_request(system, browser, "senior-bus-pass", offline=False)

    codes = _codes_on_screen(browser)
    assert len(codes) == 1
    request_uri = codes[0]
    assert urllib.parse.urlsplit(request_uri).scheme == "openid4vp"
    assert request_uri == browser.find_element(By.ID, "request-uri").get_attribute("textContent")

    citizen_wallet.must("present", request_uri, "--yes")
    verdict = wait.until(ec.visibility_of_element_located((By.ID, "verdict")))
    assert verdict.get_attribute("data-decision") == "true"
    assert verdict.text == "Eligible"
    assert "27, 135, 63" in verdict.value_of_css_property("background-color")
    claims = browser.find_element(By.ID, "claims").text
    assert "address.locality" in claims and "Shenzhen" in claims
    # Only what the policy needs reached the counter.
    for undisclosed in ("given_name", CITIZEN["given_name"], CITIZEN["birthdate"], CITIZEN["personal_identifier"]):
        assert undisclosed not in browser.page_source


def test_offline_counter_screen_and_the_real_wallet_exchange_qr_codes_only(system: dict[str, Any], browser: Any,
                                                                           citizen_wallet: WalletCLI, tmp_path: Path) -> None:
    """The counter shows the whole signed request in its QR code; the wallet answers with a QR code; the counter scans it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    wait = _counter_showing_a_request(system, browser, "senior-bus-pass", offline=True)

    # The phone photographs the screen; the wallet reads the request from the picture alone.
    codes = _codes_on_screen(browser)
    assert len(codes) == 1 and "request=" in codes[0] and "request_uri=" not in codes[0]
    photo = tmp_path / "counter-screen.png"
    photo.write_bytes(browser.get_screenshot_as_png())
    answer = tmp_path / "answer.png"
    shown = json.loads(citizen_wallet.must("present", "--qr", str(photo), "--yes", "--show-qr", "--out", str(answer), "--json"))
    assert shown["shown"] is True and shown["out"] == str(answer)
    # Nothing was posted: the counter is still waiting for the scan.
    assert browser.find_element(By.ID, "waiting").is_displayed()

    browser.find_element(By.ID, "answer-image").send_keys(str(answer))
    verdict = wait.until(ec.visibility_of_element_located((By.ID, "verdict")))
    assert verdict.get_attribute("data-decision") == "true" and verdict.text == "Eligible"
    claims = browser.find_element(By.ID, "claims").text
    assert "address.locality" in claims and "Shenzhen" in claims
    assert "status list checked" in browser.find_element(By.ID, "ages").text
    for undisclosed in ("given_name", CITIZEN["given_name"], CITIZEN["birthdate"], CITIZEN["personal_identifier"]):
        assert undisclosed not in browser.page_source
