"""REST reads with OAuth2 refresh tokens, against the Workday sandbox's token endpoint and resource."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from mlc_dagster.sandbox.workday import WorkdaySandbox
from mlc_dagster.workday.entities import WORKTAGS, RestSpec
from mlc_dagster.workday.errors import WorkdayAuthenticationError
from mlc_dagster.workday.rest import TokenCache, WorkdayRestClient
from mlc_dagster.workday.soap import RetryPolicy

DAY = datetime(2026, 11, 29, tzinfo=UTC)
# The REST client's mechanics on the one resource the sandbox serves, mapped from Workday's documented
# item shape ({id, descriptor, href}) alone. No registry entity reads over REST (see the README).
ORGANIZATIONS = dataclasses.replace(
    WORKTAGS, name="organizations",
    rest=RestSpec(path="v1/{tenant}/organizations", query={"type": "Cost_Center"},
                  fields={"wid": "id", "worktag_id": "id", "name": "descriptor"}))


def tokens_for(sandbox: WorkdaySandbox, refresh_token: str | None = None, **kwargs) -> TokenCache:
    return TokenCache(sandbox.token_url, sandbox.client_id, sandbox.client_secret,
                      refresh_token or sandbox.refresh_token, **kwargs)


def client_for(sandbox: WorkdaySandbox, tokens: TokenCache, page_size: int = 100) -> WorkdayRestClient:
    return WorkdayRestClient(sandbox.rest_url, sandbox.tenant, tokens, page_size=page_size,
                             retry=RetryPolicy(attempts=3, initial_seconds=0.01), sleep=lambda _: None)


def test_worktags_over_rest_match_the_scenario(workday: WorkdaySandbox) -> None:
    tokens = tokens_for(workday)
    result = client_for(workday, tokens, page_size=7).fetch_window(ORGANIZATIONS, DAY, DAY + timedelta(days=1))
    rows = {row["worktag_id"]: row for row in result.rows.rows()}
    cost_centers = workday.scenario.cost_centers
    assert sorted(rows) == sorted(c.wid for c in cost_centers.values())
    assert {row["name"] for row in rows.values()} == {c.name for c in cost_centers.values()}
    assert result.stats.pages == -(-len(cost_centers) // 7)
    assert tokens.refreshes == 1, "one token for the whole read"


def test_an_access_token_expiring_mid_run_costs_one_refresh(workday: WorkdaySandbox) -> None:
    tokens = tokens_for(workday)
    client = client_for(workday, tokens, page_size=5)
    client.fetch_window(ORGANIZATIONS, DAY, DAY + timedelta(days=1))
    workday.expire_access_tokens()
    result = client.fetch_window(ORGANIZATIONS, DAY, DAY + timedelta(days=1))
    assert len(result.rows) == len(workday.scenario.cost_centers)
    assert tokens.refreshes == 2


def test_a_revoked_refresh_token_names_what_to_regenerate(workday: WorkdaySandbox) -> None:
    workday.revoke_refresh_token()
    with pytest.raises(WorkdayAuthenticationError) as failure:
        client_for(workday, tokens_for(workday, refresh_token="sandbox-refresh-token")).fetch_window(
            ORGANIZATIONS, DAY, DAY + timedelta(days=1))
    message = str(failure.value)
    assert "WORKDAY_REFRESH_TOKEN" in message and "Manage Refresh Tokens for Integrations" in message
    assert "sandbox-refresh-token" not in message and workday.client_secret not in message


def test_a_wrong_client_secret_is_named(workday: WorkdaySandbox) -> None:
    tokens = TokenCache(workday.token_url, workday.client_id, "wrong", workday.refresh_token)
    with pytest.raises(WorkdayAuthenticationError, match="WORKDAY_CLIENT_SECRET"):
        tokens.token()


def test_concurrent_callers_share_one_refresh(workday: WorkdaySandbox) -> None:
    tokens = tokens_for(workday)
    before = workday.token_requests
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(tokens.token())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1 and workday.token_requests - before == 1


def test_a_rotated_refresh_token_is_handed_over(scenario) -> None:
    with WorkdaySandbox(scenario, rotate_refresh_tokens=True) as sandbox:
        saved: list[str] = []
        tokens = tokens_for(sandbox, on_refresh_token=saved.append)
        tokens.token()
        assert saved == [sandbox.refresh_token] and saved[0] != "sandbox-refresh-token"
        # The old refresh token no longer works; the cache uses the new one.
        old = requests.post(sandbox.token_url, data={"grant_type": "refresh_token",
                                                     "refresh_token": "sandbox-refresh-token"},
                            auth=(sandbox.client_id, sandbox.client_secret), timeout=5)
        assert old.status_code == 400
        sandbox.expire_access_tokens()
        client_for(sandbox, tokens).fetch_window(ORGANIZATIONS, DAY, DAY + timedelta(days=1))
        assert tokens.refreshes == 2


@pytest.mark.parametrize("kind", ["http_503", "http_429", "drop", "malformed", "expired_token"])
def test_rest_faults_are_retried(workday: WorkdaySandbox, kind: str) -> None:
    tokens = tokens_for(workday)
    workday.inject("organizations", kind, times=1, retry_after=1)
    result = client_for(workday, tokens).fetch_window(ORGANIZATIONS, DAY, DAY + timedelta(days=1))
    assert len(result.rows) == len(workday.scenario.cost_centers)


def test_worktags_over_rest_are_withdrawn_with_the_reason(workday: WorkdaySandbox, tmp_path) -> None:
    import dagster as dg

    from mlc_dagster.defs.resources import WarehouseResource, WorkdayResource
    from mlc_dagster.defs.workday.assets import entity_assets

    asset = next(a for a in entity_assets if a.key == dg.AssetKey(["workday", "worktags"]))
    resource = WorkdayResource(
        soap_url=workday.soap_url, username=workday.username, password="not-used-for-rest",
        rest_url=workday.rest_url, token_url=workday.token_url, client_id=workday.client_id,
        client_secret=workday.client_secret, refresh_token=workday.refresh_token, rest_entities=["worktags"],
    )
    warehouse = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    result = dg.materialize([asset], partition_key="2026-11-29", raise_on_error=False,
                            resources={"workday": resource, "warehouse": warehouse})
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.step_failure_data.error)
    assert "worktags cannot be read over REST" in message and "remove it from MLC_REST_ENTITIES" in message
