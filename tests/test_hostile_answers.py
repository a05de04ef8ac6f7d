"""Every parser against hostile answers, served over real loopback HTTP (Hypothesis).

Each example serves one generated answer (random JSON of every type where objects, lists, strings
and numbers are expected, missing and null keys, huge numbers, deep nesting, non-JSON, truncated
bodies, wrong content types, odd status codes, redirects to a trap server, connection resets) to
one endpoint family, and checks three rules:

* nothing but a ``django_zcrm`` error (``ZCRMError``) comes out of the library;
* a call that failed left the stored tokens exactly as they were, and whatever is stored is
  plausible (printable, bounded tokens, an expiry within a year, a trusted ``api_domain``);
* no credential (Authorization header, client secret) ever reached the redirect trap.

The number of examples per family comes from ``ZCRM_HOSTILE_EXAMPLES`` (default 16, about 370
answers in all). The nightly-sized run (>= 10,000 answers) is::

    ZCRM_HOSTILE_EXAMPLES=440 PYTHONPATH=$PWD python -m pytest -p no:cacheprovider \
        tests/test_hostile_answers.py

and prints the per-family table at the end of the session.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from itertools import islice
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_zcrm.client import get_client
from django_zcrm.exceptions import ZCRMError
from django_zcrm.models import SyncState
from django_zcrm.oauth import MAX_EXPIRES_MS, get_oauth_client
from django_zcrm.persistence import get_persistence
from django_zcrm.services import Module, Modules, Org, Users
from django_zcrm.sync import push_model, sync_module
from django_zcrm.tokens import OAuthTokens
from tests.support.hostile import (
    FAMILY_COUNTS,
    FAMILY_FAILURES,
    Answer,
    HostileServer,
)
from tests.testapp.models import Lead

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("ZCRM_HOSTILE_EXAMPLES", "16"))
USER = "hostile@example.com"
SECRET = "hostile-client-secret-" + "s3cr3t"
CLIENT_ID = "1000.HOSTILECLIENTID"

# -- generated answers ------------------------------------------------------------------------------

KEYS = [
    "data", "info", "more_records", "next_page_token", "page", "per_page", "count",
    "access_token", "refresh_token", "expires_in", "expires_in_sec", "api_domain", "token_type",
    "status", "code", "message", "details", "error", "error_description", "Email", "ZUID",
    "Display_Name", "users", "org", "modules", "fields", "layouts", "related_lists", "tags", "id",
    "Modified_Time", "Created_Time", "deleted_time", "deleted_by", "type", "name", "api_name",
    "File_Name", "Size", "Note_Content", "Last_Name", "duplicate_field",
]  # fmt: skip

ODD_STRINGS = st.sampled_from(
    [
        "",
        "1000.abc",
        "https://www.zohoapis.com",
        "https://evil.example",
        "http://127.0.0.1:1",
        "9999-12-31T23:59:59+00:00",
        "0000-00-00T00:00:00",
        "é" * 5,
        "x" * 3000,
        "\x00\x01",
        "NaN",
        "1e999",
        "SUCCESS",
        "success",
        "INVALID_TOKEN",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63, -(2**63) - 1, 10**30, 0, -1, 1, 3600]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    ODD_STRINGS,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=5),
    ),
    max_leaves=16,
)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A plausible value, or anything at all."""
    return st.one_of(value, JSON_VALUES)


TOKEN = st.builds(lambda: "1000." + secrets.token_hex(16) + "." + secrets.token_hex(16))


