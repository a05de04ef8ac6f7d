"""The token and sync pages at a 1280 x 800 laptop and a 390 x 844 phone, in a real Chromium.

Each list is checked for sideways overflow (the results table's scroll width against its
container's client width) and each page is screenshotted at both sizes; the README shows them.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from .conftest import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    LAPTOP,
    PHONE,
    copy_screenshots_to_docs,
    set_viewport,
)
from .test_admin_setup import Walk

pytestmark = pytest.mark.browser

TOKENS = "/admin/django_zcrm/oauthtoken/"
SYNC_STATES = "/admin/django_zcrm/syncstate/"
USERS = ("sales@example.com", "support.team.long.address@example.com", "ops@example.com")
LONG_ERROR = (
    "The stored refresh token is no longer valid (revoked, deleted or pushed out by newer ones): "
    "generate a new grant token and run zcrm_generate_token (or reconnect in the admin). Zoho "
    "answered invalid_code at https://accounts.zoho.eu/oauth/v2/token after 3 attempts."
)
SYNC_ROWS = f"""
from datetime import timedelta
from django.utils import timezone
from django_zcrm.models import SyncState

now = timezone.now()
SyncState.objects.all().delete()
SyncState.objects.create(module="Leads", target="crm.lead", status="done", cursor=now,
    last_success_at=now)
SyncState.objects.create(module="Contacts", target="django_zcrm.crmrecord", status="failed",
    cursor=now - timedelta(days=2), last_success_at=now - timedelta(days=2),
    last_error={LONG_ERROR!r} * 2,
    failed_ids={{"4876876000000624001": now.isoformat(), "4876876000000624002": now.isoformat()}})
SyncState.objects.create(module="Deals", target="django_zcrm.crmrecord", status="running",
    lease_owner="worker-7f3a@sync-host-01.internal.example", lease_until=now + timedelta(minutes=5))
