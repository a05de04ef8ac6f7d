"""The token admin: state columns, paste page, actions and permissions, against the fake Zoho server.

Every response any test fetches is kept and checked at the end: no page may contain a stored
access or refresh token (or anything token-shaped).
"""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import formats, timezone

from django_zcrm.admin import OAuthTokenAdmin
from django_zcrm.conf import get_settings
from django_zcrm.exceptions import ZCRMInvalidGrantError
from django_zcrm.models import OAuthToken
from django_zcrm.oauth import get_oauth_client
from django_zcrm.persistence import get_persistence
from django_zcrm.testing import FAKE_USER_EMAIL
from tests.support.token_pages import RecordingClient, text

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:django_zcrm_oauthtoken_changelist"
PASTE = "admin:django_zcrm_oauthtoken_paste"
CONNECT = "admin:django_zcrm_oauthtoken_connect"
TOKEN_ENDPOINT = "POST /oauth/v2/token"
LIFETIME = (
    "it works once, for the time duration chosen when generating it (3 minutes by default, "
    "at most 10)"
)


@pytest.fixture
def web(recorder, superuser):
    client = RecordingClient(recorder)
    client.force_login(superuser)
    return client


def staff_client(recorder, django_user_model, *codenames: str) -> RecordingClient:
    user = django_user_model.objects.create_user(
        f"staff-{len(codenames)}", password="pw-staff-1", is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="django_zcrm", codename__in=codenames)
    )
    client = RecordingClient(recorder)
    client.force_login(user)
    return client


def changelist_action(web, action: str, users: list[str], *, confirm: bool = False):
    pks = list(OAuthToken.objects.filter(useridentifier__in=users).values_list("pk", flat=True))
    data = {"action": action, "_selected_action": pks}
    if confirm:
        data["post"] = "yes"
    return web.post(reverse(CHANGELIST), data, follow=True)


# -- the changelist ----------------------------------------------------------------------------


def test_changelist_shows_user_data_centre_expiry_state_and_masked_tail(
    web, zoho_tokens, fake_zoho
):
    page = web.get(reverse(CHANGELIST))

    assert page.status_code == 200
    body = text(page)
    assert FAKE_USER_EMAIL in body
    assert re.search(r"in (59 minutes|1 hour)", body)
    assert "valid" in body
    assert "****" + zoho_tokens.access_token[-4:] in body
    # The fake accounts server is no Zoho data centre: its host stands in for the code.
    assert f"127.0.0.1:{fake_zoho.port}" in body


def test_data_centre_column_names_a_known_zoho_data_centre(web, zoho_tokens):
    OAuthToken.objects.update(accounts_server="https://accounts.zoho.eu")

    page = web.get(reverse(CHANGELIST)).content.decode()

    assert '<td class="field-data_centre">EU</td>' in page


def test_expired_access_token_reads_expired(web, zoho_tokens):
    OAuthToken.objects.update(expirytime=int(time.time() * 1000) - 5000)

    page = web.get(reverse(CHANGELIST)).content.decode()

    assert '<td class="field-expiry">expired</td>' in page
    assert "expired (refreshed on next use)" in page


def test_failed_refresh_reads_needs_reconnect_with_the_error_in_words(web, zoho_tokens):
    OAuthToken.objects.update(
        needs_reauth=True, last_error="The stored refresh token is no longer valid."
    )

    body = text(web.get(reverse(CHANGELIST)))

    assert "needs reconnect" in body
    assert "The stored refresh token is no longer valid." in body


def test_throttled_row_says_until_when(web, zoho_tokens):
    now = int(time.time() * 1000)
    OAuthToken.objects.update(expirytime=now - 1000, throttled_until=now + 300_000)

    body = text(web.get(reverse(CHANGELIST)))

    assert "throttled by Zoho; throttled until" in body


