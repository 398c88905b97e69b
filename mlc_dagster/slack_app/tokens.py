"""The Slack bot token, and its rotation when the app has token rotation turned on.

Without rotation a bot token never expires: SLACK_BOT_TOKEN from the environment or the store.
With rotation on (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_REFRESH_TOKEN available), access
tokens live 12 hours; the token is refreshed when less than `margin` remains (or its expiry is not
known) with oauth.v2.access(grant_type=refresh_token), and the new access token, the new refresh
token (the old one is revoked by Slack) and the expiry are saved together in one atomic store write,
under the store's lock, so two processes never spend the same refresh token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ..credentials import CredentialStore, CredentialStoreError

log = logging.getLogger(__name__)

EXPIRES_AT = "SLACK_TOKEN_EXPIRES_AT"  # epoch seconds, stored beside the tokens
_QUIET = logging.getLogger("mlc_dagster.slack_app.tokens.oauth")  # slack_sdk logs request bodies at DEBUG
_QUIET.setLevel(logging.WARNING)


class SlackTokenRotationError(CredentialStoreError):
    """Slack refused to rotate the token; the message says what to do."""


def rotation_enabled(store: CredentialStore) -> bool:
    return all(store.get(name) for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_REFRESH_TOKEN"))


def rotate(store: CredentialStore, api_url: str, clock: Callable[[], float] = time.time,
           margin: float = 7200.0) -> str:
    """A fresh access token: rotated now unless another process just did it."""
    with store.lock():
        token = store.get("SLACK_BOT_TOKEN")
        expires = float(store.get(EXPIRES_AT) or 0)
        if token and expires - clock() > margin:
            return token  # rotated meanwhile by someone holding the lock before us
        refresh = store.require("SLACK_REFRESH_TOKEN", "Slack token rotation")
        try:
            answer = WebClient(base_url=api_url, timeout=30, logger=_QUIET).oauth_v2_access(
                client_id=store.require("SLACK_CLIENT_ID"), client_secret=store.require("SLACK_CLIENT_SECRET"),
                grant_type="refresh_token", refresh_token=refresh)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else "no answer"
            raise SlackTokenRotationError(
                f"Slack refused to rotate the bot token ({error}): if the refresh token was revoked or already "
                "used, reinstall the app and store the new tokens with `mlc-dagster credentials set "
                "SLACK_BOT_TOKEN` and `... SLACK_REFRESH_TOKEN`") from None
        access, new_refresh = str(answer.get("access_token") or ""), str(answer.get("refresh_token") or "")
        if not access or not new_refresh:
            raise SlackTokenRotationError("Slack's oauth.v2.access answer had no access_token/refresh_token: is "
                                          "token rotation turned on for the app?")
        expires_at = int(clock() + float(answer.get("expires_in") or 43200))
        store.set_many({"SLACK_BOT_TOKEN": access, "SLACK_REFRESH_TOKEN": new_refresh, EXPIRES_AT: str(expires_at)},
                       replaces={"SLACK_BOT_TOKEN": token, "SLACK_REFRESH_TOKEN": refresh})
        log.info("Slack bot token rotated; the new one expires at %s (epoch)", expires_at)
        return access


def bot_token(store: CredentialStore, api_url: str, clock: Callable[[], float] = time.time,
              margin: float = 7200.0) -> str:
    """SLACK_BOT_TOKEN, rotated first when rotation is on and it expires within `margin` seconds."""
    if rotation_enabled(store):
        token = store.get("SLACK_BOT_TOKEN")
        if token and float(store.get(EXPIRES_AT) or 0) - clock() > margin:
            return token
        return rotate(store, api_url, clock, margin)
    return store.require("SLACK_BOT_TOKEN", "the Slack bot token, xoxb-...")
