"""The OAuth lifecycle against the fake Zoho Accounts server, over real HTTP, with the DB store."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from django_zcrm.exceptions import (
    ZCRMAuthError,
    ZCRMConnectionError,
    ZCRMInvalidClientError,
    ZCRMInvalidGrantError,
    ZCRMMalformedResponseError,
    ZCRMReauthorizationRequiredError,
    ZCRMServerError,
    ZCRMTokenNotFoundError,
    ZCRMTokenThrottledError,
)
from django_zcrm.models import OAuthToken
from django_zcrm.oauth import OAuthClient, get_oauth_client
from django_zcrm.persistence import get_persistence
from django_zcrm.redaction import TOKEN_RE
from django_zcrm.testing import FAKE_CLIENT_SECRET, FAKE_USER_EMAIL

pytestmark = pytest.mark.django_db


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_client(**overrides) -> OAuthClient:
    return OAuthClient.from_settings(**overrides)


def expire_stored_token(user: str = FAKE_USER_EMAIL, *, seconds_left: float = -1) -> None:
    store = get_persistence()
    tokens = store.get_oauth_tokens(user)
    tokens.expiry_time = int((time.time() + seconds_left) * 1000)
    store.save_oauth_tokens(tokens)


def test_grant_exchange_stores_the_four_documented_columns(zcrm_settings, fake_zoho):
    before = int(time.time() * 1000)
    tokens = get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    after = int(time.time() * 1000)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT useridentifier, accesstoken, refreshtoken, expirytime FROM oauthtokens"
        )
        rows = cursor.fetchall()
    assert len(rows) == 1
    user, access, refresh, expiry = rows[0]
    assert user == FAKE_USER_EMAIL
    # Encrypted at rest (django_zcrm.crypto); the plaintext tokens have Zoho's shape.
    assert access.startswith("zcrm1:") and TOKEN_RE.fullmatch(tokens.access_token)
    assert refresh.startswith("zcrm1:") and TOKEN_RE.fullmatch(tokens.refresh_token)
    # epoch milliseconds, one hour ahead
    assert before + 3600_000 <= int(expiry) <= after + 3600_000
    assert tokens.api_domain == fake_zoho.url


def test_grant_exchange_without_configured_user_asks_zoho_for_the_email(
    settings, zcrm_settings, fake_zoho
):
    fake_zoho.accounts.add_user("sales@example.com", "Sal", "Es")
    settings.ZCRM = {**zcrm_settings, "CURRENT_USER_EMAIL": ""}
    code = fake_zoho.accounts.issue_grant_token(user_email="sales@example.com")

    tokens = get_oauth_client().generate_access_token(code)

    assert tokens.user_identifier == "sales@example.com"
    assert OAuthToken.objects.get().useridentifier == "sales@example.com"
    assert fake_zoho.count(path_prefix="/oauth/user/info") == 1


def test_grant_exchange_sends_secrets_in_the_body_never_in_the_url(zcrm_settings, fake_zoho):
    code = fake_zoho.accounts.issue_grant_token()
    get_oauth_client().generate_access_token(code)

    token_calls = [r for r in fake_zoho.requests if r.path == "/oauth/v2/token"]
    assert len(token_calls) == 1
    call = token_calls[0]
    assert not call.query, "nothing may travel in the query string"
    assert FAKE_CLIENT_SECRET.encode() in call.body and code.encode() in call.body


def test_legacy_expires_in_pair_is_read_as_milliseconds(zcrm_settings, fake_zoho):
    fake_zoho.accounts.legacy_expires = True
    tokens = get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    remaining = tokens.expiry_time - int(time.time() * 1000)
    assert 3590_000 < remaining <= 3600_000


@pytest.mark.parametrize("status", [200, 400])
def test_used_grant_token_is_refused_with_a_clear_error_and_nothing_stored(
    zcrm_settings, fake_zoho, status
):
    fake_zoho.accounts.error_status = status
    code = fake_zoho.accounts.issue_grant_token()
    get_oauth_client().generate_access_token(code)
    stored_before = list(
        OAuthToken.objects.values_list("accesstoken", "refreshtoken", "expirytime")
    )

    with pytest.raises(ZCRMInvalidGrantError) as info:
        get_oauth_client().generate_access_token(code)

    message = str(info.value)
    assert "expired" in message and "already used" in message and "generate a new one" in message
    assert code not in message
    assert (
        list(OAuthToken.objects.values_list("accesstoken", "refreshtoken", "expirytime"))
        == stored_before
    )


def test_expired_grant_token_is_refused(zcrm_settings, fake_zoho):
    code = fake_zoho.accounts.issue_grant_token(lifetime=120)
    fake_zoho.clock.advance(121)
    with pytest.raises(ZCRMInvalidGrantError):
        get_oauth_client().generate_access_token(code)
    assert not OAuthToken.objects.exists()


def test_unknown_client_gives_a_hint_about_client_id_and_data_centre(
    settings, zcrm_settings, fake_zoho
):
    settings.ZCRM = {**zcrm_settings, "CLIENT_ID": "1000.UNKNOWNCLIENT"}
    with pytest.raises(ZCRMInvalidClientError) as info:
        get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    assert "CLIENT_ID" in str(info.value) and "DATA_CENTER" in str(info.value)
    assert not OAuthToken.objects.exists()


def test_network_failure_is_a_connection_error_and_leaves_tokens_untouched(
    settings, zoho_tokens, zcrm_settings
):
    expire_stored_token()
    before = get_persistence().get_oauth_tokens(FAKE_USER_EMAIL)
    settings.ZCRM = {**zcrm_settings, "ACCOUNTS_URL": "http://127.0.0.1:9"}  # nothing listens

    with pytest.raises(ZCRMConnectionError) as info:
        get_oauth_client().get_access_token()

    assert "Could not reach Zoho Accounts" in str(info.value)
    after = get_persistence().get_oauth_tokens(FAKE_USER_EMAIL)
    assert (after.access_token, after.refresh_token, after.expiry_time) == (
        before.access_token,
        before.refresh_token,
        before.expiry_time,
    )


def test_dropped_connection_on_the_token_endpoint_is_a_connection_error(zoho_tokens, fake_zoho):
    expire_stored_token()
    fake_zoho.inject(path_prefix="/oauth/v2/token", drop=True)
    with pytest.raises(ZCRMConnectionError):
        get_oauth_client().get_access_token()


def test_malformed_json_is_a_typed_error_and_stores_nothing(zcrm_settings, fake_zoho):
    fake_zoho.inject(path_prefix="/oauth/v2/token", malformed=True)
    with pytest.raises(ZCRMMalformedResponseError) as info:
        get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    assert "HTTP 200" in str(info.value)
    assert not OAuthToken.objects.exists()


def test_html_error_page_is_a_typed_error(zoho_tokens, fake_zoho):
    expire_stored_token()
    fake_zoho.inject(path_prefix="/oauth/v2/token", html=True)
    with pytest.raises(ZCRMServerError):
        get_oauth_client().get_access_token()


def test_fresh_token_is_served_without_calling_zoho(zoho_tokens, fake_zoho):
    fake_zoho.reset_counters()
    client = get_oauth_client()
    for _ in range(5):
        assert client.get_access_token() == zoho_tokens.access_token
    assert fake_zoho.accounts.token_requests() == 0


def test_token_close_to_expiry_is_refreshed_before_it_expires(zoho_tokens, fake_zoho):
    expire_stored_token(seconds_left=120)  # inside the 300 s refresh margin
    token = get_oauth_client().get_access_token()
    assert token != zoho_tokens.access_token
    assert fake_zoho.accounts.token_requests("refresh_token") == 1
    stored = get_persistence().get_oauth_tokens(FAKE_USER_EMAIL)
    assert stored.access_token == token and stored.refresh_token == zoho_tokens.refresh_token


def test_process_cache_never_serves_an_expired_token(zoho_tokens, fake_zoho):
    clock = Clock()
    client = make_client(clock=clock)
    first = client.get_access_token()
    clock.advance(3600 - 200)  # now inside the refresh margin
    second = client.get_access_token()
    assert second != first
    assert fake_zoho.accounts.token_requests("refresh_token") == 1


def test_refresh_with_stale_token_mints_nothing_when_another_process_already_did(
    zoho_tokens, fake_zoho
):
    client_a, client_b = make_client(), make_client()
    rejected = client_b.get_access_token()
    renewed = client_a.refresh_access_token(stale_token=rejected).access_token
    assert fake_zoho.accounts.token_requests("refresh_token") == 1

    # Process B's call was rejected with the old token; it must adopt A's, not mint again.
    adopted = client_b.refresh_access_token(stale_token=rejected).access_token
    assert adopted == renewed
    assert fake_zoho.accounts.token_requests("refresh_token") == 1


@pytest.mark.parametrize("status", [200, 400])
def test_access_denied_stops_all_token_requests_until_the_window_passes(
    zoho_tokens, fake_zoho, status
):
    fake_zoho.accounts.error_status = status
    fake_zoho.inject(
        path_prefix="/oauth/v2/token",
        body={
            "error": "Access Denied",
            "status": "failure",
            "error_description": "You have made too many requests continuously. Please try again after some time.",
        },
        status=status,
    )
    expire_stored_token()
    clock = Clock()
    client = make_client(clock=clock)

    with pytest.raises(ZCRMTokenThrottledError) as info:
        client.get_access_token()
    assert info.value.retry_after and 590 <= info.value.retry_after <= 600
    assert "10 minutes" in str(info.value)
    calls = fake_zoho.count(path_prefix="/oauth/v2/token")

    # Another process (another client object) must not ask either while the window lasts.
    other = make_client(clock=clock)
    clock.advance(300)
    with pytest.raises(ZCRMTokenThrottledError):
        other.get_access_token()
    assert fake_zoho.count(path_prefix="/oauth/v2/token") == calls

    clock.advance(301)
    assert TOKEN_RE.fullmatch(other.get_access_token())
    assert fake_zoho.count(path_prefix="/oauth/v2/token") == calls + 1


def test_real_throttle_after_ten_mints_is_detected(zoho_tokens, fake_zoho):
    client = make_client()
    with pytest.raises(ZCRMTokenThrottledError):
        for _ in range(11):  # Zoho mints at most 10 per refresh token per 10 minutes
            client.refresh_access_token()
    assert fake_zoho.accounts.token_requests("refresh_token") <= 11
    stored = get_persistence().get_oauth_tokens(FAKE_USER_EMAIL)
    assert stored.throttled_until and stored.throttled_until > time.time() * 1000


def test_revoked_refresh_token_marks_the_user_for_reconnection(zoho_tokens, fake_zoho):
    fake_zoho.accounts.revoke_refresh_token(zoho_tokens.refresh_token)
    expire_stored_token()
    with pytest.raises(ZCRMReauthorizationRequiredError):
        get_oauth_client().get_access_token()
    calls = fake_zoho.accounts.token_requests()
    with pytest.raises(ZCRMReauthorizationRequiredError):
        make_client().get_access_token()
    assert fake_zoho.accounts.token_requests() == calls, "no retry after invalid_code"
    assert get_persistence().get_oauth_tokens(FAKE_USER_EMAIL).needs_reauth


def test_soft_window_failure_keeps_using_the_still_valid_token(zoho_tokens, fake_zoho):
    expire_stored_token(seconds_left=200)
    fake_zoho.inject(path_prefix="/oauth/v2/token", status=503, body="unavailable")
    token = get_oauth_client().get_access_token()
    assert token == zoho_tokens.access_token


def test_revoke_calls_zoho_and_deletes_the_stored_tokens(zoho_tokens, fake_zoho):
    get_oauth_client().revoke()
    assert not OAuthToken.objects.exists()
    revokes = [r for r in fake_zoho.requests if r.path == "/oauth/v2/token/revoke"]
    assert len(revokes) == 1 and not revokes[0].query
    assert fake_zoho.accounts.lookup_access_token(zoho_tokens.access_token) is None


def test_missing_tokens_say_how_to_create_them(zcrm_settings):
    with pytest.raises(ZCRMTokenNotFoundError) as info:
        get_oauth_client().get_access_token()
    assert "zcrm_generate_token" in str(info.value)


def test_tokens_never_appear_in_repr_or_errors(zoho_tokens):
    assert zoho_tokens.access_token not in repr(zoho_tokens)
    assert zoho_tokens.refresh_token not in repr(OAuthToken.objects.get())
    assert zoho_tokens.access_token not in str(OAuthToken.objects.get())
    error = ZCRMAuthError(f"bad token {zoho_tokens.access_token}")
    assert zoho_tokens.access_token not in str(error) and zoho_tokens.access_token not in repr(
        error
    )


@pytest.mark.django_db(transaction=True)
def test_sixteen_threads_in_one_process_cause_one_refresh(zoho_tokens, fake_zoho):
    import threading

    expire_stored_token()
    fake_zoho.accounts.token_delay = 0.3
    client = make_client()
    barrier = threading.Barrier(16)
    results: list[str] = []

    def worker():
        barrier.wait()
        results.append(client.get_access_token())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 16 and len(set(results)) == 1
    assert fake_zoho.accounts.token_requests("refresh_token") == 1