def test_state_filter_separates_valid_expired_and_needs_reconnect(web, zcrm_settings):
    now = int(time.time() * 1000)
    for user, expiry, reauth in (
        ("ok@example.com", now + 600_000, False),
        ("old@example.com", now - 600_000, False),
        ("gone@example.com", now + 600_000, True),
    ):
        OAuthToken.objects.create(
            useridentifier=user,
            accesstoken="a" * 20,
            refreshtoken="r" * 20,
            expirytime=expiry,
            needs_reauth=reauth,
        )

    def listed(state: str) -> list[str]:
        page = web.get(reverse(CHANGELIST), {"state": state}).content.decode()
        return re.findall(r'<th class="field-zoho_user"><a [^>]*>([^<]+)</a>', page)

    assert listed("valid") == ["ok@example.com"]
    assert listed("expired") == ["old@example.com"]
    assert listed("needs_reauth") == ["gone@example.com"]


def test_last_refresh_reads_just_now_then_minutes_ago(web, zoho_tokens):
    assert (
        '<td class="field-last_refresh">just now</td>'
        in web.get(reverse(CHANGELIST)).content.decode()
    )

    OAuthToken.objects.update(last_refreshed_at=int(time.time() * 1000) - 5 * 60_000)

    assert "5 minutes ago" in text(web.get(reverse(CHANGELIST)))


def test_detail_page_is_read_only_and_shows_only_masked_tails(web, zoho_tokens):
    row = OAuthToken.objects.get()
    url = reverse("admin:django_zcrm_oauthtoken_change", args=[row.pk])

    page = web.get(url)

    assert page.status_code == 200
    body = text(page)
    assert "****" + zoho_tokens.refresh_token[-4:] in body
    assert '<input type="text"' not in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    # Posting an edit is refused: rows are never changed by hand.
    assert web.post(url, {"useridentifier": "x@example.com"}).status_code == 403
    assert OAuthToken.objects.get().useridentifier == FAKE_USER_EMAIL