SyncState.objects.create(module="Leads", target="crm.lead", direction="push", status="idle")
"""

OVERFLOW_JS = """
const box = document.querySelector('#changelist-form .results');
const table = document.querySelector('#result_list');
const page = document.documentElement;
return {
  boxScroll: box.scrollWidth, boxClient: box.clientWidth,
  tableScroll: table.scrollWidth,
  pageScroll: page.scrollWidth, pageClient: page.clientWidth,
};
"""
FULL_HEIGHT_JS = "return Math.min(4000, document.documentElement.scrollHeight);"


class LayoutWalk(Walk):
    """A :class:`Walk` that also screenshots a page at both sizes and measures overflow."""

    def at_both_sizes(self, name: str, *, list_page: bool = False) -> None:
        for label, (width, height) in (("1280", LAPTOP), ("390", PHONE)):
            set_viewport(self.driver, width, height)
            if list_page:
                self.driver.refresh()
            self.find("#content")
            if width == PHONE[0]:
                # The whole page, as the phone scrolls through it (the width stays the same).
                full = self.driver.execute_script(FULL_HEIGHT_JS)
                set_viewport(self.driver, width, max(height, full))
            self.step(f"{name}-{label}")
            if list_page:
                self.assert_no_sideways_scroll(f"{name} at {width} px")
        set_viewport(self.driver, *LAPTOP)

    def assert_no_sideways_scroll(self, where: str) -> None:
        sizes = self.driver.execute_script(OVERFLOW_JS)
        assert sizes["boxScroll"] <= sizes["boxClient"], (
            f"{where}: the list scrolls sideways {sizes}"
        )
        assert sizes["tableScroll"] <= sizes["boxClient"], f"{where}: the table overflows {sizes}"
        assert sizes["pageScroll"] <= sizes["pageClient"], (
            f"{where}: the page scrolls sideways {sizes}"
        )

    def column_fully_visible(self, css: str) -> bool:
        """Every cell matching ``css`` is displayed and lies inside the results box."""
        return self.driver.execute_script(
            """
            const box = document.querySelector('#changelist-form .results').getBoundingClientRect();
            const cells = [...document.querySelectorAll(arguments[0])];
            return cells.length > 0 && cells.every(c => {
              const r = c.getBoundingClientRect();
              return c.offsetParent !== null && r.width > 0 &&
                     r.left >= box.left - 1 && r.right <= box.right + 1;
            });
            """,
            css,
        )


@pytest.fixture
def walk(driver, sample_site, screenshot_dir):
    walker = LayoutWalk(driver, sample_site, screenshot_dir)
    set_viewport(driver, *LAPTOP)
    walker.open("/admin/login/?next=" + TOKENS)
    if "/login/" in driver.current_url:
        walker.type("#id_username", ADMIN_USER)
        walker.type("#id_password", ADMIN_PASSWORD)
        walker.click_and_wait("input[type=submit]", until_css="#changelist")
    yield walker
    walker.assert_no_token_shown()
    copy_screenshots_to_docs(screenshot_dir)


@pytest.fixture
def several_tokens(walk, browser_fake, sample_site):
    """Three connected users (pasted through the admin); one needs a reconnect with a long error."""
    for user in USERS:
        walk.open(TOKENS + "paste/")
        walk.type("#id_grant_token", browser_fake.accounts.issue_grant_token(user_email=user))
        walk.type("#id_user_email", user)
        walk.click_and_wait("#zcrm-paste-submit", until_css="#changelist")
    sample_site.manage(
        "shell",
        "-c",
        "from django_zcrm.models import OAuthToken; "
        f"OAuthToken.objects.filter(useridentifier={USERS[1]!r})"
        f".update(needs_reauth=True, last_error={LONG_ERROR!r})",
    )
    return USERS


def test_token_list_fits_a_laptop_and_a_phone(walk, several_tokens):
    walk.open(TOKENS)
    walk.at_both_sizes("11-token-list", list_page=True)

    walk.driver.refresh()
    walk.find("#result_list")
    assert walk.column_fully_visible("td.field-access_token_tail")
    assert walk.column_fully_visible("td.field-last_error_words")
    error_cell = walk.find("td.field-last_error_words .zcrm-clip")
    assert error_cell.get_attribute("title") == LONG_ERROR
    # A readable column, not a sliver of broken words; clipped to a few lines.
    assert error_cell.size["width"] >= 150
    assert error_cell.size["height"] <= 4 * 16

    set_viewport(walk.driver, *PHONE)
    walk.driver.refresh()
    walk.find("#result_list")
    assert walk.column_fully_visible("td.field-access_token_tail")
    assert walk.column_fully_visible("th.field-zoho_user")
    set_viewport(walk.driver, *LAPTOP)


def test_sync_state_list_fits_a_laptop_and_a_phone(walk, sample_site):
    sample_site.manage("shell", "-c", SYNC_ROWS)

    walk.open(SYNC_STATES)
    walk.at_both_sizes("12-sync-states", list_page=True)

    error_cell = walk.find("td.field-last_error_words .zcrm-clip")
    assert error_cell.get_attribute("title").startswith(LONG_ERROR[:60])


def test_paste_page_at_both_sizes(walk):
    walk.open(TOKENS + "paste/")
    walk.find("#zcrm-paste-form")
    walk.at_both_sizes("13-paste-page")

    # The scopes break only after a comma, never inside a scope (also at a phone width).
    for width, height in (LAPTOP, PHONE):
        set_viewport(walk.driver, width, height)
        lines_per_scope = walk.driver.execute_script(
            """
            return [...document.querySelectorAll('#zcrm-scopes .zcrm-scope')].map(s =>
              new Set([...s.getClientRects()].map(r => Math.round(r.top))).size);
            """
        )
        assert lines_per_scope and set(lines_per_scope) == {1}, (width, lines_per_scope)
    set_viewport(walk.driver, *LAPTOP)
    help_text = walk.text_of("#id_grant_token_helptext")
    assert "3 minutes by default, at most 10" in help_text


def test_revoke_confirmation_is_djangos_and_goes_back(walk, several_tokens):
    walk.open(TOKENS)
    walk.find("input.action-select").click()
    from selenium.webdriver.support.ui import Select

    Select(walk.find("select[name=action]")).select_by_value("revoke_and_delete")
    walk.click_and_wait("button[name=index]", until_css="#zcrm-confirm")
    assert "delete-confirmation" in walk.find("body").get_attribute("class")
    walk.at_both_sizes("14-revoke-confirmation")

    cancel = walk.find("a.cancel-link")
    assert cancel.text == "No, take me back"
    walk.click_and_wait("a.cancel-link", until_css="#changelist")
    assert len(walk.site.token_rows()) == len(several_tokens)


def test_a_refused_callback_started_in_the_admin_stays_in_the_admin(walk, browser_fake):
    walk.open(TOKENS + "connect/")
    walk.click_and_wait("#zcrm-connect-submit", until_css="#accept")

    walk.open("/zoho/callback/?" + urlencode({"code": "x", "state": "forged-" + "x" * 40}))
    walk.find("#zcrm-refused")
    walk.at_both_sizes("15-refused-in-admin")

    assert "Zoho connection refused" in walk.text_of(".breadcrumbs")
    walk.click_and_wait("#zcrm-start-again", until_css="#zcrm-connect-form")
    assert walk.driver.current_url.endswith(TOKENS + "connect/")


def test_token_detail_page_reads_in_words_and_one_date_format(walk, several_tokens):
    walk.open(TOKENS)
    walk.click_and_wait("th.field-zoho_user a", until_css="fieldset.module")
    walk.at_both_sizes("16-token-detail")

    labels = [e.text for e in walk.driver.find_elements("css selector", "fieldset label")]
    assert "API domain:" in labels and "Api domain:" not in labels
    body = walk.find("#content").text
    assert not re.search(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d", body), "a raw ISO date is shown"
