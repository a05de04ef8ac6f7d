"""The admin setup path in a real headless Chromium against the sample project and the fake Zoho.

Each step writes a screenshot (see ``screenshot_dir``); the README's admin section uses them.
Every page the browser shows is checked for stored access and refresh tokens.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from django_zcrm.redaction import TOKEN_RE
from django_zcrm.testing import FAKE_USER_EMAIL

from .conftest import ADMIN_PASSWORD, ADMIN_USER, copy_screenshots_to_docs

pytestmark = pytest.mark.browser

WAIT_SECONDS = 15
SECOND_USER = "sales@example.com"


class Walk:
    """Drives the browser, names each step's screenshot and keeps every page it saw."""

    def __init__(self, driver, site, screenshot_dir: Path) -> None:
        self.driver = driver
        self.site = site
        self.screenshot_dir = screenshot_dir
        self.pages: list[tuple[str, str]] = []
        self.tokens: set[str] = set()

    def open(self, path: str) -> None:
        self.driver.get(self.site.url + path)

    def find(self, css: str):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, WAIT_SECONDS).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, css))
        )

    def text_of(self, css: str) -> str:
        return self.find(css).text.replace("\xa0", " ")

    def click_and_wait(self, css: str, *, until_css: str) -> None:
        """Click, then wait for the next page (the old one goes stale, the new one has ``until_css``)."""
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        old_page = self.find("html")
        self.find(css).click()
        WebDriverWait(self.driver, WAIT_SECONDS).until(ec.staleness_of(old_page))
        self.find(until_css)

    def type(self, css: str, value: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def step(self, name: str) -> None:
        """Screenshot the current page and check it shows no stored token."""
        self.driver.save_screenshot(str(self.screenshot_dir / f"{name}.png"))
        source = self.driver.page_source
        self.pages.append((name, source))
        self.assert_no_token_shown()

    def assert_no_token_shown(self) -> None:
        for _user, access, refresh, _expiry in self.site.token_rows():
            self.tokens.update((access, refresh))
        for name, source in self.pages:
            leaked = [t[-4:] for t in self.tokens if t and t in source]
            assert not leaked, f"page {name} shows a stored token ending in {leaked}"
            assert not TOKEN_RE.search(source), f"page {name} shows a token-shaped string"

    def log_in(self) -> None:
        self.open("/admin/login/?next=/admin/django_zcrm/oauthtoken/")
        if "/login/" not in self.driver.current_url:
            return  # the module's browser session is already logged in
        self.type("#id_username", ADMIN_USER)
        self.type("#id_password", ADMIN_PASSWORD)

    def submit_login(self) -> None:
        self.click_and_wait("input[type=submit]", until_css="#changelist")


@pytest.fixture
def walk(driver, sample_site, screenshot_dir):
    walker = Walk(driver, sample_site, screenshot_dir)
    yield walker
    walker.assert_no_token_shown()
    copy_screenshots_to_docs(screenshot_dir)


def test_admin_setup_path_paste_then_connect_a_second_user(walk, browser_fake, sample_site):
    # Log in to the admin.
    walk.log_in()
    walk.step("01-admin-login")
    walk.submit_login()
    walk.step("02-token-list-empty")
    assert sample_site.token_rows() == []

    # Paste a grant token made in the (fake) API console's Self Client.
    walk.click_and_wait("#zcrm-paste", until_css="#zcrm-paste-form")
    code = browser_fake.accounts.issue_grant_token()
    walk.type("#id_grant_token", code)
    walk.step("03-paste-grant-token")
    walk.click_and_wait("#zcrm-paste-submit", until_css="#changelist")
    walk.step("04-token-stored")

    assert f"Stored Zoho tokens for {FAKE_USER_EMAIL}" in walk.text_of(".messagelist")
    assert walk.text_of("td.field-state") == "valid"
    assert walk.text_of("td.field-expiry").startswith("in ")
    rows = sample_site.token_rows()
    assert [r[0] for r in rows] == [FAKE_USER_EMAIL]
    assert rows[0][3] > time.time() * 1000 + 50 * 60 * 1000

    # The same code again: Zoho refuses a used code, the page says so in words.
    walk.click_and_wait("#zcrm-paste", until_css="#zcrm-paste-form")
    walk.type("#id_grant_token", code)
    walk.click_and_wait("#zcrm-paste-submit", until_css="#zcrm-paste-error")
    walk.step("05-used-grant-token-refused")

    error = walk.text_of("#zcrm-paste-error")
    assert "already used" in error and "generate a new one" in error
    assert walk.find("#id_grant_token").get_attribute("value") == ""
    assert len(sample_site.token_rows()) == 1

    # Connect a second Zoho user through the consent page.
    walk.open("/admin/django_zcrm/oauthtoken/")
    walk.click_and_wait("#zcrm-connect", until_css="#zcrm-connect-form")
    walk.step("06-connect-to-zoho")
    assert walk.text_of("#zcrm-redirect-uri") == f"{sample_site.url}/zoho/callback/"
    walk.click_and_wait("#zcrm-connect-submit", until_css="#accept")
    assert walk.driver.current_url.startswith(browser_fake.url + "/oauth/v2/auth?")
    walk.type("#email", SECOND_USER)
    walk.step("07-zoho-consent-page")
    walk.click_and_wait("#accept", until_css="#changelist")
    walk.step("08-second-user-connected")

    assert f"Connected Zoho user {SECOND_USER}" in walk.text_of(".messagelist")
    assert walk.driver.current_url == f"{sample_site.url}/admin/django_zcrm/oauthtoken/"
    assert [r[0] for r in sample_site.token_rows()] == [FAKE_USER_EMAIL, SECOND_USER]
    users = [cell.text for cell in walk.driver.find_elements("css selector", "th.field-zoho_user")]
    assert users == [FAKE_USER_EMAIL, SECOND_USER]


def test_forged_state_is_refused(walk, browser_fake, sample_site):
    walk.log_in()
    if "/login/" in walk.driver.current_url:
        walk.submit_login()
    # A connection started in the admin: the refusal is shown there too.
    walk.open("/admin/django_zcrm/oauthtoken/connect/")
    walk.click_and_wait("#zcrm-connect-submit", until_css="#accept")
    before = sample_site.token_rows()
    exchanges = browser_fake.count("POST /oauth/v2/token")
    code = browser_fake.accounts.issue_grant_token(user_email="mallory@example.com")

    walk.open(
        "/zoho/callback/?"
        + urlencode(
            {
                "code": code,
                "state": "forged-state-value-from-an-attacker",
                "location": "us",
                "accounts-server": browser_fake.url,
            }
        )
    )
    walk.step("09-forged-state-refused")

    assert "nothing was stored" in walk.text_of("#zcrm-refused")
    assert "Zoho connection refused" in walk.text_of(".breadcrumbs")
    start_again = walk.find("#zcrm-start-again").get_attribute("href")
    assert start_again == f"{sample_site.url}/admin/django_zcrm/oauthtoken/connect/"
    assert sample_site.token_rows() == before
    assert browser_fake.count("POST /oauth/v2/token") == exchanges


def test_declining_consent_stores_nothing(walk, browser_fake, sample_site):
    walk.log_in()
    if "/login/" in walk.driver.current_url:
        walk.submit_login()
    before = sample_site.token_rows()

    walk.open("/zoho/connect/")
    walk.click_and_wait("#zcrm-connect-submit", until_css="#deny")
    walk.click_and_wait("#deny", until_css=".messagelist")
    walk.step("10-consent-declined")

    assert "declined on Zoho's consent page" in walk.text_of(".messagelist")
    assert sample_site.token_rows() == before
