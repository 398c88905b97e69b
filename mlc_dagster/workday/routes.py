"""Window routes negotiated per tenant and operation (decision 2 of the reference README).

An entity lists its routes in order of preference (`Entity.routes`: transaction log, flat updated dates,
document date with a look-back). Tenants differ by version and configuration, and nobody can tell in
advance which criteria a tenant's schema declares for an operation, so the first window asks with the
preferred route; a validation fault naming that route's criteria moves the entity to the next one, and
the route that worked is remembered per tenant and operation in a small JSON file (`RouteBook`), so the
next run asks right the first time. An operator can pin a route (`MLC_WORKDAY_ROUTES`), and `doctor`
shows what each entity uses.

A document-date route also runs its daily sweep (`OpenDocumentSweep`): in the last window of each UTC
day the open documents of the last year are asked again, so a change to an old invoice is seen within a
day even though its date is far behind the look-back.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .entities import ENTITIES, DocumentDateWindow, Entity, WindowCriteria
from .errors import WorkdayConfigError, WorkdayValidationError
from .soap import PageSink, WindowResult, WorkdaySoapClient

__all__ = ["RouteBook", "RoutedReader", "parse_pins", "route_book_from"]


def default_routes_path(duckdb_path: str) -> Path:
    """Beside the warehouse file: what was learned of the tenant travels with the data it shaped."""
    return Path(duckdb_path).with_name("workday-routes.json")


def route_book_from(lookup: Any) -> RouteBook:
    """The book the settings name: MLC_WORKDAY_ROUTES_PATH (else beside MLC_DUCKDB_PATH), pins from
    MLC_WORKDAY_ROUTES."""
    path = lookup("MLC_WORKDAY_ROUTES_PATH") or default_routes_path(lookup("MLC_DUCKDB_PATH") or "data/mlc.duckdb")
    return RouteBook(path, parse_pins(lookup("MLC_WORKDAY_ROUTES") or ""))


def parse_pins(text: str) -> dict[str, str]:
    """`MLC_WORKDAY_ROUTES`, e.g. `supplier_invoices=document_date, payments=document_date`."""
    pins: dict[str, str] = {}
    for item in (part.strip() for part in text.replace(";", ",").split(",")):
        if not item:
            continue
        name, sep, kind = (piece.strip() for piece in item.partition("="))
        if not sep or name not in ENTITIES:
            raise WorkdayConfigError(f"MLC_WORKDAY_ROUTES: {item!r} is not entity=route (entities: "
                                     f"{', '.join(sorted(ENTITIES))})")
        try:
            ENTITIES[name].route(kind)
        except KeyError as exc:
            raise WorkdayConfigError(f"MLC_WORKDAY_ROUTES: {exc.args[0]}") from None
        pins[name] = kind
    return pins


@dataclass(frozen=True)
class RouteChoice:
    route: WindowCriteria
    source: str  # pinned | remembered | preferred


class RouteBook:
    """The route each (tenant, operation) answers to, kept in a JSON file; pins override it.

    The file is rewritten whole (a temporary file, then `os.replace`), so a reader never sees half of
    it; two processes learning the same fact write the same content."""

    def __init__(self, path: str | Path | None, pins: dict[str, str] | None = None) -> None:
        self.path = Path(path) if path else None
        self.pins = dict(pins or {})
        self._lock = threading.Lock()
        self._memory: dict[str, Any] = {}  # with no file: what this process learned

    def _read(self) -> dict[str, Any]:
        if self.path is None:
            return json.loads(json.dumps(self._memory))
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise WorkdayConfigError(f"the window-route memory {self.path} is unreadable ({exc}): delete it, "
                                     "and the routes are found again") from None
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        if self.path is None:
            self._memory = data
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(handle, "w") as out:
            json.dump(data, out, indent=2, sort_keys=True)
        os.replace(temporary, self.path)

    def entry(self, tenant: str, entity: Entity) -> dict[str, Any]:
        """What is remembered of the entity's operation on the tenant: route, when found, what was refused."""
        entry = self._read().get(tenant, {}).get(f"{entity.service}/{entity.operation}", {})
        return entry if isinstance(entry, dict) else {}

    def choice(self, tenant: str, entity: Entity) -> RouteChoice:
        if entity.name in self.pins:
            return RouteChoice(entity.route(self.pins[entity.name]), "pinned")
        remembered = self.entry(tenant, entity).get("route")
        if remembered and any(r.kind == remembered for r in entity.routes):
            return RouteChoice(entity.route(remembered), "remembered")
        return RouteChoice(entity.routes[0], "preferred")

    def candidates(self, tenant: str, entity: Entity) -> list[tuple[WindowCriteria, bool]]:
        """Routes to try in order, each with whether it is pinned (a pinned route is the only one)."""
        choice = self.choice(tenant, entity)
        if choice.source == "pinned":
            return [(choice.route, True)]
        first = entity.routes.index(choice.route)
        return [(route, False) for route in entity.routes[first:]]

    def _update(self, tenant: str, entity: Entity, **values: Any) -> None:
        with self._lock:
            data = self._read()
            entry = data.setdefault(tenant, {}).setdefault(f"{entity.service}/{entity.operation}", {})
            if all(entry.get(k) == v for k, v in values.items() if k != "at"):
                return  # nothing new: no write on every window
            entry.update(values)
            self._write(data)

    def found(self, tenant: str, entity: Entity, route: WindowCriteria) -> None:
        self._update(tenant, entity, route=route.kind, at=datetime.now(UTC).isoformat(timespec="seconds"))

    def refused(self, tenant: str, entity: Entity, route: WindowCriteria, reason: str) -> None:
        refusals = dict(self.entry(tenant, entity).get("refused") or {})
        refusals[route.kind] = reason
        self._update(tenant, entity, refused=refusals)