def shaped(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A dict with the family's keys (each plausible or hostile), or any JSON at all."""
    return st.one_of(
        st.fixed_dictionaries(
            {k: maybe(v) for k, v in required.items()},
            optional={k: maybe(v) for k, v in optional.items()},
        ),
        JSON_VALUES,
    )


RECORD = st.fixed_dictionaries(
    {"id": maybe(st.text("0123456789", min_size=1, max_size=19))},
    optional={
        "Modified_Time": maybe(st.just("2026-01-02T03:04:05+00:00")),
        "Last_Name": JSON_VALUES,
        "deleted_time": maybe(st.just("2026-01-02T03:04:05+00:00")),
        "$approval": JSON_VALUES,
        "code": maybe(st.sampled_from(["SUCCESS", "INVALID_DATA", "DUPLICATE_DATA"])),
        "status": maybe(st.sampled_from(["success", "error"])),
        "details": maybe(st.fixed_dictionaries({"id": st.text("0123456789", max_size=19)})),
        "message": JSON_VALUES,
    },
)
INFO = st.fixed_dictionaries(
    {},
    optional={
        "more_records": maybe(st.booleans()),
        "next_page_token": maybe(st.text(max_size=10)),
        "page": maybe(st.integers(1, 30)),
        "per_page": maybe(st.just(200)),
        "count": maybe(st.integers(0, 500)),
    },
)
LISTING = shaped({"data": st.lists(RECORD, max_size=4)}, {"info": INFO})
TOKEN_ANSWER = shaped(
    {"access_token": TOKEN},
    {
        "refresh_token": TOKEN,
        "expires_in": st.sampled_from([3600, 0, -5, 10**12, 2**63]),
        "expires_in_sec": st.just(3600),
        "api_domain": st.sampled_from(["https://www.zohoapis.com", "https://evil.example", ""]),
        "token_type": st.just("Bearer"),
        "error": st.sampled_from(["invalid_code", "Access Denied", "invalid_client", "odd"]),
    },
)
BODIES: dict[str, st.SearchStrategy[Any]] = {
    "token": TOKEN_ANSWER,
    "revoke": shaped({"status": st.sampled_from(["success", "failure"])}, {"error": SCALARS}),
    "user_info": shaped(
        {"Email": st.just("someone@example.com")},
        {"ZUID": st.integers(1, 10**12), "Display_Name": st.text(max_size=10)},
    ),
    "listing": LISTING,
    "write": shaped({"data": st.lists(RECORD, max_size=3)}, {}),
    "users": shaped({"users": st.lists(RECORD, max_size=3)}, {"info": INFO}),
    "org": shaped({"org": st.lists(RECORD, max_size=2)}, {}),
    "modules": shaped(
        {"modules": st.lists(st.fixed_dictionaries({"api_name": maybe(st.just("Leads"))}))},
        {},
    ),
    "fields": shaped(
        {
            "fields": st.lists(RECORD, max_size=3),
            "layouts": st.lists(RECORD, max_size=2),
            "related_lists": st.lists(RECORD, max_size=2),
            "tags": st.lists(RECORD, max_size=2),
        },
        {},
    ),
}

STATUSES = st.one_of(
    st.sampled_from([200, 200, 200, 201, 202, 204, 207, 304, 400, 401, 403, 404, 429, 500, 503]),
    st.integers(min_value=200, max_value=599),
    st.just(999),
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Retry-After": st.sampled_from(
            ["1e999", "nan", "-5", "0", "Wed, 21 Oct 2015 07:28:00 GMT", "garbage", "9" * 30]
        ),
        "X-Request-Id": st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=12),
        "Content-Encoding": st.sampled_from(["gzip", "br", "deflate", "identity", "x-odd"]),
    },
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json;charset=UTF-8",
        "text/html",
        "text/plain",
        "application/octet-stream",
        None,
    ]
)


def _deep(depth: int, opener: bytes) -> bytes:
    closer = b"]" if opener == b"[" else b"}"
    if opener == b"[":
        return b"[" * depth + b"]" * depth
    return b'{"data":' * depth + b"1" + closer * depth


