"""The web-client OAuth flow: consent redirect with a session-bound ``state``, then the callback.

The callback trusts nothing in Zoho's redirect until it has matched the ``state`` to this browser
session and checked the accounts server it names (the code exchange sends our client secret
there). :mod:`django_zcrm.views` calls :func:`start_authorization` and
:func:`finish_authorization` and shows their outcome.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from .conf import DATA_CENTERS, get_settings, trusted_zoho_url
from .exceptions import ZCRMConfigurationError, ZCRMError, ZCRMOAuthFlowError
from .oauth import OAuthClient, get_oauth_client
from .redaction import get_logger
from .token_admin import data_centre_label, grant_error_message

logger = get_logger(__name__)

SESSION_KEY = "django_zcrm_oauth_states"
STATE_LIFETIME_SECONDS = 15 * 60
MAX_PENDING_STATES = 5


def start_authorization(
    session: MutableMapping[str, Any], *, redirect_uri: str, next_url: str
) -> str:
    """Remember a fresh ``state`` in the session and return Zoho's consent URL."""
    client = get_oauth_client()
    state = secrets.token_urlsafe(32)
    now = time.time()
    pending = {
        key: value
        for key, value in dict(session.get(SESSION_KEY) or {}).items()
        if isinstance(value, dict) and value.get("created", 0) > now - STATE_LIFETIME_SECONDS
    }
    # A few pending states allow several tabs; more than that is only growth.
    for key in sorted(pending, key=lambda k: pending[k]["created"])[: -(MAX_PENDING_STATES - 1)]:
        pending.pop(key)
    pending[state] = {"created": now, "redirect_uri": redirect_uri, "next": next_url}
    session[SESSION_KEY] = pending
    return client.authorization_url(
        state=state, scopes=get_settings().scopes, redirect_uri=redirect_uri, access_type="offline"
    )


def pop_state(session: MutableMapping[str, Any], state: str | None) -> dict[str, Any]:
    """Take the pending request matching ``state`` out of the session (single use)."""
    pending = dict(session.get(SESSION_KEY) or {})
    match = None
    if state:
        for key in list(pending):
            # Constant-time comparison: the state is a secret bound to this browser session.
            if secrets.compare_digest(key.encode(), state.encode()):
                match = pending.pop(key)
    session[SESSION_KEY] = pending
    if match is None or match.get("created", 0) <= time.time() - STATE_LIFETIME_SECONDS:
        raise ZCRMOAuthFlowError(
            'This answer from Zoho does not belong to a "Connect to Zoho" request started in '
            "this browser session (the state is missing, wrong, already used or older than "
            f"{STATE_LIFETIME_SECONDS // 60} minutes), so it was refused and nothing was stored. "
            'Start again with "Connect to Zoho".'
        )
    return match


def trusted_accounts_server(accounts_server: str | None, location: str | None) -> str:
    """The accounts server to exchange the code at, from Zoho's redirect parameters.

    The code exchange sends our client secret to this server. The redirect's query string is
    attacker-controlled (anyone can craft a link to our callback), so an unchecked
    ``accounts-server`` would let a forged redirect collect the secret. Only Zoho's own accounts
    servers (https, exact host from ``DATA_CENTERS``) or exactly the configured ACCOUNTS_URL pass.
    """
    conf = get_settings()
    configured = conf.accounts_url.rstrip("/")
    if not accounts_server:
        dc = DATA_CENTERS.get((location or "").strip().upper())
        # ``location`` alone names a Zoho data centre; an explicit ACCOUNTS_URL still wins.
        if dc is not None and not conf.raw.get("ACCOUNTS_URL"):
            return dc.accounts_url
        return configured
    candidate = accounts_server.strip().rstrip("/")
    trusted = trusted_zoho_url(candidate, configured, "accounts")
    if trusted is not None:
        return trusted
    raise ZCRMOAuthFlowError(
        f"Zoho's answer named the accounts server {candidate!r}, which is neither a Zoho "
        f"accounts server nor the configured {configured!r}; it was refused and nothing was "
        "stored (sending the client secret there could leak it)."
    )


@dataclass(frozen=True)
class FlowOutcome:
    """How a redirect back from Zoho ended; ``refused`` means it was not trusted at all."""

    ok: bool
    message: str
    next_url: str = ""
    refused: bool = False
    user: str = ""


def finish_authorization(
    session: MutableMapping[str, Any], params: Mapping[str, str]
) -> FlowOutcome:
    """Check Zoho's redirect, exchange the code, store the tokens under the user's e-mail.

    A missing, wrong or reused ``state`` and untrusted parameters give ``refused``; a declined
    consent or a code Zoho will not exchange give ``ok=False`` with the reason in words.
    """
    try:
        pending = pop_state(session, params.get("state"))
    except ZCRMOAuthFlowError as exc:
        logger.warning("Refused a redirect to the Zoho callback: no matching state in the session.")
        return FlowOutcome(False, exc.message, refused=True)
    next_url = str(pending.get("next") or "")
    error = params.get("error")
    if error:
        if error == "access_denied":
            message = "Access was declined on Zoho's consent page; nothing was stored."
        else:
            message = f"Zoho answered with the error {error!r}; nothing was stored."
        return FlowOutcome(False, message, next_url)
    code = (params.get("code") or "").strip()
    if not code:
        return FlowOutcome(
            False, "Zoho's answer carries no code; nothing was stored.", next_url, refused=True
        )
    try:
        accounts = trusted_accounts_server(params.get("accounts-server"), params.get("location"))
    except ZCRMOAuthFlowError as exc:
        logger.warning("Refused a redirect to the Zoho callback: %s", exc.message)
        return FlowOutcome(False, exc.message, next_url, refused=True)
    redirect_uri = str(pending.get("redirect_uri") or "")
    try:
        client = get_oauth_client()
        if redirect_uri and redirect_uri != client.redirect_uri:
            # Zoho checks that the exchange names the redirect URI the consent request used.
            client = OAuthClient.from_settings(redirect_uri=redirect_uri)
        tokens = client.generate_access_token(code, accounts_server=accounts, discover_user=True)
    except (ZCRMError, ZCRMConfigurationError) as exc:
        return FlowOutcome(
            False,
            "Zoho did not complete the connection: " + grant_error_message(exc, asked=accounts),
            next_url,
        )
    # The process-wide client may hold this user's previous tokens in memory.
    get_oauth_client().clear_cache()
    minutes = max(0, tokens.remaining_ms() // 60000)
    return FlowOutcome(
        True,
        f"Connected Zoho user {tokens.user_identifier} ({data_centre_label(tokens.accounts_server)}); "
        f"the access token is valid for {minutes} minutes and refreshes itself.",
        next_url,
        user=tokens.user_identifier,
    )
