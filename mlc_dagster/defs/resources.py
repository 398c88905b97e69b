"""Resources: thin ConfigurableResource wrappers that hand the libraries their settings.

Values come from the environment (CONTRACT.md); secrets are referenced with EnvVar so a run's
config shows the variable's name, never its value.
"""


import os
from typing import Any

import dagster as dg
from pydantic import PrivateAttr
from slack_sdk import WebClient

from ..alerts.subscriptions import Subscriptions, load_subscriptions
from ..slack.sender import make_client
from ..warehouse import Warehouse
from ..workday.entities import Entity
from ..workday.rest import TokenCache, WorkdayRestClient
from ..workday.soap import RetryPolicy, WorkdaySoapClient


class WorkdayResource(dg.ConfigurableResource):
    """Workday Web Services over SOAP as an Integration System User, and optionally REST (OAuth2)."""

    soap_url: str
    username: str
    password: str
    tenant: str = ""
    api_version: str = "v46.1"
    page_size: int = 999
    retry_attempts: int = 5
    retry_initial_seconds: float = 0.5
    retry_total_seconds: float = 300.0
    rest_url: str = ""
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    refresh_token: str = ""
    rest_entities: list[str] = []
    _tokens: TokenCache | None = PrivateAttr(default=None)

    def _retry(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.retry_attempts, initial_seconds=self.retry_initial_seconds,
                           total_seconds=self.retry_total_seconds)

    def client(self) -> WorkdaySoapClient:
        return WorkdaySoapClient(self.soap_url, self.username, self.password, tenant=self.tenant or None,
                                 api_version=self.api_version, page_size=self.page_size, retry=self._retry())

    def reader(self, entity: Entity) -> WorkdaySoapClient | WorkdayRestClient:
        """The client that reads `entity`: REST when configured for it, SOAP otherwise."""
        if entity.name not in self.rest_entities:
            return self.client()
        if self._tokens is None:
            self._tokens = TokenCache(self.token_url, self.client_id, self.client_secret, self.refresh_token)
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

    bot_token: str
    api_url: str = "https://slack.com/api/"
    seconds_per_message: float = 1.0
    ui_url: str = ""

    def client(self) -> WebClient:
        return make_client(self.bot_token, self.api_url)


class SubscriptionsResource(dg.ConfigurableResource):
    """The channel-subscriptions YAML."""

    path: str = "subscriptions.yaml"

    def load(self) -> Subscriptions:
        return load_subscriptions(self.path)


def _rest_settings() -> dict[str, Any]:
    """REST is on when WORKDAY_REST_URL is set; its secrets are then referenced, never copied."""
    if not os.environ.get("WORKDAY_REST_URL"):
        return {}
    return {
        "rest_url": os.environ["WORKDAY_REST_URL"],
        "token_url": os.environ.get("WORKDAY_TOKEN_URL", ""),
        "client_id": os.environ.get("WORKDAY_CLIENT_ID", ""),
        "client_secret": dg.EnvVar("WORKDAY_CLIENT_SECRET"),
        "refresh_token": dg.EnvVar("WORKDAY_REFRESH_TOKEN"),
        "rest_entities": [n.strip() for n in os.environ.get("MLC_REST_ENTITIES", "").split(",") if n.strip()],
    }


def resources_from_env() -> dict[str, dg.ConfigurableResource]:
    return {
        "workday": WorkdayResource(
            soap_url=dg.EnvVar("WORKDAY_SOAP_URL"),
            username=dg.EnvVar("WORKDAY_USERNAME"),
            password=dg.EnvVar("WORKDAY_PASSWORD"),
            tenant=os.environ.get("WORKDAY_TENANT", ""),
            api_version=os.environ.get("WORKDAY_API_VERSION", "v46.1"),
            **_rest_settings(),
        ),
        "warehouse": WarehouseResource(path=os.environ.get("MLC_DUCKDB_PATH", "data/mlc.duckdb")),
        "slack": SlackBotResource(
            bot_token=dg.EnvVar("SLACK_BOT_TOKEN"),
            api_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
            ui_url=os.environ.get("MLC_DAGSTER_UI_URL", ""),
        ),
        "subscriptions": SubscriptionsResource(path=os.environ.get("MLC_SUBSCRIPTIONS", "subscriptions.yaml")),
    }
