"""The web-client flow ("Connect to Zoho" -> consent -> callback) over real HTTP to the fake server.

The Django test client plays the browser for our pages; ``requests`` plays it on the fake Zoho
consent page. Every response of our site is checked at the end for stored tokens.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.urls import reverse

from django_zcrm import webflow
from django_zcrm.conf import DEFAULT_SCOPES
from django_zcrm.exceptions import ZCRMOAuthFlowError
from django_zcrm.models import OAuthToken
from django_zcrm.testing import FAKE_CLIENT_ID, FAKE_USER_EMAIL
from django_zcrm.webflow import trusted_accounts_server
from tests.support.token_pages import RecordingClient, text

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:django_zcrm_oauthtoken_changelist"
TOKEN_ENDPOINT = "POST /oauth/v2/token"
CALLBACK = "http://testserver/zoho/callback/"


@pytest.fixture
def web(recorder, superuser, zcrm_settings):
    client = RecordingClient(recorder)
    client.force_login(superuser)
    return client


def start(web, *, admin: bool = True) -> str:
    """Press "Connect to Zoho"; return the consent URL our site redirected to."""
    url = reverse("admin:django_zcrm_oauthtoken_connect") if admin else reverse("zcrm:connect")
    response = web.post(url)
    assert response.status_code == 302, text(response)
    return response["Location"]


def consent(auth_url: str, *, email: str = FAKE_USER_EMAIL, decision: str = "accept") -> str:
    """Open the fake consent page and click Accept or Deny; return where Zoho sends the browser."""
    page = requests.get(auth_url, timeout=5)
    assert page.status_code == 200, page.text
    form = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
    form.update(email=email, decision=decision)
    parts = urlsplit(auth_url)
    answer = requests.post(
        f"{parts.scheme}://{parts.netloc}/oauth/v2/auth/decide",
        data=form,
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code in (302, 303), answer.text
    return answer.headers["Location"]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def callback_with(web, **params: str):
    return web.get(reverse("zcrm:callback") + "?" + urlencode(params))


# -- starting the flow -------------------------------------------------------------------------


def test_connect_redirects_to_zoho_consent_with_the_documented_parameters(web, fake_zoho):
    auth_url = start(web)

    parts = urlsplit(auth_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == fake_zoho.url + "/oauth/v2/auth"
    query = query_of(auth_url)
    assert query["scope"] == ",".join(DEFAULT_SCOPES)
    assert query["client_id"] == FAKE_CLIENT_ID
    assert query["response_type"] == "code"
    assert query["access_type"] == "offline"
    assert query["prompt"] == "consent"
    # No REDIRECT_URI is configured: the callback URL comes from the request.
    assert query["redirect_uri"] == CALLBACK
    assert len(query["state"]) >= 32
    assert query["state"] in web.session[webflow.SESSION_KEY]


def test_scopes_setting_and_redirect_uri_setting_are_used(web, settings, zcrm_settings):
    settings.ZCRM = {
        **zcrm_settings,
        "SCOPES": "ZohoCRM.modules.leads.READ, AaaServer.profile.READ",
        "REDIRECT_URI": "https://crm.example.com/zoho/callback/",
    }

    query = query_of(start(web))

    assert query["scope"] == "ZohoCRM.modules.leads.READ,AaaServer.profile.READ"
    assert query["redirect_uri"] == "https://crm.example.com/zoho/callback/"


def test_each_connect_gets_its_own_state(web):
    first, second = query_of(start(web))["state"], query_of(start(web))["state"]

    assert first != second
    assert {first, second} <= set(web.session[webflow.SESSION_KEY])


def test_connect_pages_show_the_redirect_uri_to_register(web):
    for name in ("admin:django_zcrm_oauthtoken_connect", "zcrm:connect"):
        page = web.get(reverse(name))
        assert page.status_code == 200
        assert CALLBACK in text(page)
        assert 'id="zcrm-connect-submit"' in page.content.decode()


def test_plain_connect_page_needs_a_logged_in_staff_member(recorder, zcrm_settings):
    response = RecordingClient(recorder).get(reverse("zcrm:connect"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_plain_connect_ignores_an_offsite_next(web, fake_zoho):
    web.post(reverse("zcrm:connect"), {"next": "https://evil.example.com/"})

    pending = list(web.session[webflow.SESSION_KEY].values())
    assert pending[0]["next"] == reverse(CHANGELIST)


# -- the callback ------------------------------------------------------------------------------


def test_accepting_consent_stores_the_users_tokens_and_lands_in_the_admin(web, fake_zoho):
    back = consent(start(web), email="sales@example.com")

    response = web.get(back, follow=True)

    assert response.redirect_chain[-1][0] == reverse(CHANGELIST)
    assert "Connected Zoho user sales@example.com" in text(response)
    row = OAuthToken.objects.get()
    assert row.useridentifier == "sales@example.com"
    assert row.accounts_server == fake_zoho.url
    # The exchange named the same redirect URI as the consent request, as Zoho demands.
    exchange = [r for r in fake_zoho.requests if r.endpoint == TOKEN_ENDPOINT][0]
    assert parse_qs(exchange.body.decode())["redirect_uri"] == [CALLBACK]


def test_several_zoho_users_can_be_connected(web, fake_zoho):
    for email in ("first@example.com", "second@example.com"):
        web.get(consent(start(web), email=email))

    assert sorted(OAuthToken.objects.values_list("useridentifier", flat=True)) == [
        "first@example.com",
        "second@example.com",
    ]
    page = text(web.get(reverse(CHANGELIST)))
    assert "first@example.com" in page and "second@example.com" in page


def test_plain_view_flow_lands_back_with_a_message(web, fake_zoho):
    response = web.get(consent(start(web, admin=False)), follow=True)

    assert f"Connected Zoho user {FAKE_USER_EMAIL}" in text(response)
    assert OAuthToken.objects.filter(useridentifier=FAKE_USER_EMAIL).exists()


def test_callback_without_state_is_refused_and_exchanges_nothing(web, fake_zoho):
    code = fake_zoho.accounts.issue_grant_token()

    response = callback_with(web, code=code, **{"accounts-server": fake_zoho.url})

    assert response.status_code == 400
    assert 'does not belong to a "Connect to Zoho" request' in text(response)
    assert fake_zoho.count(TOKEN_ENDPOINT) == 0
    assert not OAuthToken.objects.exists()


def test_forged_state_is_refused(web, fake_zoho):
    start(web)
    code = fake_zoho.accounts.issue_grant_token()

    response = callback_with(
        web,
        code=code,
        state="forged-" + "x" * 40,
        location="us",
        **{"accounts-server": fake_zoho.url},
    )

    assert response.status_code == 400
    assert "nothing was stored" in text(response)
    assert fake_zoho.count(TOKEN_ENDPOINT) == 0
    assert not OAuthToken.objects.exists()


def test_a_refusal_of_a_flow_started_in_the_admin_is_shown_in_the_admin(web, fake_zoho):
    start(web, admin=True)

    response = callback_with(web, code="x", state="forged-" + "x" * 40)

    page = response.content.decode()
    assert response.status_code == 400
    assert "admin/base.html" in [t.name for t in response.templates]
    breadcrumbs = re.search(r'<div class="breadcrumbs">(.*?)</div>', page, re.S).group(1)
    assert reverse(CHANGELIST) in breadcrumbs and "Zoho connection refused" in breadcrumbs
    again = re.search(r'<a href="([^"]+)"[^>]*id="zcrm-start-again"', page).group(1)
    assert again == reverse("admin:django_zcrm_oauthtoken_connect")
    assert "nothing was stored" in text(response)


def test_a_refusal_of_a_flow_started_on_the_plain_page_stays_plain(web, fake_zoho):
    start(web, admin=True)
    start(web, admin=False)

    response = callback_with(web, code="x", state="forged-" + "x" * 40)

    assert response.status_code == 400
    assert "admin/base.html" not in [t.name for t in response.templates]
    assert f'href="{reverse("zcrm:connect")}"' in response.content.decode()


def test_state_of_another_session_is_refused(web, recorder, superuser, fake_zoho):
    back = consent(start(web))
    other = RecordingClient(recorder)
    other.force_login(superuser)

    response = other.get(back)

    assert response.status_code == 400
    assert not OAuthToken.objects.exists()


def test_state_works_only_once(web, fake_zoho):
    back = consent(start(web))
    web.get(back)

    replay = web.get(back)

    assert replay.status_code == 400
    assert fake_zoho.count(TOKEN_ENDPOINT) == 1


def test_denied_consent_says_so_and_stores_nothing(web, fake_zoho):
    back = consent(start(web), decision="deny")

    assert query_of(back)["error"] == "access_denied"
    response = web.get(back, follow=True)

    assert response.redirect_chain[-1][0] == reverse(CHANGELIST)
    assert "declined on Zoho's consent page" in text(response)
    assert not OAuthToken.objects.exists()


def test_code_zoho_refuses_is_reported_in_words(web, fake_zoho):
    back = consent(start(web))
    fake_zoho.inject(endpoint=TOKEN_ENDPOINT, status=200, body={"error": "invalid_code"})

    response = web.get(back, follow=True)

    assert "Zoho did not complete the connection" in text(response)
    assert "already used" in text(response)
    assert not OAuthToken.objects.exists()


def test_untrusted_accounts_server_is_refused_before_the_secret_is_sent(web, fake_zoho):
    back = query_of(consent(start(web)))
    back["accounts-server"] = "https://accounts.zoho.com.evil.example"

    response = callback_with(web, **back)

    assert response.status_code == 400
    assert "neither a Zoho accounts server nor the configured" in text(response)
    assert fake_zoho.count(TOKEN_ENDPOINT) == 0


def test_callback_refuses_visitors_who_may_not_connect(recorder, zcrm_settings, fake_zoho):
    response = RecordingClient(recorder).get(reverse("zcrm:callback") + "?code=x&state=y")

    assert response.status_code == 403
    assert fake_zoho.count(TOKEN_ENDPOINT) == 0


def test_callback_answers_only_get(web):
    assert web.post(reverse("zcrm:callback")).status_code == 405


# -- which accounts server the code goes to ----------------------------------------------------


@pytest.mark.parametrize(
    "candidate",
    [
        "https://accounts.zoho.com",
        "https://accounts.zoho.eu/",
        "https://accounts.zohocloud.ca",
        "https://accounts.zoho.com.au",
    ],
)
def test_zoho_accounts_servers_are_trusted(settings, candidate):
    settings.ZCRM = {"CLIENT_ID": "1000.X", "CLIENT_SECRET": "s" * 20}

    assert trusted_accounts_server(candidate, None) == candidate.rstrip("/")


@pytest.mark.parametrize(
    "candidate",
    [
        "http://accounts.zoho.eu",  # not https
        "https://accounts.zoho.eu.evil.example",  # lookalike host
        "https://evil.example/accounts.zoho.eu",  # Zoho name in the path only
        "https://accounts.zoho.eu@evil.example",  # userinfo trick
        "https://accounts.zoho.eu:8443",  # another port
        "https://zoho.eu",  # not an accounts host
        "https://accounts.zoho.eu/oauth?x=1",  # path and query
        "javascript:alert(1)",
    ],
)
def test_other_accounts_servers_are_refused(settings, candidate):
    settings.ZCRM = {"CLIENT_ID": "1000.X", "CLIENT_SECRET": "s" * 20}

    with pytest.raises(ZCRMOAuthFlowError):
        trusted_accounts_server(candidate, None)


def test_configured_accounts_url_is_trusted_exactly(settings):
    settings.ZCRM = {
        "CLIENT_ID": "1000.X",
        "CLIENT_SECRET": "s" * 20,
        "ACCOUNTS_URL": "http://127.0.0.1:8765",
    }

    assert trusted_accounts_server("http://127.0.0.1:8765/", None) == "http://127.0.0.1:8765"
    with pytest.raises(ZCRMOAuthFlowError):
        trusted_accounts_server("http://127.0.0.1:8766", None)


def test_location_alone_picks_that_data_centre(settings):
    settings.ZCRM = {"CLIENT_ID": "1000.X", "CLIENT_SECRET": "s" * 20, "DATA_CENTER": "US"}

    assert trusted_accounts_server(None, "eu") == "https://accounts.zoho.eu"
    assert trusted_accounts_server(None, "nowhere") == "https://accounts.zoho.com"