def test_detail_page_shows_dates_in_the_admin_format_and_says_api_domain(web, zoho_tokens):
    row = OAuthToken.objects.get()

    page = web.get(reverse("admin:django_zcrm_oauthtoken_change", args=[row.pk]))

    body = text(page)
    assert "API domain" in body and "Api domain" not in body
    expires = datetime.fromtimestamp(row.expirytime / 1000, tz=UTC)
    shown = formats.localize(timezone.template_localtime(expires))
    assert re.search(r"Expires at:</label>\s*<div class=\"readonly\">" + re.escape(shown), body)
    assert not re.search(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d", body), "a raw ISO date is shown"


def test_a_long_last_error_is_clipped_in_the_list_and_whole_in_its_tooltip(web, zoho_tokens):
    error = "Zoho answered 500 while refreshing: " + "the accounts server is unavailable " * 8
    OAuthToken.objects.update(needs_reauth=True, last_error=error)

    page = web.get(reverse(CHANGELIST)).content.decode()

    cell = re.search(r'<td class="field-last_error_words">(.*?)</td>', page, re.S).group(1)
    assert cell.startswith('<span class="zcrm-clip" title="Zoho answered 500')
    assert html.unescape(re.search(r'title="([^"]*)"', cell).group(1)) == " ".join(error.split())
    assert 'href="/static/django_zcrm/admin.css"' in page


def test_revoke_confirmation_is_djangos_delete_confirmation(web, zoho_tokens):
    page = changelist_action(web, "revoke_and_delete", [FAKE_USER_EMAIL]).content.decode()

    assert re.search(r'<body class="[^"]*delete-confirmation delete-selected-confirmation', page)
    assert '<input type="submit" id="zcrm-confirm" value="Yes, I’m sure">' in page
    assert '<a href="#" class="button cancel-link">No, take me back</a>' in page
    assert "admin/js/cancel.js" in page
    row = OAuthToken.objects.get()
    change = reverse("admin:django_zcrm_oauthtoken_change", args=[row.pk])
    assert f'Zoho OAuth token: <a href="{change}">{FAKE_USER_EMAIL}</a>' in page
    assert "<li>Zoho OAuth tokens: 1</li>" in page


def test_token_rows_cannot_be_added_or_deleted_by_hand(web, zoho_tokens):
    row = OAuthToken.objects.get()

    assert web.get(reverse("admin:django_zcrm_oauthtoken_add")).status_code == 403
    assert web.get(reverse("admin:django_zcrm_oauthtoken_delete", args=[row.pk])).status_code == 403
    page = web.get(reverse(CHANGELIST))
    assert 'value="delete_selected"' not in page.content.decode()
    assert reverse("admin:django_zcrm_oauthtoken_add") not in page.content.decode()


def test_changelist_links_to_paste_and_connect_pages(web, zoho_tokens):
    page = web.get(reverse(CHANGELIST)).content.decode()

    assert f'href="{reverse(PASTE)}"' in page
    assert f'href="{reverse(CONNECT)}"' in page


def test_token_values_are_not_searchable(web, zoho_tokens):
    assert "accesstoken" not in str(OAuthTokenAdmin.search_fields)
    page = web.get(reverse(CHANGELIST), {"q": zoho_tokens.access_token[-12:]})
    assert FAKE_USER_EMAIL not in text(page).split("<tbody>")[-1]


def test_changelist_says_when_tokens_live_in_a_file_store(web, settings, zcrm_settings, tmp_path):
    settings.ZCRM = {**zcrm_settings, "TOKEN_PERSISTENCE_PATH": str(tmp_path)}

    body = text(web.get(reverse(CHANGELIST)))

    assert "Tokens are kept in FilePersistence, not in this table" in body


# -- permissions -------------------------------------------------------------------------------


def test_staff_without_the_model_permission_sees_nothing(recorder, django_user_model, zoho_tokens):
    client = staff_client(recorder, django_user_model)

    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert client.get(reverse(PASTE)).status_code == 403
    assert client.get(reverse(CONNECT)).status_code == 403
    assert client.get(reverse("zcrm:connect")).status_code == 403
    index = client.get(reverse("admin:index"))
    assert "Zoho OAuth tokens" not in text(index)
    assert FAKE_USER_EMAIL not in text(index)


def test_view_only_staff_sees_rows_but_cannot_paste_connect_or_act(
    recorder, django_user_model, zoho_tokens
):
    client = staff_client(recorder, django_user_model, "view_oauthtoken")

    page = client.get(reverse(CHANGELIST))

    assert page.status_code == 200
    assert FAKE_USER_EMAIL in text(page)
    assert reverse(PASTE) not in page.content.decode()
    assert 'name="action"' not in page.content.decode()
    assert client.get(reverse(PASTE)).status_code == 403
    assert client.post(reverse(CONNECT)).status_code == 403


def test_anonymous_visitor_is_sent_to_the_admin_login(recorder):
    client = RecordingClient(recorder)

    response = client.get(reverse(PASTE))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# -- the paste page --------------------------------------------------------------------------


def test_paste_page_explains_where_the_code_comes_from_and_its_lifetime(web, zcrm_settings):
    page = web.get(reverse(PASTE))

    body = text(page)
    assert page.status_code == 200
    assert "Self Client" in body
    assert "ZohoCRM.modules.ALL" in body
    assert 'type="password"' in page.content.decode()
    # One lifetime, said the same way in the steps, the field's help and the error.
    assert body.count(LIFETIME) == 2
    assert LIFETIME in ZCRMInvalidGrantError.default_message


def test_paste_page_uses_the_admin_form_layout_and_breaks_scopes_only_after_commas(
    web, zcrm_settings
):
    html = web.get(reverse(PASTE)).content.decode()

    assert 'href="/static/admin/css/forms.css"' in html
    assert 'href="/static/django_zcrm/admin.css"' in html
    assert '<fieldset class="module aligned">' in html
    assert '<div class="form-row field-grant_token">' in html
    assert '<div class="help" id="id_grant_token_helptext">' in html
    scopes = re.search(r'<code id="zcrm-scopes" class="zcrm-scopes">(.*?)</code>', html).group(1)
    assert scopes.split(",<wbr>") == [
        f'<span class="zcrm-scope">{scope}</span>' for scope in get_settings().scopes
    ]


def test_paste_page_is_never_cached(web, zcrm_settings):
    page = web.get(reverse(PASTE))

    assert "no-store" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]


