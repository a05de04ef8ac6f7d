"""The core's public names: settings problems, deprecated error names, signals, token provider."""

from __future__ import annotations

import warnings

import pytest

from django_zcrm import conf, exceptions
from django_zcrm.oauth import OAuthClient, get_oauth_client
from django_zcrm.persistence import get_persistence
from django_zcrm.signals import tokens_refreshed
from django_zcrm.testing import FAKE_USER_EMAIL
from django_zcrm.tokens import TokenProvider

GOOD = {"CLIENT_ID": "1000.ABC", "CLIENT_SECRET": "a-secret-value"}


def test_validate_returns_problems_with_stable_ids_and_levels():
    problems = conf.validate({"CLIENT_SECRET": "x", "ACCESS_TYPE": "online"})
    found = {p.id: p for p in problems}
    assert found["django_zcrm.E002"].is_error
    assert "ZCRM['CLIENT_ID']" in found["django_zcrm.E002"].sentence()
    assert found["django_zcrm.W001"].level == "warning"
    assert conf.validate(GOOD) == []


def test_configuration_errors_are_the_error_level_sentences_only():
    settings = conf.ZCRMSettings(raw={**GOOD, "ACCESS_TYPE": "online", "DATA_CENTER": "XX"})
    errors = conf.configuration_errors(settings)
    assert len(errors) == 1 and "DATA_CENTER" in errors[0]


def test_a_handler_that_is_not_a_store_carries_its_check_id():
    settings = conf.ZCRMSettings(
        raw={**GOOD, "PERSISTENCE_HANDLER_CLASS": "tests.support.custom_stores.NotAStore"}
    )
    with pytest.raises(exceptions.ZCRMConfigurationError) as caught:
        conf.load_custom_handler_class(settings)
    assert caught.value.check_id == "django_zcrm.E007"


def test_the_sandbox_host_is_derived_in_one_place():
    assert conf.sandbox_url("https://www.zohoapis.eu") == "https://sandbox.zohoapis.eu"
    assert conf.sandbox_url("http://127.0.0.1:8765") == "http://127.0.0.1:8765"


@pytest.mark.parametrize("old, new", sorted(exceptions.DEPRECATED_NAMES.items()))
def test_old_error_names_still_work_and_warn(old, new):
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated; use {new}"):
        cls = getattr(exceptions, old)
    assert cls is getattr(exceptions, new)


def test_old_error_names_import_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from django_zcrm.exceptions import SyncAlreadyRunning
    assert SyncAlreadyRunning is exceptions.ZCRMSyncAlreadyRunningError
    assert [w.category for w in caught] == [DeprecationWarning]


def test_an_unknown_name_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchError"):
        exceptions.NoSuchError  # noqa: B018


def test_every_error_is_named_zcrm_something_error():
    names = [
        name
        for name, value in vars(exceptions).items()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__ == exceptions.__name__
    ]
    assert names and all(n.startswith("ZCRM") and n.endswith("Error") for n in names), names


def test_both_retry_later_errors_say_when():
    for cls in (exceptions.ZCRMRateLimitError, exceptions.ZCRMTokenThrottledError):
        error = cls("slow down", retry_after=12.5)
        assert isinstance(error, exceptions.ZCRMRetryLaterError) and error.retry_after == 12.5


@pytest.mark.django_db
def test_tokens_refreshed_is_sent_once_per_refresh_without_a_token(zoho_tokens, fake_zoho):
    received = []

    def receiver(sender, **kwargs):
        received.append((sender, kwargs))

    tokens_refreshed.connect(receiver)
    try:
        get_oauth_client().refresh_access_token(FAKE_USER_EMAIL)
    finally:
        tokens_refreshed.disconnect(receiver)

    stored = get_persistence().get_oauth_tokens(FAKE_USER_EMAIL)
    assert len(received) == 1
    sender, kwargs = received[0]
    assert sender is OAuthClient
    assert kwargs == {
        "signal": tokens_refreshed,
        "user_identifier": FAKE_USER_EMAIL,
        "expiry_time": stored.expiry_time,
    }


@pytest.mark.django_db
def test_no_signal_when_the_stored_token_is_still_fresh(zoho_tokens, fake_zoho):
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    tokens_refreshed.connect(receiver)
    try:
        get_oauth_client().get_tokens(FAKE_USER_EMAIL)
    finally:
        tokens_refreshed.disconnect(receiver)
    assert received == [] and fake_zoho.accounts.token_requests("refresh_token") == 0


def test_the_oauth_client_is_a_token_provider(settings):
    settings.ZCRM = GOOD
    assert isinstance(OAuthClient.from_settings(), TokenProvider)
