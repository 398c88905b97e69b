"""Resources: thin ConfigurableResource wrappers that hand the libraries their settings.

Settings come from the environment (CONTRACT.md). Secrets never enter a resource's configuration:
their fields stay empty and each is looked up when the resource is used, in the run's process, by
its variable's name: the environment variable when set, else the encrypted credential store
(`mlc_dagster.credentials`). So neither the value nor a `dg.EnvVar` that would fail when the
variable is unset is part of the run config, the job snapshot or the event log. (A value passed
explicitly, as tests do, is used as given; do not do that in production: Dagster records resource
configuration in the job snapshot.)
"""


import os
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr
from slack_sdk import WebClient

from ..alerts.subscriptions import Subscriptions, load_subscriptions
from ..credentials import CredentialStore
from ..slack.sender import make_client
from ..slack_app.tokens import bot_token
from ..warehouse import Warehouse
from ..workday.entities import Entity
from ..workday.parse import MAX_RESPONSE_BYTES
from ..workday.rest import TokenCache, WorkdayRestClient
from ..workday.routes import RouteBook, RoutedReader, default_routes_path, parse_pins
from ..workday.soap import RetryPolicy, WorkdaySoapClient

_FROM_STORE = ("Leave empty: {name} is read when the resource is used, from the environment or else the "
               "credential store, so the value is never part of the run's configuration.")


def _secret(explicit: str, name: str, what: str) -> str:
    return explicit or CredentialStore().require(name, what)


class StoredTokenCache(TokenCache):
    """A TokenCache whose refresh token lives in the credential store.

    Each refresh happens under the store's lock with the newest refresh token (another process may
    have rotated it since this one started), and a refresh token Workday rotates is saved before the
    lock is released, replacing the old one in one atomic write (and marking the old one dead, so a
    stale copy in WORKDAY_REFRESH_TOKEN is not used again)."""

    NAME = "WORKDAY_REFRESH_TOKEN"

    def __init__(self, token_url: str, client_id: str, client_secret: str, store: CredentialStore,
                 **kwargs: Any) -> None:
        self._store = store
        super().__init__(token_url, client_id, client_secret, store.require(self.NAME, "OAuth2 refresh token"),
                         on_refresh_token=self._save, **kwargs)
        self._spent = ""

    def __repr__(self) -> str:  # never show a secret
        return f"StoredTokenCache({self.token_url!r}, client_id={self.client_id!r})"

    def _refresh(self) -> None:
        with self._store.lock():
            self._refresh_token = self._store.get(self.NAME) or self._refresh_token
            self._spent = self._refresh_token
            super()._refresh()

    def _save(self, new_refresh_token: str) -> None:
        self._store.set(self.NAME, new_refresh_token, replaces=self._spent)


