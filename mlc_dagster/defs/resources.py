"""Resources: thin ConfigurableResource wrappers that hand the libraries their settings.

Values come from the environment (CONTRACT.md); secrets are referenced with EnvVar so a run's
config shows the variable's name, never its value.
"""


import os

import dagster as dg
from pydantic import PrivateAttr
from slack_sdk import WebClient

from ..alerts.subscriptions import Subscriptions, load_subscriptions
from ..slack.sender import make_client
from ..warehouse import Warehouse
from ..workday.soap import RetryPolicy, WorkdaySoapClient


class WorkdayResource(dg.ConfigurableResource):
    """Workday Web Services over SOAP, as an Integration System User."""

    soap_url: str
    username: str
    password: str
    tenant: str = ""
    api_version: str = "v46.1"
    page_size: int = 999
    retry_attempts: int = 5
    retry_initial_seconds: float = 0.5
    retry_total_seconds: float = 300.0

    def client(self) -> WorkdaySoapClient:
        retry = RetryPolicy(attempts=self.retry_attempts, initial_seconds=self.retry_initial_seconds,
                            total_seconds=self.retry_total_seconds)
        return WorkdaySoapClient(self.soap_url, self.username, self.password, tenant=self.tenant or None,
                                 api_version=self.api_version, page_size=self.page_size, retry=retry)


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


def resources_from_env() -> dict[str, dg.ConfigurableResource]:
    return {
        "workday": WorkdayResource(
            soap_url=dg.EnvVar("WORKDAY_SOAP_URL"),
            username=dg.EnvVar("WORKDAY_USERNAME"),
            password=dg.EnvVar("WORKDAY_PASSWORD"),
            tenant=os.environ.get("WORKDAY_TENANT", ""),
            api_version=os.environ.get("WORKDAY_API_VERSION", "v46.1"),
        ),
        "warehouse": WarehouseResource(path=os.environ.get("MLC_DUCKDB_PATH", "data/mlc.duckdb")),
        "slack": SlackBotResource(
            bot_token=dg.EnvVar("SLACK_BOT_TOKEN"),
            api_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
            ui_url=os.environ.get("MLC_DAGSTER_UI_URL", ""),
        ),
        "subscriptions": SubscriptionsResource(path=os.environ.get("MLC_SUBSCRIPTIONS", "subscriptions.yaml")),
    }
