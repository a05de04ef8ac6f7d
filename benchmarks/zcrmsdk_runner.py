"""Drive Zoho's official ``zcrmsdk`` 3.1.0 for ``crm_benchmark.py`` (runs in the SDK's own virtualenv).

Started by the benchmark as ``$ZCRMSDK_PYTHON benchmarks/zcrmsdk_runner.py --url ... --workdir ...``
with the refresh token and client secret in ``ZCRM_BENCH_REFRESH_TOKEN``/``ZCRM_BENCH_CLIENT_SECRET``.
It imports nothing from django_zcrm (the SDK's venv does not have it) and speaks JSON lines:
one command per line on stdin, one answer per line on the original stdout. The SDK may print, so
``sys.stdout`` is pointed at stderr and the protocol keeps its own handle.

Commands::

    {"op": "list", "fields": ["Last_Name", ...], "per_page": 200}       (every record; "limit" optional)
    {"op": "create", "records": [{"Last_Name": ..., "Email": ...}, ...]}
    {"op": "quit"}

Answers carry ``seconds`` (wall time of the SDK work only, measured here) and what was done.

The SDK's ``Info`` model knows only ``per_page``, ``count``, ``page`` and ``more_records``: it drops
``next_page_token``, so with its public API a listing stops at Zoho's 2,000-record page cap. As an
SDK user would have to, the runner reads the token from the already parsed JSON (a thin wrapper
around ``JSONConverter.get_response``, no second parse) and sends it back as a ``page_token``
parameter. ``--no-page-token`` turns that off to show the SDK's own behaviour.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import types
from typing import Any, TextIO


def _stub_mysql_connector() -> None:
    """Let ``import zcrmsdk`` work without mysql-connector-python.

    zcrmsdk 3.1.0 imports ``mysql.connector`` at package import (for its DBStore) but does not
    declare it as a dependency. The runner uses FileStore, so an empty stand-in is enough; with
    the real package installed it is used as is.
    """
    try:
        import mysql.connector  # noqa: F401
    except ImportError:
        mysql = types.ModuleType("mysql")
        connector = types.ModuleType("mysql.connector")
        connector.Error = type("Error", (Exception,), {})  # type: ignore[attr-defined]
        mysql.connector = connector  # type: ignore[attr-defined]
        sys.modules.setdefault("mysql", mysql)
        sys.modules.setdefault("mysql.connector", connector)


_stub_mysql_connector()

from zcrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken, TokenType
from zcrmsdk.src.com.zoho.api.authenticator.store.file_store import FileStore
from zcrmsdk.src.com.zoho.api.logger import Logger
from zcrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
from zcrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zcrmsdk.src.com.zoho.crm.api.param import Param
from zcrmsdk.src.com.zoho.crm.api.parameter_map import ParameterMap
from zcrmsdk.src.com.zoho.crm.api.record import (
    ActionWrapper,
    APIException,
    BodyWrapper,
    GetRecordsParam,
    Record,
    RecordOperations,
    ResponseWrapper,
    SuccessResponse,
)
from zcrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig
from zcrmsdk.src.com.zoho.crm.api.user_signature import UserSignature
from zcrmsdk.src.com.zoho.crm.api.util.choice import Choice
from zcrmsdk.src.com.zoho.crm.api.util.constants import Constants
from zcrmsdk.src.com.zoho.crm.api.util.json_converter import JSONConverter

REFRESH_TOKEN_ENV = "ZCRM_BENCH_REFRESH_TOKEN"
CLIENT_SECRET_ENV = "ZCRM_BENCH_CLIENT_SECRET"
MODULE = "Leads"
MAX_PER_WRITE = 100
# The SDK type-checks picklist values: they must be Choice objects, not strings.
PICKLIST_FIELDS = frozenset({"Lead_Source", "Lead_Status", "Salutation", "Industry", "Rating"})
# Not among the SDK's GetRecordsParam: a Param without a class name skips its validator.
PAGE_TOKEN = Param("page_token")


class _PageTokenTap:
    """Remembers ``info.next_page_token`` of the last list answer the SDK parsed."""

    def __init__(self) -> None:
        self.next_page_token: str | None = None
        self._original = JSONConverter.get_response

    def install(self) -> None:
        """Wrap ``JSONConverter.get_response`` (it receives the body already parsed)."""
        original = self._original
        tap = self

        def get_response(converter: Any, response: Any, package_name: Any) -> Any:
            if isinstance(response, dict):
                info = response.get("info")
                if isinstance(info, dict) and "more_records" in info:
                    tap.next_page_token = info.get("next_page_token") or None
            return original(converter, response, package_name)

        JSONConverter.get_response = get_response  # type: ignore[method-assign]


def initialize(args: argparse.Namespace) -> None:
    """Initialise the SDK against the fake: custom Environment, refresh token, file token store."""
    os.makedirs(args.workdir, exist_ok=True)
    # The SDK wants the token endpoint itself as the "accounts URL".
    environment = DataCenter.Environment(
        args.url, args.url.rstrip("/") + "/oauth/v2/token", args.url
    )
    token = OAuthToken(
        client_id=args.client_id,
        client_secret=args.client_secret,
        token=args.refresh_token,
        token_type=TokenType.REFRESH,
    )
    store = FileStore(file_path=os.path.join(args.workdir, "sdk_tokens.txt"))
    logger = Logger.get_instance(
        level=Logger.Levels.INFO, file_path=os.path.join(args.workdir, "sdk_log.log")
    )
    # The SDK's defaults: fields metadata fetched once per module and cached on disk (not for
    # every module at start), picklist values checked against it before sending.
    config = SDKConfig(auto_refresh_fields=False, pick_list_validation=True)
    Initializer.initialize(
        user=UserSignature(email=args.email),
        environment=environment,
        token=token,
        store=store,
        sdk_config=config,
        resource_path=args.workdir,
        logger=logger,
    )


def _describe(answer: Any) -> str:
    if isinstance(answer, APIException):
        details = answer.get_details()
        return (
            f"{answer.get_code().get_value()}: {answer.get_message().get_value()} "
            f"{details if details else ''}"
        ).strip()
    return type(answer).__name__


def list_records(
    limit: int | None, fields: list[str], per_page: int, tap: _PageTokenTap | None
) -> dict[str, Any]:
    """Page through the module with ``get_records``: page 1, then the page token Zoho hands out.

    The same rule as the services and the bare loop: follow ``next_page_token`` whenever the answer
    has one (past 2,000 records it is the only way on), else ask for the next page number.
    """
    operations = RecordOperations()
    seen = 0
    ids: set[int] = set()
    page, token, calls = 1, None, 0
    error = None
    started = time.perf_counter()
    while limit is None or seen < limit:
        params = ParameterMap()
        params.add(GetRecordsParam.fields, ",".join(fields))
        params.add(GetRecordsParam.per_page, per_page)
        if token:
            params.add(PAGE_TOKEN, token)
        else:
            params.add(GetRecordsParam.page, page)
        if tap is not None:
            tap.next_page_token = None
        response = operations.get_records(MODULE, params)
        calls += 1
        if response is None:
            error = "the SDK returned no response"
            break
        if response.get_status_code() in (204, 304):
            break
        body = response.get_object()
        if not isinstance(body, ResponseWrapper):
            error = f"HTTP {response.get_status_code()}: {_describe(body)}"
            break
        records = body.get_data() or []
        for record in records:
            # Touch a field as a caller would; the SDK has already built every value.
            record.get_key_value("Last_Name")
            ids.add(record.get_id())
        seen += len(records)
        info = body.get_info()
        if not records or info is None or not info.get_more_records():
            break
        # Without the tap, page 11 is refused (DISCRETE_PAGINATION_LIMIT_EXCEEDED) and the
        # answer ends the loop with that error, as the SDK's users meet it.
        token = tap.next_page_token if tap is not None else None
        page += 1
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "records": seen, "unique": len(ids), "calls": calls, "error": error}


def create_records(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Insert ``rows`` as SDK ``Record`` objects, 100 per ``create_records`` call."""
    operations = RecordOperations()
    created: list[str] = []
    failures: list[str] = []
    calls = 0
    started = time.perf_counter()
    for start in range(0, len(rows), MAX_PER_WRITE):
        batch = []
        for row in rows[start : start + MAX_PER_WRITE]:
            record = Record()
            for name, value in row.items():
                record.add_key_value(name, Choice(value) if name in PICKLIST_FIELDS else value)
            batch.append(record)
        body = BodyWrapper()
        body.set_data(batch)
        response = operations.create_records(MODULE, body)
        calls += 1
        if response is None:
            failures.append("the SDK returned no response")
            break
        answer = response.get_object()
        if not isinstance(answer, ActionWrapper):
            failures.append(f"HTTP {response.get_status_code()}: {_describe(answer)}")
            break
        for item in answer.get_data():
            if isinstance(item, SuccessResponse) and item.get_status().get_value() == "success":
                created.append(str(item.get_details()["id"]))
            else:
                failures.append(_describe(item))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "created": len(created),
        "ids": created,
        "calls": calls,
        "failed": len(failures),
        "errors": failures[:3],
    }


