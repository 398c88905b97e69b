"""Protocol-level tests of the Workday sandbox's REST side: OAuth2 refresh-token grant and the
organizations (cost centers) resource. Raw HTTP over a real socket, no project client."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests
from lxml import etree

from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.workday import WorkdaySandbox

DAY = date(2026, 11, 29)
WD = "urn:com.workday/bsvc"
NS = {"wd": WD}


def refresh(sandbox: WorkdaySandbox, refresh_token: str | None = None,
            auth: tuple[str, str] | None = None, **form: str) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token or sandbox.refresh_token, **form}
    return requests.post(sandbox.token_url, data=data, auth=auth or (sandbox.client_id, sandbox.client_secret),
                         timeout=10)


def access_token(sandbox: WorkdaySandbox) -> str:
    response = refresh(sandbox)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def organizations_url(sandbox: WorkdaySandbox) -> str:
    return f"{sandbox.rest_url}/v1/{sandbox.tenant}/organizations"


def organizations(sandbox: WorkdaySandbox, token: str | None, **params: Any) -> requests.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return requests.get(organizations_url(sandbox), params={"type": "Cost_Center", **params}, headers=headers,
                        timeout=10)


def soap_with_bearer(sandbox: WorkdaySandbox, token: str) -> requests.Response:
    body = (f'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wd="{WD}"><env:Body>'
            "<wd:Get_Cost_Centers_Request><wd:Response_Filter><wd:Count>5</wd:Count></wd:Response_Filter>"
            "</wd:Get_Cost_Centers_Request></env:Body></env:Envelope>")
    return requests.post(sandbox.service_url("Financial_Management"), data=body.encode(),
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)


# --------------------------------------------------------------------------- token endpoint


def test_refresh_token_grant(sandbox: WorkdaySandbox) -> None:
    assert sandbox.token_url == f"{sandbox.base_url}/ccx/oauth2/acme_fin/token"
    assert sandbox.rest_url == f"{sandbox.base_url}/ccx/api"
    response = refresh(sandbox)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}  # no rotation by default
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert organizations(sandbox, body["access_token"]).status_code == 200
    # The same refresh token keeps working, and each refresh gives a distinct access token.
    assert access_token(sandbox) != body["access_token"]
    assert sandbox.token_requests == 2
    assert sandbox.request_log[-1].authenticated_with == "client"


@pytest.mark.parametrize(
    "auth",
    [("mlc-sandbox-client", "wrong-secret"), ("someone-else", "sandbox-client-secret"), None],
    ids=["wrong-secret", "unknown-client", "no-basic-auth"],
)
def test_bad_client_is_invalid_client(sandbox: WorkdaySandbox, auth: tuple[str, str] | None) -> None:
    data = {"grant_type": "refresh_token", "refresh_token": sandbox.refresh_token}
    response = requests.post(sandbox.token_url, data=data, auth=auth, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}
    garbled = requests.post(sandbox.token_url, data=data, headers={"Authorization": "Basic %%%"}, timeout=10)
    assert garbled.status_code == 401


def test_grant_errors(sandbox: WorkdaySandbox) -> None:
    unknown = refresh(sandbox, "not-a-refresh-token")
    assert unknown.status_code == 400
    assert unknown.json() == {"error": "invalid_grant", "error_description": "Invalid refresh token"}
    other = refresh(sandbox, grant_type="client_credentials")
    assert other.status_code == 400 and other.json()["error"] == "unsupported_grant_type"
    missing = requests.post(sandbox.token_url, data={"refresh_token": "x"},
                            auth=(sandbox.client_id, sandbox.client_secret), timeout=10)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    wrong_tenant = requests.post(sandbox.token_url.replace("acme_fin", "other"), data={},
                                 auth=(sandbox.client_id, sandbox.client_secret), timeout=10)
    assert wrong_tenant.status_code == 404


def test_revoked_refresh_token(sandbox: WorkdaySandbox) -> None:
    old = sandbox.refresh_token
    token = access_token(sandbox)
    sandbox.revoke_refresh_token()
    assert not sandbox.refresh_token_valid
    response = refresh(sandbox, old)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert organizations(sandbox, token).status_code == 200  # issued access tokens live on
    new = sandbox.issue_refresh_token()
    assert new != old and sandbox.refresh_token == new
    assert refresh(sandbox, old).status_code == 400
    assert refresh(sandbox, new).status_code == 200


def test_rotating_refresh_tokens(scenario: Scenario) -> None:
    with WorkdaySandbox(scenario, rotate_refresh_tokens=True, refresh_token="first") as sandbox:
        response = refresh(sandbox, "first")
        assert response.status_code == 200
        second = response.json()["refresh_token"]
        assert second not in ("first", "") and sandbox.refresh_token == second
        stale = refresh(sandbox, "first")  # the old one stopped working
        assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"
        third = refresh(sandbox, second)
        assert third.status_code == 200 and third.json()["refresh_token"] not in (second, "first")


def test_access_tokens_expire_on_rest_and_soap(scenario: Scenario) -> None:
    with WorkdaySandbox(scenario, access_token_lifetime=0.3) as sandbox:
        response = refresh(sandbox)
        assert response.json()["expires_in"] == 1  # whole seconds, rounded up
        token = response.json()["access_token"]
        assert organizations(sandbox, token).status_code == 200
        assert soap_with_bearer(sandbox, token).status_code == 200  # issued tokens count on SOAP
        assert sandbox.request_log[-1].authenticated_with == "bearer"
        time.sleep(0.4)
        expired = organizations(sandbox, token)
        assert expired.status_code == 401
        assert expired.json() == {"error": "Invalid access token"}
        assert expired.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        fault = soap_with_bearer(sandbox, token)
        assert fault.status_code == 500
        assert etree.fromstring(fault.content).findtext(".//faultcode") == "SOAP-ENV:Client.authenticationError"


def test_expire_access_tokens_now(sandbox: WorkdaySandbox) -> None:
    first, second = access_token(sandbox), access_token(sandbox)
    sandbox.expire_access_tokens()
    for token in (first, second):
        assert organizations(sandbox, token).json() == {"error": "Invalid access token"}
    assert organizations(sandbox, access_token(sandbox)).status_code == 200  # a fresh one works


@pytest.mark.parametrize("header", [None, "Bearer not-issued", "Basic bWxjOng=", "Bearer "])
def test_missing_or_unknown_token(sandbox: WorkdaySandbox, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = requests.get(organizations_url(sandbox), headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid resource or operation"}


def test_registered_bearer_tokens_work_on_rest(sandbox: WorkdaySandbox) -> None:
    sandbox.add_bearer_token("hand-made")
    try:
        assert organizations(sandbox, "hand-made").status_code == 200
    finally:
        sandbox.revoke_bearer_token("hand-made")
    assert organizations(sandbox, "hand-made").status_code == 401


# --------------------------------------------------------------------------- organizations


def test_organizations_paging_lists_every_cost_center_once(sandbox: WorkdaySandbox, scenario: Scenario) -> None:
    token = access_token(sandbox)
    expected = scenario.records_as_of("cost_centers", datetime.now(UTC))  # "as of now"
    first = organizations(sandbox, token)
    assert first.status_code == 200
    body = first.json()
    assert body["total"] == len(expected) == 40 and len(body["data"]) == 20  # default limit
    items: list[dict[str, Any]] = []
    offset = 0
    while offset < body["total"]:
        page = organizations(sandbox, token, limit=13, offset=offset).json()
        assert page["total"] == 40
        items.extend(page["data"])
        offset += 13
    # Workday's documented instance shape, exactly: no referenceID, code or isActive.
    assert items == [{"id": v.wid, "descriptor": v.name, "href": f"{organizations_url(sandbox)}/{v.wid}"}
                     for v in expected]
    assert len({i["id"] for i in items}) == 40
    assert organizations(sandbox, token, limit=100, offset=40).json() == {"total": 40, "data": []}
    assert organizations(sandbox, token, limit=100).json()["data"] == items


def test_organizations_item_by_id(sandbox: WorkdaySandbox) -> None:
    token = access_token(sandbox)
    items = organizations(sandbox, token, limit=100).json()["data"]
    one = requests.get(items[5]["href"], headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert one.status_code == 200 and one.json() == items[5]
    missing = requests.get(f"{organizations_url(sandbox)}/{'0' * 32}", headers={"Authorization": f"Bearer {token}"},
                           timeout=10)
    assert missing.status_code == 404 and missing.json() == {"error": "Resource not found"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 101}, "limit must be between 1 and 100"),
        ({"limit": 0}, "limit must be between 1 and 100"),
        ({"limit": "ten"}, "limit must be between 1 and 100"),
        ({"offset": -1}, "offset must be 0 or greater"),
        ({"type": "Company"}, "type must be Cost_Center"),
    ],
)
def test_organizations_parameter_errors(sandbox: WorkdaySandbox, params: dict[str, Any], message: str) -> None:
    response = organizations(sandbox, access_token(sandbox), **params)
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid request", "errors": [{"error": message}]}


def test_unknown_rest_paths(sandbox: WorkdaySandbox) -> None:
    token = access_token(sandbox)
    for path in ("/ccx/api/v1/acme_fin/workers", "/ccx/api/v1/other_tenant/organizations"):
        response = requests.get(sandbox.base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 404 and response.json() == {"error": "Resource not found"}, path


def test_counters(sandbox: WorkdaySandbox) -> None:
    token = access_token(sandbox)
    organizations(sandbox, token)
    organizations(sandbox, token, limit=5)
    organizations(sandbox, None)
    path = f"/ccx/api/v1/{sandbox.tenant}/organizations"
    assert sandbox.token_requests == 1
    assert sandbox.rest_requests == {f"/ccx/oauth2/{sandbox.tenant}/token": 1, path: 3}
    assert sandbox.requests_by_operation["organizations"] == 3
    assert [r.count for r in sandbox.request_log if r.operation == "organizations"] == [20, 5, None]
    sandbox.reset_counters()
    assert sandbox.token_requests == 0 and not sandbox.rest_requests


# --------------------------------------------------------------------------- fault injection


@pytest.mark.parametrize("kind", ["http_500", "http_502", "http_503", "http_504", "http_429"])
def test_injected_http_errors_then_recovery(sandbox: WorkdaySandbox, kind: str) -> None:
    status = int(kind[5:])
    sandbox.inject("token", kind, retry_after=3)
    response = refresh(sandbox)
    assert response.status_code == status and response.headers["Content-Type"].startswith("text/html")
    if status == 429:
        assert response.headers["Retry-After"] == "3"
    token = access_token(sandbox)
    sandbox.inject("organizations", kind, times=2)
    assert [organizations(sandbox, token).status_code for _ in range(3)] == [status, status, 200]
    assert sandbox.faults_served[kind] == 3 and sandbox.pending_faults == []


def test_injected_expired_token_answers_once(sandbox: WorkdaySandbox) -> None:
    token = access_token(sandbox)
    sandbox.inject("organizations", "expired_token")
    response = organizations(sandbox, token)
    assert response.status_code == 401 and response.json() == {"error": "Invalid access token"}
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert organizations(sandbox, token).status_code == 200


def test_injected_malformed_drop_and_slow(sandbox: WorkdaySandbox) -> None:
    token = access_token(sandbox)
    sandbox.inject("organizations", "malformed")
    broken = organizations(sandbox, token)
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    sandbox.inject("token", "drop")
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        refresh(sandbox)
    sandbox.inject("organizations", "slow", delay=0.3)
    started = time.perf_counter()
    assert organizations(sandbox, token).status_code == 200
    assert time.perf_counter() - started >= 0.3
    assert organizations(sandbox, token).status_code == 200


def test_rest_and_soap_faults_do_not_mix(sandbox: WorkdaySandbox) -> None:
    with pytest.raises(ValueError):
        sandbox.inject("organizations", "processing")  # a SOAP fault
    with pytest.raises(ValueError):
        sandbox.inject("Get_Cost_Centers", "expired_token")  # a REST fault
    sandbox.inject("*", "processing")  # wildcard: only a SOAP request can take it
    token = access_token(sandbox)
    assert organizations(sandbox, token).status_code == 200
    assert len(sandbox.pending_faults) == 1
    sandbox.add_bearer_token("soap-token")
    assert soap_with_bearer(sandbox, "soap-token").status_code == 500
    assert sandbox.pending_faults == []
    sandbox.revoke_bearer_token("soap-token")
    # A wrong client secret or token gets the real error and leaves the fault for the next request.
    sandbox.inject("token", "http_503")
    assert refresh(sandbox, auth=("mlc-sandbox-client", "nope")).status_code == 401
    assert refresh(sandbox).status_code == 503