def _refuses(route: WindowCriteria, error: WorkdayValidationError) -> bool:
    """Whether a validation fault is about the route's criteria (the fault's Xpath or text names them)."""
    text = str(error)
    return any(f"wd:{name}" in text or f"'{name}'" in text or f" {name} " in f" {text} " for name in route.elements)


def sweep_due(route: WindowCriteria, end: datetime) -> bool:
    """A document-date route sweeps open documents in the last window of each UTC day (the one ending at
    midnight): what the look-back cannot see (a change to an old invoice, a new one back-dated past it)
    is in the day's data by the day's end."""
    moment = end.astimezone(UTC)
    return isinstance(route, DocumentDateWindow) and route.sweep is not None and (moment.hour, moment.minute) == (0, 0)


class RoutedReader:
    """`fetch_window` over the SOAP client with the entity's route negotiated and remembered."""

    def __init__(self, client: WorkdaySoapClient, book: RouteBook) -> None:
        self.client = client
        self.book = book

    def __repr__(self) -> str:
        return f"RoutedReader({self.client!r})"

    def fetch_window(self, entity: Entity, start: datetime, end: datetime, sink: PageSink | None = None,
                     as_of: datetime | None = None) -> WindowResult:
        tenant = self.client.tenant
        refusals: list[str] = []
        for route, pinned in self.book.candidates(tenant, entity):
            try:
                result = self.client.fetch_window(entity, start, end, criteria=route, as_of=as_of, sink=sink)
            except WorkdayValidationError as exc:
                if pinned:
                    raise WorkdayValidationError(
                        f"{exc.message} (route {route.kind} is pinned by MLC_WORKDAY_ROUTES for {entity.name}; "
                        f"its routes: {', '.join(r.kind for r in entity.routes)})", request=exc.request) from None
                if not _refuses(route, exc):
                    raise
                reason = exc.message
                self.book.refused(tenant, entity, route, reason)
                refusals.append(f"{route.kind}: {reason}")
                continue
            self.book.found(tenant, entity, route)
            if sweep_due(route, end):
                assert isinstance(route, DocumentDateWindow)
                for sweep in route.sweeps:
                    swept = self.client.fetch_window(entity, start, end, criteria=sweep, as_of=result.as_of,
                                                     sink=result.sink)
                    result.stats.absorb(swept.stats)
                    result.records += swept.records
            return result
        raise WorkdayConfigError(
            f"tenant {tenant} refuses every window route of {entity.name} ({entity.service}/{entity.operation}): "
            + "; ".join(refusals) + ". Pin one that works with MLC_WORKDAY_ROUTES, or report the tenant's version")