def answers(kind: str, trap_url: str) -> st.SearchStrategy[Answer]:
    """Every way an answer can go wrong, around bodies shaped for ``kind``."""
    body = BODIES[kind]

    def as_json(value: Any) -> bytes:
        return json.dumps(value, allow_nan=True).encode()

    json_answer = st.builds(
        lambda status, value, ct, headers: Answer(status, as_json(value), ct, headers),
        STATUSES,
        body,
        CONTENT_TYPES,
        HEADERS,
    )
    plain_200 = st.builds(lambda value: Answer(200, as_json(value)), body)
    others = st.one_of(
        st.builds(
            lambda raw, status: Answer(status, raw, "text/html"), st.binary(max_size=120), STATUSES
        ),
        st.builds(
            lambda depth, opener, status: Answer(status, _deep(depth, opener)),
            st.integers(1100, 6000),
            st.sampled_from([b"[", b"{"]),
            st.sampled_from([200, 400, 500]),
        ),
        st.builds(
            lambda value, status: Answer(status, as_json(value)[:-1] or b"{", mode="truncated"),
            body,
            st.sampled_from([200, 400, 500]),
        ),
        st.builds(
            lambda status, where: Answer(status, b"", None, {"Location": trap_url + where}),
            st.sampled_from([301, 302, 303, 307, 308]),
            st.sampled_from(["/oauth/v2/token", "/crm/v2/Leads", "/", "//evil"]),
        ),
        st.just(Answer(mode="reset")),
        st.sampled_from(
            [
                Answer(200, b'{"access_token": "\xff\xfe", "expires_in": 3600}'),
                Answer(200, b'{"data": [1, 2, 3], "info": {"more_records": true}}'),
                Answer(200, b'{"expires_in": 1e999, "access_token": "1000.x"}'),
                Answer(200, b'{"data": [{"id": ' + b"1" * 5000 + b"}]}"),
                Answer(200, b"\xef\xbb\xbf{}"),
                Answer(200, b"null"),
                Answer(200, b"[]"),
                Answer(200, b'"just a string"'),
                Answer(200, b"{}", "application/json", {"Content-Encoding": "gzip"}),
            ]
        ),
    )
    return st.one_of(json_answer, plain_200, others)


# -- the families -------------------------------------------------------------------------------------


def _consume(iterable: Any) -> None:
    for _ in islice(iterable, 2000):
        pass


def _push() -> None:
    Lead.objects.create(last_name="Hostile", company="ACME")
    push_model(Lead)


FAMILIES: dict[str, tuple[str, Callable[[], Any]]] = {
    "token exchange": ("token", lambda: get_oauth_client().generate_access_token("grant-code-12345678", USER)),
    "web flow exchange": ("token", lambda: get_oauth_client().generate_access_token("grant-code-12345678", discover_user=True)),
    "refresh": ("token", lambda: get_oauth_client().refresh_access_token(USER)),
    "revoke": ("revoke", lambda: get_oauth_client().revoke(USER)),
    "user info": ("user_info", lambda: get_oauth_client().get_user_info("1000.some-access-token")),
    "list": ("listing", lambda: _consume(Module("Leads").iter_records())),
    "get": ("listing", lambda: Module("Leads").get("1")),
    "write": ("write", lambda: (Module("Leads").create([{"Last_Name": "A"}]), Module("Leads").update([{"id": "1", "Last_Name": "B"}]))),
    "upsert": ("write", lambda: Module("Leads").upsert([{"Last_Name": "A"}])),
    "delete": ("write", lambda: Module("Leads").delete(["1", "2"])),
    "search": ("listing", lambda: _consume(Module("Leads").search(word="acme"))),
    "coql": ("listing", lambda: Module("Leads").coql("select Last_Name from Leads limit 10")),
    "deleted": ("listing", lambda: _consume(Module("Leads").iter_deleted())),
    "metadata": ("fields", lambda: (Module("Leads").fields(), Module("Leads").layouts(), Module("Leads").related_lists())),
    "modules": ("modules", lambda: (Modules().list(), Modules().get("Leads"))),
    "users": ("users", lambda: (Users().list(), Users().current())),
    "org": ("org", lambda: Org().get()),
    "notes": ("listing", lambda: (_consume(Module("Leads").notes("1")), Module("Leads").add_note("1", "hi"))),
    "attachments": ("listing", lambda: (_consume(Module("Leads").attachments("1")), Module("Leads").download_attachment("1", "2"))),
    "related": ("listing", lambda: _consume(Module("Leads").iter_related("1", "Contacts"))),
    "tags": ("fields", lambda: (Module("Leads").tags(), Module("Leads").add_tags(["1"], ["t"]))),
    "sync": ("listing", lambda: sync_module("Leads")),
    "push": ("write", _push),
}  # fmt: skip


