"""The client sends only what Workday's schema declares, and the sandbox answers only what it declares.

Every request the client can build (each entity x each window route, its daily sweep included x first
and later pages x each response group it can send) is validated against the schema model: all of them
against v46 (v28 plus the later elements, unconfirmed), and all but the later-version routes against
v28. Then every kind of answer the sandbox gives those requests (a page of records, the last page, an
empty page, each response-group variant) is validated as a response. The counts are printed.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import requests
from lxml import etree

from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.schema import SchemaModel
from mlc_dagster.sandbox.workday import WorkdaySandbox
from mlc_dagster.workday.entities import ENTITIES, DocumentDateWindow, Entity, WindowCriteria
from mlc_dagster.workday.soap import WorkdaySoapClient

WD = "urn:com.workday/bsvc"
START = datetime(2026, 11, 29, 12, tzinfo=UTC)
END = START + timedelta(hours=1)
# Elements known only from later versions (the sandbox's overlay): routes using them are v46-only.
LATER_ONLY = {("supplier_invoices", "transaction_log"), ("payments", "transaction_log")}


def routes_of(entity: Entity) -> list[WindowCriteria]:
    routes: list[WindowCriteria] = list(entity.routes)
    routes += [sweep for r in entity.routes if isinstance(r, DocumentDateWindow) for sweep in r.sweeps]
    return routes


def response_groups(entity: Entity) -> list[tuple[str, ...]]:
    """The entity's group, and none at all (what the client sends for an operation that declares none)."""
    return [entity.response_group, ()] if entity.response_group else [()]


def variants() -> list[tuple[Entity, WindowCriteria, tuple[str, ...], int]]:
    return [(entity, route, group, page)
            for entity in ENTITIES.values() for route in routes_of(entity)
            for group in response_groups(entity) for page in (1, 2)]


def request_element(payload: bytes) -> etree._Element:
    body = etree.fromstring(payload).find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert body is not None
    return body[0]


def build(client: WorkdaySoapClient, entity: Entity, route: WindowCriteria, group: tuple[str, ...],
          page: int) -> bytes:
    return client.build_request(dataclasses.replace(entity, response_group=group), route, START, END, END, page)


@pytest.fixture(scope="module")
def client() -> WorkdaySoapClient:
    return WorkdaySoapClient("https://wd2-impl-services1.workday.com/ccx/service/acme", "isu", "secret",
                             tenant="acme", page_size=50)


def test_every_request_the_client_can_build_is_valid_for_the_schema(client: WorkdaySoapClient) -> None:
    v28, v46 = SchemaModel.load("v28"), SchemaModel.load("v46")
    checked = 0
    for entity, route, group, page in variants():
        element = request_element(build(client, entity, route, group, page))
        assert v46.validate(entity.service, entity.operation, element) == [], (entity.name, route.kind, group)
        refused = v28.validate(entity.service, entity.operation, element)
        if (entity.name, route.kind) in LATER_ONLY:
            assert refused and "Transaction_Log_Criteria_Data" in refused[0].xpath
        else:
            assert refused == [], (entity.name, route.kind, group, refused)
        checked += 1
    # Every entity, every route it lists, both pages: none left out of the loop by accident.
    assert checked == sum(len(routes_of(e)) * len(response_groups(e)) * 2 for e in ENTITIES.values())
    print(f"\nconformance: {checked} request variants validated against v28 and v46")


@pytest.mark.parametrize("profile", ["v28", "v46"])
def test_every_kind_of_answer_the_sandbox_gives_is_valid_for_the_schema(scenario: Scenario, profile: str) -> None:
    model = SchemaModel.load(profile)
    answers = 0
    with WorkdaySandbox(scenario, profile=profile) as sandbox, requests.Session() as session:
        client = WorkdaySoapClient(sandbox.soap_url, sandbox.username, sandbox.password, tenant=sandbox.tenant,
                                   page_size=50)
        kinds: set[str] = set()
        for entity, route, group, page in variants():
            if profile == "v28" and (entity.name, route.kind) in LATER_ONLY:
                continue
            for start, end in ((START, END), (START + timedelta(days=40), END + timedelta(days=40))):
                payload = client.build_request(dataclasses.replace(entity, response_group=group), route,
                                               start, end, end, page)
                answer = session.post(client.endpoint(entity), data=payload, timeout=30)
                assert answer.status_code == 200, (entity.name, route.kind, answer.text[:500])
                body = etree.fromstring(answer.content).find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
                assert body is not None
                response = body[0]
                assert model.validate(entity.service, entity.operation, response, direction="response") == [], (
                    entity.name, route.kind, group, page)
                records = len(response.findall(f"{{{WD}}}Response_Data/*"))
                kinds.add(f"{entity.operation}:{'records' if records else 'empty'}:{','.join(group) or '-'}")
                answers += 1
    assert any(k.endswith(":records:Include_Reference,Include_Payment_Group_Data") for k in kinds)
    assert any(":empty:" in k for k in kinds)
    print(f"\nconformance ({profile}): {answers} sandbox answers validated, {len(kinds)} kinds")