def test_paste_page_refuses_a_post_without_csrf_token(
    recorder, superuser, zcrm_settings, fake_zoho
):
    client = RecordingClient(recorder, enforce_csrf_checks=True)
    client.force_login(superuser)

    response = client.post(reverse(PASTE), {"grant_token": fake_zoho.accounts.issue_grant_token()})

    assert response.status_code == 403
    assert not OAuthToken.objects.exists()


def test_pasting_a_grant_token_stores_tokens_and_returns_to_the_list(web, zcrm_settings, fake_zoho):
    code = fake_zoho.accounts.issue_grant_token()

    response = web.post(reverse(PASTE), {"grant_token": f"  {code}\n"}, follow=True)

    assert response.redirect_chain[-1][0] == reverse(CHANGELIST)
    row = OAuthToken.objects.get()
    assert row.useridentifier == FAKE_USER_EMAIL
    assert row.expirytime > time.time() * 1000 + 50 * 60 * 1000
    assert f"Stored Zoho tokens for {FAKE_USER_EMAIL}" in text(response)
    assert code not in response.content.decode()


def test_pasted_token_is_stored_under_the_given_email(web, zcrm_settings, fake_zoho):
    code = fake_zoho.accounts.issue_grant_token(user_email="sales@example.com")

    web.post(reverse(PASTE), {"grant_token": code, "user_email": "sales@example.com"})

    assert list(OAuthToken.objects.values_list("useridentifier", flat=True)) == [
        "sales@example.com"
    ]


def test_pasting_without_email_or_current_user_asks_zoho_whose_token_it_is(
    web, settings, zcrm_settings, fake_zoho
):
    settings.ZCRM = {**zcrm_settings, "CURRENT_USER_EMAIL": ""}
    code = fake_zoho.accounts.issue_grant_token(user_email="owner@example.com")

    web.post(reverse(PASTE), {"grant_token": code})

    assert list(OAuthToken.objects.values_list("useridentifier", flat=True)) == [
        "owner@example.com"
    ]


def test_used_grant_token_gives_a_plain_words_error_and_stores_nothing(
    web, zcrm_settings, fake_zoho
):
    code = fake_zoho.accounts.issue_grant_token()
    get_oauth_client().generate_access_token(code)
    OAuthToken.objects.all().delete()

    page = web.post(reverse(PASTE), {"grant_token": code})

    assert page.status_code == 200
    body = text(page)
    assert "wrong, expired" in body and "already used" in body
    assert "generate a new one" in body
    assert not OAuthToken.objects.exists()
    assert code not in page.content.decode()
    assert 'value="' + code[:10] not in page.content.decode()


def test_expired_grant_token_is_refused_in_plain_words(web, zcrm_settings, fake_zoho):
    code = fake_zoho.accounts.issue_grant_token(lifetime=120)
    fake_zoho.clock.advance(121)

    body = text(web.post(reverse(PASTE), {"grant_token": code}))

    assert "wrong, expired or already used: " + LIFETIME in body
    assert not OAuthToken.objects.exists()


def test_wrong_client_secret_names_the_settings_and_the_data_centre(
    web, settings, zcrm_settings, fake_zoho
):
    settings.ZCRM = {**zcrm_settings, "CLIENT_SECRET": "not-the-registered-secret"}
    code = fake_zoho.accounts.issue_grant_token()

    body = text(web.post(reverse(PASTE), {"grant_token": code}))

    assert "ZCRM['CLIENT_ID'] and ZCRM['CLIENT_SECRET']" in body
    assert f"This site asked {fake_zoho.url}" in body
    assert not OAuthToken.objects.exists()


def test_throttled_exchange_says_to_wait(web, zcrm_settings, fake_zoho):
    fake_zoho.inject(
        endpoint=TOKEN_ENDPOINT,
        status=200,
        body={
            "error": "Access Denied",
            "status": "failure",
            "error_description": "You have made too many requests continuously.",
        },
    )

    body = text(web.post(reverse(PASTE), {"grant_token": fake_zoho.accounts.issue_grant_token()}))

    assert "too many token requests" in body
    assert "Wait 10 minutes" in body
    assert not OAuthToken.objects.exists()