# -- the harness --------------------------------------------------------------------------------------


@pytest.fixture
def hostile(settings):
    """The hostile server, a redirect trap, and settings pointing every URL at the first."""
    with HostileServer(SECRET) as server, HostileServer(SECRET) as trap:
        settings.ZCRM = {
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": SECRET,
            "ACCOUNTS_URL": server.url,
            "API_BASE_URL": server.url,
            "CURRENT_USER_EMAIL": USER,
            "MAX_RETRIES": 0,
            "HTTP_TIMEOUT": (2, 3),
            "TOKEN_TIMEOUT": (2, 3),
            "REQUEST_TOTAL_TIMEOUT": 5,
        }
        yield server, trap


def _baseline() -> OAuthTokens:
    now = int(time.time() * 1000)
    tokens = OAuthTokens(
        user_identifier=USER,
        access_token="1000." + "a" * 32 + "." + "b" * 32,
        refresh_token="1000." + "c" * 32 + "." + "d" * 32,
        expiry_time=now + 3_600_000,
        last_refreshed_at=now,
    )
    get_persistence().save_oauth_tokens(tokens)
    get_oauth_client().clear_cache()
    return tokens


def _snapshot() -> tuple[Any, ...] | None:
    tokens = get_persistence().get_oauth_tokens(USER)
    if tokens is None:
        return None
    return (tokens.access_token, tokens.refresh_token, tokens.expiry_time, tokens.api_domain)


def _plausible(snapshot: tuple[Any, ...] | None, server_url: str) -> bool:
    if snapshot is None:
        return True
    access, refresh, expiry, domain = snapshot
    printable = all(
        isinstance(t, str) and 0 < len(t) <= 1000 and all(33 <= ord(c) <= 126 for c in t)
        for t in (access, refresh)
    )
    horizon = int(time.time() * 1000) + MAX_EXPIRES_MS + 60_000
    trusted = domain in (None, server_url, "https://www.zohoapis.com")
    return printable and isinstance(expiry, int) and 0 < expiry <= horizon and trusted


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_hostile_answers_never_escape_the_error_tree(family, hostile):
    server, trap = hostile
    kind, call = FAMILIES[family]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(answer=answers(kind, trap.url))
    def check(answer: Answer) -> None:
        _baseline()
        SyncState.objects.all().delete()
        server.answer = answer
        FAMILY_COUNTS[family] += 1
        before = _snapshot()
        failed = False
        try:
            call()
        except ZCRMError:
            failed = True
        except BaseException:
            FAMILY_FAILURES[family] += 1
            raise
        after = _snapshot()
        problems = []
        if failed and kind == "token" and after != before:
            problems.append("a failed token call changed the stored tokens")
        if not _plausible(after, server.url):
            problems.append(f"implausible tokens stored: {after!r}")
        if trap.seen:
            leaked = [s for s in trap.seen if s.credential]
            if leaked:
                problems.append(f"credentials reached the redirect target: {leaked!r}")
        if SyncState.objects.filter(lease_owner__isnull=False).exists():
            problems.append("the sync lease was left held")
        if problems:
            FAMILY_FAILURES[family] += 1
            raise AssertionError("; ".join(problems))
        trap.seen.clear()

    get_client().close()
    check()
