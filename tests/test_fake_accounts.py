"""The fake Zoho Accounts server, driven over real HTTP as Zoho clients drive the real one."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from django_zcrm.testing import (
    DEFAULT_SCOPES,
    FAKE_CLIENT_ID,
    FAKE_CLIENT_SECRET,
    FAKE_USER_EMAIL,
    FakeZoho,
    GrantLimitExceeded,
    TokenInfo,
)
from django_zcrm.testing.accounts import TOKEN_ENDPOINT

TOKEN_RE = re.compile(r"1000\.[0-9a-f]{32}\.[0-9a-f]{32}")
ACCESS_DENIED = {
    "error": "Access Denied",
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "status": "failure",
}
REDIRECT = "http://127.0.0.1:8000/zcrm/callback/"


@pytest.fixture
def fake() -> Iterator[FakeZoho]:
    with FakeZoho() as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture
def quiet_client_log() -> Iterator[None]:
    """Silence urllib3's DEBUG request lines for tests that put secrets in the URL on purpose.

    Old Zoho SDKs send the client secret and tokens in the query string; urllib3 (the *test's*
    client, not code under test) logs full URLs at DEBUG, which the secret canary would flag.
    """
    client_logger = logging.getLogger("urllib3")
    old_level = client_logger.level
    client_logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        client_logger.setLevel(old_level)


def token_call(
    fake: FakeZoho, session: requests.Session, how: str = "form", **params: Any
) -> requests.Response:
    """POST /oauth/v2/token the way one family of Zoho clients does."""
    url = f"{fake.url}/oauth/v2/token"
    if how == "query-null":  # zcrmsdk 2.x: everything in the query string, body "null"
        return session.post(url, params=params, data=b"null")
    if how == "query-empty":  # Ruby/Node SDKs: query string, empty body
        return session.post(url, params=params)
    if how == "multipart":
        return session.post(url, files={k: (None, str(v)) for k, v in params.items()})
    return session.post(url, data=params)  # PHP/v8 SDKs: urlencoded body


def exchange(
    fake: FakeZoho, session: requests.Session, code: str, how: str = "form", **overrides: Any
) -> requests.Response:
    params = {
        "grant_type": "authorization_code",
        "client_id": FAKE_CLIENT_ID,
        "client_secret": FAKE_CLIENT_SECRET,
        "code": code,
        **overrides,
    }
    return token_call(fake, session, how, **params)


def refresh(
    fake: FakeZoho, session: requests.Session, refresh_token: str, **overrides: Any
) -> requests.Response:
    params = {
        "grant_type": "refresh_token",
        "client_id": FAKE_CLIENT_ID,
        "client_secret": FAKE_CLIENT_SECRET,
        "refresh_token": refresh_token,
        **overrides,
    }
    return token_call(fake, session, **params)


def user_info(
    fake: FakeZoho, session: requests.Session, token: str, scheme: str = "Zoho-oauthtoken"
) -> requests.Response:
    return session.get(
        f"{fake.url}/oauth/user/info", headers={"Authorization": f"{scheme} {token}"}
    )


def new_tokens(fake: FakeZoho, session: requests.Session, **grant: Any) -> dict[str, Any]:
    body = exchange(fake, session, fake.accounts.issue_grant_token(**grant)).json()
    assert "access_token" in body, body
    return body


# -- authorization_code ----------------------------------------------------------------------------


@pytest.mark.usefixtures("quiet_client_log")
@pytest.mark.parametrize("how", ["form", "query-null", "query-empty", "multipart"])
def test_grant_code_exchange_returns_zoho_token_body(
    fake: FakeZoho, session: requests.Session, how: str
) -> None:
    response = exchange(fake, session, fake.accounts.issue_grant_token(), how)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "api_domain", "token_type", "expires_in"}
    assert TOKEN_RE.fullmatch(body["access_token"])
    assert TOKEN_RE.fullmatch(body["refresh_token"])
    assert body["api_domain"] == fake.url
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600


def test_online_grant_gives_no_refresh_token(fake: FakeZoho, session: requests.Session) -> None:
    body = new_tokens(fake, session, access_type="online")
    assert "refresh_token" not in body
    info = fake.accounts.lookup_access_token(body["access_token"])
    assert info is not None and info.refresh_token_id is None


def test_legacy_mode_sends_milliseconds_with_expires_in_sec(session: requests.Session) -> None:
    with FakeZoho(legacy_expires=True) as fake:
        body = new_tokens(fake, session)
    assert body["expires_in"] == 3600000
    assert body["expires_in_sec"] == 3600


def test_access_token_lifetime_option_sets_expires_in(
    fake: FakeZoho, session: requests.Session
) -> None:
    fake.accounts.access_token_lifetime = 60
    assert new_tokens(fake, session)["expires_in"] == 60


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "1000.UNKNOWNCLIENT"},
        {"client_secret": "wrong"},
        {"client_secret": ""},
    ],
)
def test_bad_client_credentials_give_invalid_client(
    fake: FakeZoho, session: requests.Session, overrides: dict[str, str]
) -> None:
    code = fake.accounts.issue_grant_token()
    response = exchange(fake, session, code, **overrides)
    assert response.status_code == 200
    assert response.json() == {"error": "invalid_client"}
    # The code was not used up by the failed attempt.
    assert "access_token" in exchange(fake, session, code).json()


def test_unknown_code_gives_invalid_code(fake: FakeZoho, session: requests.Session) -> None:
    response = exchange(fake, session, "1000." + "0" * 32 + "." + "0" * 32)
    assert response.status_code == 200
    assert response.json() == {"error": "invalid_code"}


def test_grant_code_is_single_use(fake: FakeZoho, session: requests.Session) -> None:
    code = fake.accounts.issue_grant_token()
    assert "access_token" in exchange(fake, session, code).json()
    assert exchange(fake, session, code).json() == {"error": "invalid_code"}


def test_expired_grant_code_is_refused(fake: FakeZoho, session: requests.Session) -> None:
    code = fake.accounts.issue_grant_token()
    fake.clock.advance(121)
    assert exchange(fake, session, code).json() == {"error": "invalid_code"}


def test_grant_code_is_usable_just_before_it_expires(
    fake: FakeZoho, session: requests.Session
) -> None:
    code = fake.accounts.issue_grant_token(lifetime=120)
    fake.clock.advance(119)
    assert "access_token" in exchange(fake, session, code).json()


def test_grant_code_of_another_client_is_refused(session: requests.Session) -> None:
    with FakeZoho(
        clients={FAKE_CLIENT_ID: FAKE_CLIENT_SECRET, "1000.OTHER": "other-secret"}
    ) as fake:
        code = fake.accounts.issue_grant_token(client_id="1000.OTHER")
        response = exchange(fake, session, code)
    assert response.json() == {"error": "invalid_code"}


def test_error_status_option_sends_errors_with_400(session: requests.Session) -> None:
    with FakeZoho(error_status=400) as fake:
        response = exchange(fake, session, "nope")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_code"}


def test_unsupported_grant_type_is_refused(fake: FakeZoho, session: requests.Session) -> None:
    body = token_call(
        fake,
        session,
        grant_type="password",
        client_id=FAKE_CLIENT_ID,
        client_secret=FAKE_CLIENT_SECRET,
    ).json()
    assert body == {"error": "unsupported_grant_type"}


def test_redirect_uri_must_match_the_one_the_code_was_issued_for(
    fake: FakeZoho, session: requests.Session
) -> None:
    code = fake.accounts.issue_grant_token(redirect_uri=REDIRECT)
    assert exchange(fake, session, code, redirect_uri="http://evil.example/cb").json() == {
        "error": "invalid_redirect_uri"
    }
    assert "access_token" in exchange(fake, session, code, redirect_uri=REDIRECT).json()


# -- refresh_token ---------------------------------------------------------------------------------


def test_refresh_returns_a_new_access_token_and_no_refresh_token(
    fake: FakeZoho, session: requests.Session
) -> None:
    tokens = new_tokens(fake, session)
    body = refresh(fake, session, tokens["refresh_token"]).json()
    assert set(body) == {"access_token", "api_domain", "token_type", "expires_in"}
    assert TOKEN_RE.fullmatch(body["access_token"])
    assert body["access_token"] != tokens["access_token"]
    info = fake.accounts.lookup_access_token(body["access_token"])
    assert isinstance(info, TokenInfo)
    assert info.user_email == FAKE_USER_EMAIL
    assert info.client_id == FAKE_CLIENT_ID
    assert info.refresh_token_id == fake.accounts.refresh_token_id(tokens["refresh_token"])
    assert "ZohoCRM.modules.ALL" in info.scopes and info.has_scope("aaaserver.PROFILE.read")
    # The earlier token keeps working: Zoho does not revoke it on refresh.
    assert fake.accounts.lookup_access_token(tokens["access_token"]) is not None


def test_refresh_with_unknown_token_gives_invalid_code(
    fake: FakeZoho, session: requests.Session
) -> None:
    assert refresh(fake, session, "1000.deadbeef.deadbeef").json() == {"error": "invalid_code"}


def test_refresh_with_bad_client_gives_invalid_client(
    fake: FakeZoho, session: requests.Session
) -> None:
    tokens = new_tokens(fake, session)
    assert refresh(fake, session, tokens["refresh_token"], client_secret="x").json() == {
        "error": "invalid_client"
    }


def test_eleventh_refresh_in_the_window_is_access_denied(
    fake: FakeZoho, session: requests.Session
) -> None:
    tokens = new_tokens(fake, session)
    for _ in range(10):
        assert "access_token" in refresh(fake, session, tokens["refresh_token"]).json()
    response = refresh(fake, session, tokens["refresh_token"])
    assert response.status_code == 200
    assert response.json() == ACCESS_DENIED


def test_throttled_refresh_token_stays_blocked_until_the_window_ends(
    fake: FakeZoho, session: requests.Session
) -> None:
    tokens = new_tokens(fake, session)
    for _ in range(10):
        refresh(fake, session, tokens["refresh_token"])
    fake.clock.advance(599)
    assert refresh(fake, session, tokens["refresh_token"]).json() == ACCESS_DENIED
    fake.clock.advance(2)
    assert "access_token" in refresh(fake, session, tokens["refresh_token"]).json()


def test_throttle_is_per_refresh_token(fake: FakeZoho, session: requests.Session) -> None:
    first, second = new_tokens(fake, session), new_tokens(fake, session)
    for _ in range(10):
        refresh(fake, session, first["refresh_token"])
    assert refresh(fake, session, first["refresh_token"]).json() == ACCESS_DENIED
    assert "access_token" in refresh(fake, session, second["refresh_token"]).json()


def test_sixteenth_active_access_token_invalidates_the_oldest(
    fake: FakeZoho, session: requests.Session
) -> None:
    fake.accounts.max_mints_per_window = None  # reach 16 without waiting out windows
    tokens = new_tokens(fake, session)
    minted = [tokens["access_token"]]
    for _ in range(15):
        minted.append(refresh(fake, session, tokens["refresh_token"]).json()["access_token"])
    assert fake.accounts.lookup_access_token(minted[0]) is None
    assert all(fake.accounts.lookup_access_token(t) is not None for t in minted[1:])
    assert fake.accounts.active_access_tokens(tokens["refresh_token"]) == 15
    assert user_info(fake, session, minted[0]).json()["code"] == "INVALID_TOKEN"


def test_access_token_expires_on_the_fake_clock(fake: FakeZoho, session: requests.Session) -> None:
    tokens = new_tokens(fake, session)
    fake.clock.advance(3599)
    assert fake.accounts.lookup_access_token(tokens["access_token"]) is not None
    fake.clock.advance(2)
    assert fake.accounts.lookup_access_token(tokens["access_token"]) is None
    assert user_info(fake, session, tokens["access_token"]).status_code == 401


def test_expire_access_tokens_invalidates_every_issued_token(
    fake: FakeZoho, session: requests.Session
) -> None:
    tokens = new_tokens(fake, session)
    fake.accounts.expire_access_tokens()
    assert fake.accounts.lookup_access_token(tokens["access_token"]) is None
    fresh = refresh(fake, session, tokens["refresh_token"]).json()["access_token"]
    assert fake.accounts.lookup_access_token(fresh) is not None


def test_token_requests_are_counted_by_grant_type(
    fake: FakeZoho, session: requests.Session
) -> None:
    tokens = new_tokens(fake, session)
    refresh(fake, session, tokens["refresh_token"])
    refresh(fake, session, tokens["refresh_token"])
    exchange(fake, session, "bad")
    assert fake.accounts.token_requests() == 4
    assert fake.accounts.token_requests("authorization_code") == 2
    assert fake.accounts.token_requests("refresh_token") == 2
    assert fake.count(endpoint=TOKEN_ENDPOINT) == 4
    fake.reset_counters()
    assert fake.accounts.token_requests() == 0


def test_token_delay_keeps_concurrent_token_calls_in_flight_together(fake: FakeZoho) -> None:
    fake.accounts.token_delay = 0.3
    tokens = fake.accounts.issue_refresh_token()

    def call(_: int) -> dict[str, Any]:
        with requests.Session() as s:
            return refresh(fake, s, tokens).json()

    with ThreadPoolExecutor(3) as pool:
        bodies = list(pool.map(call, range(3)))
    assert all("access_token" in b for b in bodies)
    assert fake.peak_concurrency(TOKEN_ENDPOINT) == 3


def test_refresh_tokens_per_user_are_capped(fake: FakeZoho, session: requests.Session) -> None:
    fake.accounts.max_refresh_tokens_per_user = 2
    first = new_tokens(fake, session)
    new_tokens(fake, session)
    new_tokens(fake, session)
    assert refresh(fake, session, first["refresh_token"]).json() == {"error": "invalid_code"}
    assert fake.accounts.lookup_access_token(first["access_token"]) is None


def test_unknown_accounts_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="max_mint"):
        FakeZoho(max_mint=3)


# -- revoke ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("quiet_client_log")
@pytest.mark.parametrize("in_body", [False, True])
def test_revoke_kills_the_refresh_token_and_its_access_tokens(
    fake: FakeZoho, session: requests.Session, in_body: bool
) -> None:
    tokens = new_tokens(fake, session)
    url = f"{fake.url}/oauth/v2/token/revoke"
    if in_body:
        response = session.post(url, data={"token": tokens["refresh_token"]})
    else:
        response = session.post(url, params={"token": tokens["refresh_token"]})
    assert response.status_code == 200
    assert response.json() == {"status": "success"}
    assert fake.accounts.lookup_access_token(tokens["access_token"]) is None
    assert refresh(fake, session, tokens["refresh_token"]).json() == {"error": "invalid_code"}


def test_revoking_an_unknown_token_is_a_400(fake: FakeZoho, session: requests.Session) -> None:
    response = session.post(f"{fake.url}/oauth/v2/token/revoke", params={"token": "not-a-token"})
    assert response.status_code == 400
    assert response.json() == {"status": "failure", "error": "invalid_token"}


def test_revoke_refresh_token_method_reports_whether_it_revoked(fake: FakeZoho) -> None:
    token = fake.accounts.issue_refresh_token()
    assert fake.accounts.revoke_refresh_token(token) is True
    assert fake.accounts.revoke_refresh_token(token) is False


# -- user info -------------------------------------------------------------------------------------


def test_user_info_describes_the_token_owner(fake: FakeZoho, session: requests.Session) -> None:
    tokens = new_tokens(fake, session)
    response = user_info(fake, session, tokens["access_token"])
    assert response.status_code == 200
    assert response.json() == {
        "First_Name": "Ada",
        "Last_Name": "Admin",
        "Email": FAKE_USER_EMAIL,
        "Display_Name": "Ada Admin",
        "ZUID": fake.accounts.users[FAKE_USER_EMAIL].zuid,
    }


def test_user_info_for_an_added_user(fake: FakeZoho, session: requests.Session) -> None:
    user = fake.accounts.add_user("grace@example.com", "Grace", "Hopper")
    tokens = new_tokens(fake, session, user_email="grace@example.com")
    body = user_info(fake, session, tokens["access_token"]).json()
    assert body["Email"] == "grace@example.com"
    assert body["ZUID"] == user.zuid != fake.accounts.users[FAKE_USER_EMAIL].zuid


@pytest.mark.parametrize(
    "scheme,token",
    [
        ("Zoho-oauthtoken", "1000.unknown.token"),
        ("Zoho-oauthtoken", ""),
        ("Bearer", None),
    ],
)
def test_user_info_with_a_bad_token_is_invalid_token(
    fake: FakeZoho, session: requests.Session, scheme: str, token: str | None
) -> None:
    if token is None:
        token = new_tokens(fake, session)["access_token"]
    response = user_info(fake, session, token, scheme)
    assert response.status_code == 401
    assert response.json() == {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    }


def test_user_info_needs_the_profile_scope(fake: FakeZoho, session: requests.Session) -> None:
    tokens = new_tokens(fake, session, scope="ZohoCRM.modules.ALL,ZohoCRM.users.READ")
    response = user_info(fake, session, tokens["access_token"])
    assert response.status_code == 401
    assert response.json() == {
        "code": "OAUTH_SCOPE_MISMATCH",
        "details": {},
        "message": "invalid oauth scope to access this URL",
        "status": "error",
    }


def test_profile_scope_is_matched_case_insensitively(
    fake: FakeZoho, session: requests.Session
) -> None:
    tokens = new_tokens(fake, session, scope="ZohoCRM.modules.ALL,aaaserver.profile.READ")
    assert user_info(fake, session, tokens["access_token"]).status_code == 200


def test_user_info_after_revoke_is_invalid_token(fake: FakeZoho, session: requests.Session) -> None:
    tokens = new_tokens(fake, session)
    fake.accounts.revoke_refresh_token(tokens["refresh_token"])
    assert user_info(fake, session, tokens["access_token"]).json()["code"] == "INVALID_TOKEN"


# -- consent (web flow) ----------------------------------------------------------------------------


def auth_params(**overrides: str) -> dict[str, str]:
    params = {
        "client_id": FAKE_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "ZohoCRM.modules.ALL,AaaServer.profile.READ",
        "access_type": "offline",
        "prompt": "consent",
        "state": "s<t>&1",
    }
    params.update(overrides)
    return params


def decide(
    fake: FakeZoho,
    session: requests.Session,
    decision: str,
    email: str | None = None,
    **overrides: str,
) -> requests.Response:
    form = {**auth_params(**overrides), "decision": decision}
    if email is not None:
        form["email"] = email
    return session.post(f"{fake.url}/oauth/v2/auth/decide", data=form, allow_redirects=False)


def test_consent_page_shows_client_scopes_and_buttons(
    fake: FakeZoho, session: requests.Session
) -> None:
    response = session.get(f"{fake.url}/oauth/v2/auth", params=auth_params())
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert "<title>Fake Zoho consent</title>" in page
    assert FAKE_CLIENT_ID in page
    assert "<li>ZohoCRM.modules.ALL</li>" in page and "<li>AaaServer.profile.READ</li>" in page
    assert f'value="{FAKE_USER_EMAIL}"' in page
    assert 'id="accept"' in page and 'id="deny"' in page
    assert 'action="/oauth/v2/auth/decide"' in page
    assert "s&lt;t&gt;&amp;1" in page  # state is escaped, not injected


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "1000.UNKNOWN"},
        {"redirect_uri": ""},
        {"response_type": "token"},
    ],
)
def test_consent_page_refuses_a_bad_request(
    fake: FakeZoho, session: requests.Session, overrides: dict[str, str]
) -> None:
    response = session.get(f"{fake.url}/oauth/v2/auth", params=auth_params(**overrides))
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")


def test_accepting_redirects_with_a_code_that_works(
    fake: FakeZoho, session: requests.Session
) -> None:
    response = decide(fake, session, "accept")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["location"] == "us"
    assert query["accounts-server"] == fake.url
    assert query["state"] == "s<t>&1"
    body = exchange(fake, session, query["code"], redirect_uri=REDIRECT).json()
    assert "refresh_token" in body  # access_type=offline
    assert user_info(fake, session, body["access_token"]).json()["Email"] == FAKE_USER_EMAIL


def test_accepting_as_a_new_user_adds_that_user(fake: FakeZoho, session: requests.Session) -> None:
    response = decide(fake, session, "accept", email="new.person@example.com", access_type="online")
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    assert "new.person@example.com" in fake.accounts.users
    body = exchange(fake, session, code).json()
    assert "refresh_token" not in body
    assert (
        user_info(fake, session, body["access_token"]).json()["Email"] == "new.person@example.com"
    )


def test_denying_redirects_with_access_denied(fake: FakeZoho, session: requests.Session) -> None:
    response = decide(fake, session, "deny")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query == {"error": ["access_denied"], "state": ["s<t>&1"]}


def test_redirect_uri_with_a_query_keeps_it(fake: FakeZoho, session: requests.Session) -> None:
    response = decide(fake, session, "deny", redirect_uri=REDIRECT + "?next=/admin/", state="")
    assert response.headers["Location"] == REDIRECT + "?next=/admin/&error=access_denied"


def test_decide_refuses_an_unknown_client(fake: FakeZoho, session: requests.Session) -> None:
    assert decide(fake, session, "accept", client_id="1000.UNKNOWN").status_code == 400


# -- self-client console and grant limits ----------------------------------------------------------


def test_self_client_console_hands_out_a_usable_grant(
    fake: FakeZoho, session: requests.Session
) -> None:
    body = session.get(
        f"{fake.url}/_fake/self-client/grant",
        params={"user": "demo@example.com", "scope": "ZohoCRM.modules.ALL"},
    ).json()
    assert set(body) == {"code", "expires_in"} and body["expires_in"] == 120
    assert TOKEN_RE.fullmatch(body["code"])
    tokens = exchange(fake, session, body["code"]).json()
    info = fake.accounts.lookup_access_token(tokens["access_token"])
    assert info is not None
    assert info.user_email == "demo@example.com"
    assert info.scopes == frozenset({"ZohoCRM.modules.ALL"})


def test_self_client_defaults_to_the_admin_and_default_scopes(
    fake: FakeZoho, session: requests.Session
) -> None:
    code = session.get(f"{fake.url}/_fake/self-client/grant").json()["code"]
    info = fake.accounts.lookup_access_token(exchange(fake, session, code).json()["access_token"])
    assert info is not None and info.user_email == FAKE_USER_EMAIL
    assert info.scopes == frozenset(DEFAULT_SCOPES.split(","))


def test_grant_limit_per_client_when_enabled(session: requests.Session) -> None:
    with FakeZoho(max_grants_per_window=2) as fake:
        url = f"{fake.url}/_fake/self-client/grant"
        assert "code" in session.get(url).json()
        assert "code" in session.get(url).json()
        assert session.get(url).json() == {"error": "access_denied"}
        with pytest.raises(GrantLimitExceeded):
            fake.accounts.issue_grant_token()
        fake.clock.advance(601)
        assert "code" in session.get(url).json()


def test_issue_grant_token_refuses_an_unknown_client(fake: FakeZoho) -> None:
    with pytest.raises(ValueError, match="unknown client"):
        fake.accounts.issue_grant_token(client_id="1000.NOPE")


# -- secrecy ---------------------------------------------------------------------------------------


def test_token_values_never_reach_the_logs(
    fake: FakeZoho, session: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = new_tokens(fake, session)
    refresh(fake, session, tokens["refresh_token"])
    session.post(f"{fake.url}/oauth/v2/token/revoke", data={"token": tokens["refresh_token"]})
    ours = [r for r in caplog.records if r.name.startswith("django_zcrm")]
    assert ours  # the fake does log requests at DEBUG
    logged = "\n".join(r.getMessage() for r in ours)
    assert tokens["access_token"] not in logged
    assert tokens["refresh_token"] not in logged
    assert FAKE_CLIENT_SECRET not in logged
    assert tokens["refresh_token"] not in repr(fake.requests)