def test_unreachable_accounts_server_is_reported(web, settings, zcrm_settings):
    settings.ZCRM = {**zcrm_settings, "ACCOUNTS_URL": "http://127.0.0.1:9"}

    body = text(web.post(reverse(PASTE), {"grant_token": "1000.abc.def"}))

    assert "Could not reach Zoho Accounts" in body


def test_empty_grant_token_is_a_field_error(web, zcrm_settings, fake_zoho):
    page = web.post(reverse(PASTE), {"grant_token": "   "})

    assert "This field is required." in text(page)
    assert fake_zoho.count(TOKEN_ENDPOINT) == 0


# -- actions -----------------------------------------------------------------------------------


def test_refresh_now_mints_a_new_access_token(web, zoho_tokens, fake_zoho):
    before = OAuthToken.objects.get().accesstoken

    response = changelist_action(web, "refresh_now", [FAKE_USER_EMAIL])

    row = OAuthToken.objects.get()
    assert row.accesstoken != before
    assert get_persistence().get_oauth_tokens(FAKE_USER_EMAIL).refresh_token == (
        zoho_tokens.refresh_token
    )
    assert fake_zoho.accounts.token_requests("refresh_token") == 1
    assert f"New access token for {FAKE_USER_EMAIL}, valid for" in text(response)


def test_refresh_now_of_a_revoked_token_says_reconnect(web, zoho_tokens, fake_zoho):
    fake_zoho.accounts.revoke_refresh_token(zoho_tokens.refresh_token)

    response = changelist_action(web, "refresh_now", [FAKE_USER_EMAIL])

    body = text(response)
    assert "no longer valid" in body
    assert "reconnect" in body
    assert OAuthToken.objects.get().needs_reauth is True
    assert "needs reconnect" in body


def test_revoke_and_delete_asks_first_then_revokes_at_zoho(web, zoho_tokens, fake_zoho):
    confirm = changelist_action(web, "revoke_and_delete", [FAKE_USER_EMAIL])

    assert "Are you sure?" in text(confirm)
    assert FAKE_USER_EMAIL in text(confirm)
    assert OAuthToken.objects.exists()

    done = changelist_action(web, "revoke_and_delete", [FAKE_USER_EMAIL], confirm=True)

    assert f"Revoked at Zoho and deleted: {FAKE_USER_EMAIL}." in text(done)
    assert not OAuthToken.objects.exists()
    assert fake_zoho.count("POST /oauth/v2/token/revoke") == 1
    assert fake_zoho.accounts.lookup_access_token(zoho_tokens.access_token) is None
    # Already revoked by the action, so the fake refuses to revoke it again.
    assert fake_zoho.accounts.revoke_refresh_token(zoho_tokens.refresh_token) is False


def test_revoke_keeps_the_row_when_zoho_cannot_be_reached(
    web, settings, zcrm_settings, zoho_tokens
):
    OAuthToken.objects.update(accounts_server="http://127.0.0.1:9")

    done = changelist_action(web, "revoke_and_delete", [FAKE_USER_EMAIL], confirm=True)

    assert "Not revoked, so kept" in text(done)
    assert OAuthToken.objects.exists()


def test_delete_without_revoking_removes_only_the_local_row(web, zoho_tokens, fake_zoho):
    done = changelist_action(web, "delete_without_revoking", [FAKE_USER_EMAIL], confirm=True)

    assert "Deleted here (not revoked at Zoho)" in text(done)
    assert not OAuthToken.objects.exists()
    assert fake_zoho.count("POST /oauth/v2/token/revoke") == 0


def test_view_only_staff_cannot_run_actions(recorder, django_user_model, zoho_tokens, fake_zoho):
    client = staff_client(recorder, django_user_model, "view_oauthtoken")

    changelist_action(client, "revoke_and_delete", [FAKE_USER_EMAIL], confirm=True)

    assert OAuthToken.objects.exists()
    assert fake_zoho.count("POST /oauth/v2/token/revoke") == 0