class WorkdayResource(dg.ConfigurableResource):
    """Workday Web Services over SOAP as an Integration System User, and optionally REST (OAuth2)."""

    soap_url: str
    username: str
    password: str = Field(default="", description=_FROM_STORE.format(name="WORKDAY_PASSWORD"))
    tenant: str = ""
    api_version: str = "v46.1"
    page_size: int = 999
    retry_attempts: int = 5
    retry_initial_seconds: float = 0.5
    retry_total_seconds: float = 300.0
    rest_url: str = ""
    token_url: str = ""
    client_id: str = ""
    client_secret: str = Field(default="", description=_FROM_STORE.format(name="WORKDAY_CLIENT_SECRET"))
    refresh_token: str = Field(default="", description=_FROM_STORE.format(name="WORKDAY_REFRESH_TOKEN"))
    rest_entities: list[str] = []
    max_response_mb: int = Field(default=MAX_RESPONSE_BYTES >> 20,
                                 description="A SOAP response body larger than this is refused unparsed.")
    routes_path: str = Field(default="", description="Where the window route found for each tenant and operation "
                                                     "is kept (JSON); empty: in this process only.")
    routes_pinned: str = Field(default="", description="MLC_WORKDAY_ROUTES: entity=route pins, comma-separated.")
    _tokens: TokenCache | None = PrivateAttr(default=None)
    _routes: RouteBook | None = PrivateAttr(default=None)

    def _retry(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.retry_attempts, initial_seconds=self.retry_initial_seconds,
                           total_seconds=self.retry_total_seconds)

    def client(self) -> WorkdaySoapClient:
        password = _secret(self.password, "WORKDAY_PASSWORD", "the Integration System User's password")
        return WorkdaySoapClient(self.soap_url, self.username, password, tenant=self.tenant or None,
                                 api_version=self.api_version, page_size=self.page_size, retry=self._retry(),
                                 max_response_bytes=self.max_response_mb << 20)

    def reader(self, entity: Entity) -> RoutedReader | WorkdayRestClient:
        """The client that reads `entity`: REST when configured for it, SOAP otherwise (its window route
        negotiated with the tenant and remembered)."""
        if entity.name not in self.rest_entities:
            if self._routes is None:  # one book per resource: with no file, what was learned lasts the process
                self._routes = RouteBook(self.routes_path or None, parse_pins(self.routes_pinned))
            return RoutedReader(self.client(), self._routes)
        if self._tokens is None:
            secret = _secret(self.client_secret, "WORKDAY_CLIENT_SECRET", "the API client's secret")
            if self.refresh_token:
                self._tokens = TokenCache(self.token_url, self.client_id, secret, self.refresh_token)
            else:
                self._tokens = StoredTokenCache(self.token_url, self.client_id, secret, CredentialStore())
        tenant = self.tenant or self.soap_url.rstrip("/").rsplit("/", 1)[-1]
        return WorkdayRestClient(self.rest_url, tenant, self._tokens, retry=self._retry())


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file the pipeline writes."""

    path: str = "data/mlc.duckdb"
    _warehouse: Warehouse | None = PrivateAttr(default=None)

    def warehouse(self) -> Warehouse:
        if self._warehouse is None:
            self._warehouse = Warehouse(self.path)
        return self._warehouse


class SlackBotResource(dg.ConfigurableResource):
    """The Slack app's bot token and Web API base."""

    bot_token: str = Field(default="", description=_FROM_STORE.format(name="SLACK_BOT_TOKEN")
                           + " With token rotation on (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_REFRESH_TOKEN)"
                           " it is refreshed before it expires.")
    api_url: str = "https://slack.com/api/"
    seconds_per_message: float = 1.0
    ui_url: str = ""

    def client(self) -> WebClient:
        return make_client(self.bot_token or bot_token(CredentialStore(), self.api_url), self.api_url)


class SubscriptionsResource(dg.ConfigurableResource):
    """The channel-subscriptions YAML."""

    path: str = "subscriptions.yaml"

    def load(self) -> Subscriptions:
        return load_subscriptions(self.path)


def _rest_settings() -> dict[str, Any]:
    """REST is on when WORKDAY_REST_URL is set; its secrets are looked up at use, never copied."""
    if not os.environ.get("WORKDAY_REST_URL"):
        return {}
    return {
        "rest_url": os.environ["WORKDAY_REST_URL"],
        "token_url": os.environ.get("WORKDAY_TOKEN_URL", ""),
        "client_id": os.environ.get("WORKDAY_CLIENT_ID", ""),
        "rest_entities": [n.strip() for n in os.environ.get("MLC_REST_ENTITIES", "").split(",") if n.strip()],
    }


def resources_from_env() -> dict[str, dg.ConfigurableResource]:
    return {
        "workday": WorkdayResource(
            soap_url=dg.EnvVar("WORKDAY_SOAP_URL"),
            username=dg.EnvVar("WORKDAY_USERNAME"),
            tenant=os.environ.get("WORKDAY_TENANT", ""),
            api_version=os.environ.get("WORKDAY_API_VERSION", "v46.1"),
            routes_path=os.environ.get("MLC_WORKDAY_ROUTES_PATH")
            or str(default_routes_path(os.environ.get("MLC_DUCKDB_PATH", "data/mlc.duckdb"))),
            routes_pinned=os.environ.get("MLC_WORKDAY_ROUTES", ""),
            **_rest_settings(),
        ),
        "warehouse": WarehouseResource(path=os.environ.get("MLC_DUCKDB_PATH", "data/mlc.duckdb")),
        "slack": SlackBotResource(
            api_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
            ui_url=os.environ.get("MLC_DAGSTER_UI_URL", ""),
        ),
        "subscriptions": SubscriptionsResource(path=os.environ.get("MLC_SUBSCRIPTIONS", "subscriptions.yaml")),
    }
