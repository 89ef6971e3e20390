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


def test_counter_screen_offline_flow(browser: Any, make_app: Any, live_server: Any, issuer: Any, holder: Any, clock: Any,
                                     tmp_path: Any) -> None:
    """Offline: the whole signed request in the on-screen QR code, the wallet's answer scanned back from a photo."""
    import json

    import zxingcpp
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from registry.trust import StaticTrust
    from verifier_helpers import ISSUER_DID, T0, present
    from wallet.presentation import fetch_request, parse_request_link, vp_token_text
    from wallet.qr import make_qr, save_qr
    from wallet.transport import Http

    snapshot = tmp_path / "trust.json"
    snapshot.write_text(json.dumps({
        "snapshot_time": T0 - 3600,
        "keys": [{"did": ISSUER_DID, "kid": issuer.kid, "jwk": issuer.key.public_key().public_jwk(), "valid_from": 0}],
        "accreditations": [{"did": ISSUER_DID, "vct": NATIONAL_ID, "valid_from": 0}],
    }))
    app = make_app(TRUST=None, TRUST_FILE=str(snapshot))
    server = live_server(app)
    wait = WebDriverWait(browser, 15)
    browser.get(server.url + "/counter")
    browser.find_element(By.ID, "lang-en").click()
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "save-token").click()
    wait.until(lambda d: len(Select(d.find_element(By.ID, "policy")).options) == 4)
    Select(browser.find_element(By.ID, "policy")).select_by_value("senior-bus-pass")
    browser.find_element(By.ID, "offline").click()
    browser.find_element(By.ID, "start").click()
    wait.until(ec.visibility_of_element_located((By.ID, "qr")))
    wait.until(lambda d: d.execute_script("return document.getElementById('qr').naturalWidth") > 0)
    assert browser.find_element(By.ID, "answer-image").is_displayed()

    # The citizen's phone reads the whole request from the screen: no request_uri to fetch.
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png()))
    codes = [c for c in zxingcpp.read_barcodes(shot) if c.valid]
    assert len(codes) == 1
    link = codes[0].text
    assert link == browser.find_element(By.ID, "request-uri").get_attribute("textContent")
    assert "request=" in link and "request_uri=" not in link

    class NoNetwork(Http):
        def request(self, method: str, url: str, what: str, **kwargs: Any) -> Any:
            raise AssertionError(f"the wallet went to the network: {method} {url}")

    svc = app.extensions["civicid_verifier"]
    wallet_trust = StaticTrust()
    wallet_trust.add_key(svc.did, svc.kid, svc.key.public_key())
    auth = fetch_request(parse_request_link(link, allow_loopback_http=True), http=NoNetwork(allow_loopback_http=True),
                         trust=wallet_trust, now=clock())

    # A picture without a QR code: the counter says so and keeps waiting.
    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(blank)
    browser.find_element(By.ID, "answer-image").send_keys(str(blank))
    wait.until(lambda d: "Could not read the answer" in d.find_element(By.ID, "error").text)
    assert browser.find_element(By.ID, "waiting").is_displayed()

    # The wallet's answer, shown as a QR code and photographed by the counter.
    presentation = present(issuer.issue(holder), [("age_equal_or_over", "65"), ("address", "locality")], holder,
                           aud=auth.client_id, nonce=auth.nonce, iat=clock())
    answer = tmp_path / "answer.png"
    save_qr(make_qr(vp_token_text({"national_id": [presentation]})), answer)
    browser.find_element(By.ID, "answer-image").send_keys(str(answer))
    verdict = wait.until(ec.visibility_of_element_located((By.ID, "verdict")))
    assert verdict.get_attribute("data-decision") == "true" and verdict.text == "Eligible"
    assert "Shenzhen" in browser.find_element(By.ID, "claims").text
    ages = browser.find_element(By.ID, "ages").text
    assert "status list checked 0 s ago" in ages and "registry snapshot 3700 s old" in ages
    assert "given_name" not in browser.page_source