def test_object_tools_hidden_without_add_permission_but_actions_kept(
    recorder, django_user_model, zoho_tokens
):
    client = staff_client(recorder, django_user_model, "view_oauthtoken", "change_oauthtoken")

    page = client.get(reverse(CHANGELIST)).content.decode()

    assert reverse(PASTE) not in page
    assert 'value="refresh_now"' in page
    assert 'value="revoke_and_delete"' not in page


# -- sync visibility ---------------------------------------------------------------------------


@pytest.fixture
def mirrored(db):
    from django_zcrm.models import CRMRecord

    CRMRecord.objects.create(
        module="Leads",
        zoho_id="3477061000000419001",
        data={
            "id": "3477061000000419001",
            "Last_Name": "Müller",
            "Company": "Acme Corp",
            "Email": "m@acme.example",
        },
    )
    CRMRecord.objects.create(
        module="Leads",
        zoho_id="3477061000000419002",
        data={"id": "3477061000000419002", "Last_Name": "Smith", "Company": "Globex"},
    )
    CRMRecord.objects.create(
        module="Accounts",
        zoho_id="3477061000000500001",
        data={"id": "3477061000000500001", "Account_Name": "Initech"},
    )


def listed_records(web, **params) -> list[str]:
    page = web.get(reverse("admin:django_zcrm_crmrecord_changelist"), params)
    assert page.status_code == 200
    return re.findall(r'<th class="field-zoho_id"><a [^>]*>(\d+)</a>', page.content.decode())


def test_record_mirror_filters_by_module(web, mirrored):
    assert listed_records(web, module="Accounts") == ["3477061000000500001"]
    assert listed_records(web, module="Leads") == ["3477061000000419001", "3477061000000419002"]


def test_record_mirror_searches_by_zoho_id_and_by_text_in_the_record(web, mirrored):
    assert listed_records(web, q="3477061000000419002") == ["3477061000000419002"]
    assert listed_records(web, q="acme corp") == ["3477061000000419001"]
    assert listed_records(web, q="Müller") == ["3477061000000419001"]
    assert listed_records(web, q="nowhere-to-be-found") == []


def test_record_mirror_is_read_only_and_shows_the_record(web, mirrored):
    from django_zcrm.models import CRMRecord

    record = CRMRecord.objects.get(zoho_id="3477061000000500001")
    page = web.get(reverse("admin:django_zcrm_crmrecord_change", args=[record.pk]))

    assert page.status_code == 200
    assert '"Account_Name": "Initech"' in text(page)
    assert 'name="_save"' not in page.content.decode()
    assert web.get(reverse("admin:django_zcrm_crmrecord_add")).status_code == 403
    assert (
        web.post(
            reverse("admin:django_zcrm_crmrecord_delete", args=[record.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert CRMRecord.objects.filter(pk=record.pk).exists()
    assert "Initech" in text(web.get(reverse("admin:django_zcrm_crmrecord_changelist")))


def test_sync_states_show_checkpoint_status_and_error(web, db):
    from datetime import datetime

    from django_zcrm.models import SyncState

    SyncState.objects.create(
        module="Leads",
        target="django_zcrm.crmrecord",
        status="failed",
        cursor=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        last_error="Zoho answered 429: API credits exhausted.",
    )

    page = web.get(reverse("admin:django_zcrm_syncstate_changelist"))

    body = text(page)
    assert "Leads" in body and "failed" in body
    assert "Zoho answered 429: API credits exhausted." in body
    assert "March 1, 2026" in body or "Mar. 1, 2026" in body
    assert '<span class="zcrm-clip" title="Zoho answered 429: API credits exhausted.">' in body
    assert 'value="delete_selected"' not in page.content.decode()
    assert web.get(reverse("admin:django_zcrm_syncstate_add")).status_code == 403


def test_a_running_sync_shows_its_lease_in_the_admin_date_format(web, db):
    from datetime import timedelta

    from django_zcrm.models import SyncState

    until = timezone.now() + timedelta(minutes=5)
    SyncState.objects.create(
        module="Deals", target="django_zcrm.crmrecord", lease_owner="worker-1", lease_until=until
    )

    body = text(web.get(reverse("admin:django_zcrm_syncstate_changelist")))

    assert f"until {formats.localize(timezone.template_localtime(until))} (worker-1)" in body
