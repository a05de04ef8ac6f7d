"""The token changelist never lets a query touch a token column, and still renders a row no key
decrypts (issue 9)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_zcrm.crypto import generate_key
from django_zcrm.models import OAuthToken
from django_zcrm.oauth import get_oauth_client
from django_zcrm.testing import FAKE_USER_EMAIL
from tests.support.token_pages import RecordingClient, text

from .conftest import zcrm_settings_for

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:django_zcrm_oauthtoken_changelist"


@pytest.fixture
def web(recorder, superuser):
    client = RecordingClient(recorder)
    client.force_login(superuser)
    return client


@pytest.fixture
def viewer(recorder, django_user_model):
    """Someone who may only *view* the token list: the probe's attacker."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="pw-view-1", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_oauthtoken"))
    client = RecordingClient(recorder)
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "query",
    [
        "refreshtoken__startswith=1000",
        "refreshtoken__startswith=zcrm1:",
        "accesstoken__contains=",
        "accesstoken=x",
        "refreshtoken__gt=a",
        "accesstoken__regex=.",
        "refreshtoken__isnull=False",
        "api_domain__startswith=h",
        "last_error__contains=a",
    ],
)
def test_lookups_outside_the_allowed_columns_are_refused_without_counts(viewer, zoho_tokens, query):
    url = reverse(CHANGELIST) + "?" + query

    with CaptureQueriesContext(connection) as queries:
        response = viewer.get(url)

    assert response.status_code in (400, 302)
    if response.status_code == 302:
        assert "e=1" in response["Location"]
    body = response.content.decode()
    assert FAKE_USER_EMAIL not in body and "result" not in body
    assert not any(
        "accesstoken" in q["sql"].split("FROM", 1)[-1].lower()
        or "refreshtoken" in q["sql"].split("FROM", 1)[-1].lower()
        for q in queries.captured_queries
    ), "no WHERE or ORDER BY may name a token column"


def test_counts_are_identical_whatever_the_token_prefix(viewer, zoho_tokens):
    right = viewer.get(reverse(CHANGELIST) + "?refreshtoken__startswith=1000")
    wrong = viewer.get(reverse(CHANGELIST) + "?refreshtoken__startswith=9999")
    assert right.status_code == wrong.status_code
    assert right.content == wrong.content


def test_allowed_filters_and_search_still_work(viewer, zoho_tokens):
    assert viewer.get(reverse(CHANGELIST) + "?needs_reauth__exact=0").status_code == 200
    assert viewer.get(reverse(CHANGELIST) + "?state=valid").status_code == 200
    page = viewer.get(reverse(CHANGELIST) + "?q=admin@")
    assert page.status_code == 200 and FAKE_USER_EMAIL in text(page)
    # Search looks at the user only: a token's text finds nothing.
    prefix = zoho_tokens.refresh_token[:10]
    page = viewer.get(reverse(CHANGELIST) + "?q=" + prefix)
    assert FAKE_USER_EMAIL not in text(page)


@pytest.mark.parametrize("order", [str(i) for i in range(8)] + ["-7", "7.1", "6.-7"])
def test_ordering_never_names_a_token_column(viewer, zoho_tokens, order):
    with CaptureQueriesContext(connection) as queries:
        response = viewer.get(reverse(CHANGELIST) + "?o=" + order)

    assert response.status_code == 200
    for q in queries.captured_queries:
        if "ORDER BY" in q["sql"]:
            ordering = q["sql"].split("ORDER BY", 1)[1].lower()
            assert "accesstoken" not in ordering and "refreshtoken" not in ordering


def test_a_row_no_key_decrypts_shows_cannot_decrypt_and_the_list_renders(web, settings, fake_zoho):
    settings.ZCRM = zcrm_settings_for(fake_zoho, TOKEN_ENCRYPTION_KEYS=[generate_key()])
    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    before = OAuthToken.objects.values_list("accesstoken", "refreshtoken").get()
    settings.ZCRM = {**settings.ZCRM, "TOKEN_ENCRYPTION_KEYS": [generate_key()]}

    page = web.get(reverse(CHANGELIST))

    assert page.status_code == 200
    body = text(page)
    assert FAKE_USER_EMAIL in body and "cannot decrypt" in body
    assert OAuthToken.objects.values_list("accesstoken", "refreshtoken").get() == before