def serve(args: argparse.Namespace, out: TextIO) -> int:
    """Answer commands from stdin until ``quit`` or end of input."""
    tap = None if args.no_page_token else _PageTokenTap()
    if tap is not None:
        tap.install()
    initialize(args)
    # Warm-up outside any timing: the token refresh and the fields metadata fetch happen here,
    # once, as in a long-running process.
    warm = list_records(1, ["Last_Name"], 1, tap)

    def reply(payload: dict[str, Any]) -> None:
        out.write(json.dumps(payload) + "\n")
        out.flush()

    reply(
        {
            "ready": warm["error"] is None,
            "error": warm["error"],
            "sdk_version": Constants.SDK_VERSION,
        }
    )
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        op = command.get("op")
        try:
            if op == "quit":
                reply({"ok": True})
                return 0
            if op == "list":
                limit = command.get("limit")
                reply(
                    {
                        "ok": True,
                        **list_records(
                            None if limit is None else int(limit),
                            list(command["fields"]),
                            int(command.get("per_page", 200)),
                            tap,
                        ),
                    }
                )
            elif op == "create":
                reply({"ok": True, **create_records(list(command["records"]))})
            else:
                reply({"ok": False, "error": f"unknown op {op!r}"})
        except Exception as exc:  # the benchmark reports it; the runner stays up for the next one
            reply(
                {
                    "ok": False,
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(limit=8),
                }
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="print the SDK version and exit (used to test ZCRMSDK_PYTHON)",
    )
    parser.add_argument("--url", help="the fake server, http://127.0.0.1:PORT")
    parser.add_argument("--client-id")
    parser.add_argument("--email", help="the CRM user's e-mail")
    parser.add_argument("--workdir", help="a temp folder for tokens, logs, field cache")
    parser.add_argument(
        "--no-page-token",
        action="store_true",
        help="do not read next_page_token past the SDK (it stops at 2,000 records)",
    )
    args = parser.parse_args(argv)
    if args.check:
        print(f"zcrmsdk {Constants.SDK_VERSION}")
        return 0
    missing = [name for name in ("url", "client_id", "email", "workdir") if not getattr(args, name)]
    if missing:
        parser.error("missing " + ", ".join("--" + m.replace("_", "-") for m in missing))
    if not args.url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
        parser.error("--url must be a loopback address: this runner only talks to the fake server")
    # Secrets come through the environment, not argv (argv is visible to every local user).
    args.refresh_token = os.environ.get(REFRESH_TOKEN_ENV, "")
    args.client_secret = os.environ.get(CLIENT_SECRET_ENV, "")
    if not args.refresh_token or not args.client_secret:
        parser.error(f"set {REFRESH_TOKEN_ENV} and {CLIENT_SECRET_ENV} in the environment")
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr
    try:
        return serve(args, protocol)
    finally:
        protocol.close()


if __name__ == "__main__":
    sys.exit(main())
