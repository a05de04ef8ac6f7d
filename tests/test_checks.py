"""Every system check fires on its bad setting, with a hint naming the setting to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_zcrm.checks import check_settings
from django_zcrm.conf import get_settings, settings_from_env
from django_zcrm.exceptions import ZCRMConfigurationError
from django_zcrm.oauth import OAuthClient

HERE = Path(__file__).resolve().parent
GOOD = {"CLIENT_ID": "1000.ABC", "CLIENT_SECRET": "a-secret-value"}


def ids(raw) -> dict[str, str]:
    return {m.id: f"{m.msg} {m.hint}" for m in check_settings(raw)}


def test_good_settings_raise_nothing():
    assert check_settings(GOOD) == []


@pytest.mark.parametrize("raw", [None, ["not", "a", "dict"]])
def test_missing_or_wrong_type_zcrm(raw):
    assert "django_zcrm.E001" in ids(raw)


@pytest.mark.parametrize(
    "key,check_id", [("CLIENT_ID", "django_zcrm.E002"), ("CLIENT_SECRET", "django_zcrm.E003")]
)
def test_missing_client_credentials(key, check_id):
    raw = {k: v for k, v in GOOD.items() if k != key}
    found = ids(raw)
    assert check_id in found and f"ZCRM['{key}']" in found[check_id]


def test_unknown_key_suggests_the_right_one():
    found = ids({**GOOD, "CLIENT_SECERT": "x"})
    assert "django_zcrm.E004" in found and "ZCRM['CLIENT_SECRET']" in found["django_zcrm.E004"]


def test_unknown_data_centre_lists_the_valid_ones():
    found = ids({**GOOD, "DATA_CENTER": "MARS"})
    assert "django_zcrm.E005" in found and "EU" in found["django_zcrm.E005"]


def test_unimportable_persistence_handler():
    found = ids({**GOOD, "PERSISTENCE_HANDLER_CLASS": "no.such.Module"})
    assert "django_zcrm.E006" in found and "PERSISTENCE_HANDLER_CLASS" in found["django_zcrm.E006"]


def test_persistence_handler_file_path_that_does_not_exist():
    found = ids(
        {
            **GOOD,
            "PERSISTENCE_HANDLER_CLASS": "Handler",
            "PERSISTENCE_HANDLER_CLASS_PATH": "/nonexistent/handler.py",
        }
    )
    assert (
        "django_zcrm.E006" in found
        and "PERSISTENCE_HANDLER_CLASS_PATH" in found["django_zcrm.E006"]
    )


def test_wrong_type_persistence_handler():
    found = ids({**GOOD, "PERSISTENCE_HANDLER_CLASS": "tests.support.custom_stores.NotAStore"})
    assert "django_zcrm.E007" in found and "save_oauth_tokens" in found["django_zcrm.E007"]


def test_token_persistence_path_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    found = ids({**GOOD, "TOKEN_PERSISTENCE_PATH": str(blocker / "tokens")})
    assert "django_zcrm.E008" in found and "cannot be created" in found["django_zcrm.E008"]


def test_token_persistence_path_that_is_a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("")
    found = ids({**GOOD, "TOKEN_PERSISTENCE_PATH": str(path)})
    assert "django_zcrm.E008" in found and "TOKEN_PERSISTENCE_PATH" in found["django_zcrm.E008"]


def test_bad_urls_versions_access_type_database_and_numbers():
    found = ids(
        {
            **GOOD,
            "ACCOUNTS_URL": "ftp://accounts",
            "API_VERSION": "v99",
            "ACCESS_TYPE": "sometimes",
            "TOKEN_DATABASE": "zohooauth",
            "REFRESH_MARGIN": "soon",
            "HTTP_TIMEOUT": 5,
        }
    )
    for check_id in ("E009", "E010", "E011", "E012", "E013", "E014"):
        assert f"django_zcrm.{check_id}" in found


def test_warnings_for_online_access_plain_http_and_unwritable_log_folder():
    found = ids(
        {
            **GOOD,
            "ACCESS_TYPE": "online",
            "ACCOUNTS_URL": "http://accounts.example.com",
            "APPLICATION_LOG_FILE_PATH": "/nonexistent/dir/zcrm.log",
        }
    )
    for check_id in ("W001", "W003", "W002"):
        assert f"django_zcrm.{check_id}" in found


def test_plain_http_on_loopback_is_fine_for_the_fake_server():
    assert (
        check_settings(
            {
                **GOOD,
                "ACCOUNTS_URL": "http://127.0.0.1:8765",
                "API_BASE_URL": "http://localhost:8765",
            }
        )
        == []
    )


@pytest.mark.django_db  # Django 6.1's JSONField check asks the database what it supports.
def test_manage_py_check_reports_the_error(settings):
    settings.ZCRM = {"CLIENT_SECRET": "x" * 10}
    with pytest.raises(SystemCheckError, match="django_zcrm.E002"):
        call_command("check")


def test_the_client_refuses_bad_settings_even_where_checks_do_not_run(settings):
    settings.ZCRM = {"CLIENT_ID": "1000.X", "CLIENT_SECRET": "secret", "DATA_CENTER": "XX"}
    with pytest.raises(ZCRMConfigurationError, match="DATA_CENTER"):
        OAuthClient.from_settings()


@pytest.mark.parametrize(
    "dc,accounts,api",
    [
        ("US", "https://accounts.zoho.com", "https://www.zohoapis.com"),
        ("EU", "https://accounts.zoho.eu", "https://www.zohoapis.eu"),
        ("CA", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
        ("cn", "https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
    ],
)
def test_urls_are_derived_from_the_data_centre(settings, dc, accounts, api):
    settings.ZCRM = {**GOOD, "DATA_CENTER": dc}
    assert (get_settings().accounts_url, get_settings().api_base_url) == (accounts, api)


def test_sandbox_uses_the_sandbox_api_domain(settings):
    settings.ZCRM = {**GOOD, "DATA_CENTER": "IN", "SANDBOX": "true"}
    assert get_settings().api_base_url == "https://sandbox.zohoapis.in"
    settings.ZCRM = {**GOOD, "API_BASE_URL": "www.zohoapis.com", "SANDBOX": True}
    assert get_settings().api_base_url == "https://sandbox.zohoapis.com"


def test_explicit_urls_win_and_http_loopback_works(settings):
    settings.ZCRM = {
        **GOOD,
        "DATA_CENTER": "EU",
        "ACCOUNTS_URL": "http://127.0.0.1:8765/",
        "API_BASE_URL": "http://127.0.0.1:8765",
    }
    assert get_settings().accounts_url == "http://127.0.0.1:8765"
    assert get_settings().api_base_url == "http://127.0.0.1:8765"


def test_every_key_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ZCRM_CLIENT_ID", "1000.FROMENV")
    monkeypatch.setenv("ZCRM_SANDBOX", "true")
    monkeypatch.setenv("ZCRM_MAX_RETRIES", "7")
    monkeypatch.setenv("ZCRM_HTTP_TIMEOUT", "3,20")
    monkeypatch.setenv("ZCRM_SCOPES", "ZohoCRM.modules.ALL,ZohoCRM.users.READ")
    monkeypatch.setenv("ZCRM_SYNC_MODELS", '{"Leads": "crm.Lead"}')
    values = settings_from_env()
    assert values == {
        "CLIENT_ID": "1000.FROMENV",
        "SANDBOX": True,
        "MAX_RETRIES": 7,
        "HTTP_TIMEOUT": (3.0, 20.0),
        "SCOPES": ("ZohoCRM.modules.ALL", "ZohoCRM.users.READ"),
        "SYNC_MODELS": {"Leads": "crm.Lead"},
    }


def test_log_settings_attach_handlers_to_the_django_zcrm_logger(settings, tmp_path):
    import logging

    log_file = tmp_path / "zcrm.log"
    settings.ZCRM = {**GOOD, "APPLICATION_LOG_FILE_PATH": str(log_file), "LOG_IN_CONSOLE": True}
    logger = logging.getLogger("django_zcrm")
    kinds = {type(h).__name__ for h in logger.handlers if getattr(h, "_django_zcrm_handler", False)}
    assert kinds == {"FileHandler", "StreamHandler"}
    logging.getLogger("django_zcrm.oauth").info("hello %s", "1000." + "a" * 32 + "." + "b" * 32)
    for handler in logger.handlers:
        handler.flush()
    text = log_file.read_text()
    assert "hello ****" in text and "a" * 32 not in text
    settings.ZCRM = GOOD
    assert not [h for h in logger.handlers if getattr(h, "_django_zcrm_handler", False)]
    # Turning the handlers off gives the logger its level back, so DEBUG records flow again.
    assert logger.level == logging.NOTSET


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_a_project_without_databases_may_keep_tokens_in_a_file(settings, tmp_path):
    settings.DATABASES = {}
    assert check_settings({**GOOD, "TOKEN_PERSISTENCE_PATH": str(tmp_path)}) == []
    # The default database store, though, needs the alias.
    assert "django_zcrm.E012" in ids(GOOD)


@pytest.mark.parametrize(
    "sync_models, words",
    [
        ({"Leads": "nosuchapp.Lead"}, "not an installed model"),
        ({"Leads": "auth.User"}, "does not derive from"),
        ({"Deals": "testapp.Lead"}, "ZohoMeta.module is 'Leads'"),
        ({"Leads": None}, "not a model label"),
        (["Leads"], "must be a dict"),
    ],
)
def test_sync_models_that_a_sync_would_refuse_are_reported(sync_models, words):
    found = ids({**GOOD, "SYNC_MODELS": sync_models})
    assert "django_zcrm.E015" in found and words in found["django_zcrm.E015"]
    assert "ZCRM['SYNC_MODELS']" in found["django_zcrm.E015"]


def test_good_sync_models_and_sync_numbers_pass():
    assert (
        check_settings(
            {
                **GOOD,
                "SYNC_MODELS": {"Leads": "testapp.Lead"},
                "SYNC_LOOKBACK_SECONDS": 5,
                "SYNC_LEASE_SECONDS": 60,
            }
        )
        == []
    )


def test_bad_sync_delete_mode_and_sync_numbers_are_reported():
    found = ids({**GOOD, "SYNC_DELETE_MODE": "purge", "SYNC_LOOKBACK_SECONDS": "ten"})
    assert "django_zcrm.E016" in found and "SYNC_DELETE_MODE" in found["django_zcrm.E016"]
    assert "django_zcrm.E013" in found and "SYNC_LOOKBACK_SECONDS" in found["django_zcrm.E013"]


@pytest.mark.parametrize("value", [None, 0, 1, 10, 25])
def test_max_concurrent_requests_accepts_none_zero_and_whole_numbers(value):
    assert check_settings({**GOOD, "MAX_CONCURRENT_REQUESTS": value}) == []


@pytest.mark.parametrize("value", [-1, 2.5, "10", True, [5]])
def test_bad_max_concurrent_requests_is_reported_with_a_hint(value):
    found = ids({**GOOD, "MAX_CONCURRENT_REQUESTS": value})
    assert "django_zcrm.E017" in found
    assert "ZCRM['MAX_CONCURRENT_REQUESTS']" in found["django_zcrm.E017"]
    assert "concurrency limit" in found["django_zcrm.E017"]  # the hint says how to size it


def test_max_concurrent_requests_resolves_to_a_cap_or_none(settings, monkeypatch):
    settings.ZCRM = GOOD
    assert get_settings().max_concurrent_requests == 10
    for off in (None, 0):
        settings.ZCRM = {**GOOD, "MAX_CONCURRENT_REQUESTS": off}
        assert get_settings().max_concurrent_requests is None
    monkeypatch.setenv("ZCRM_MAX_CONCURRENT_REQUESTS", "0")
    assert settings_from_env() == {"MAX_CONCURRENT_REQUESTS": 0}


def test_the_client_refuses_a_bad_max_concurrent_requests_where_checks_do_not_run(settings):
    settings.ZCRM = {**GOOD, "MAX_CONCURRENT_REQUESTS": -3}
    with pytest.raises(ZCRMConfigurationError, match=r"MAX_CONCURRENT_REQUESTS"):
        OAuthClient.from_settings()
