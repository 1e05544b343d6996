"""HubSpot's CRM API, read with `HUBSPOT_ACCESS_TOKEN` (PRODUCT §14): which deal stages are won,
and a won deal with its company, contacts, line items and owner. HubSpot's 429 answers are
honoured (`Retry-After`); an outage raises `CrmUnavailable`, so the sweep tries the event later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx

from commands.crm_deals import WonDeal, read_won_deal
from jobs.crm import CrmUnavailable

log = logging.getLogger(__name__)

DEAL_PROPERTIES = (
    "dealname",
    "amount",
    "deal_currency_code",
    "closedate",
    "dealstage",
    "hubspot_owner_id",
    "kakehashi_contract_start",
    "kakehashi_renewal_date",
)
"""The last two are optional date properties an admin may add to deals (README "CRM")."""
RATE_LIMIT_WAITS = 3
"""429s waited out within one read before the event is tried again later."""
MAX_WAIT_SECONDS = 10.0


class HubSpot:
    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 10.0,
    ) -> None:
        self.http = httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )
        self.sleep = sleep
        self._won_stages: set[str] | None = None
        self._known_stages: set[str] = set()

    def won_deal(self, event: dict[str, Any]) -> WonDeal | str:
        """The deal of a `dealstage` change, read again now: won, or why not."""
        if event.get("propertyName") != "dealstage" or event.get("subscriptionType") not in (
            None,
            "deal.propertyChange",
        ):
            return "ignored"
        if not self._is_won(str(event.get("propertyValue"))):
            return "not_won"
        deal_id = str(event.get("objectId"))
        if not deal_id.isdigit():
            return "invalid"
        deal = self._get(
            f"/crm/v3/objects/deals/{deal_id}",
            {
                "properties": ",".join(DEAL_PROPERTIES),
                "associations": "companies,contacts,line_items",
            },
        )
        if deal is None:
            return "unknown_deal"
        properties = deal.get("properties") or {}
        if not self._is_won(str(properties.get("dealstage"))):
            return "not_won"  # it moved on since this event was sent
        return self._read(deal, properties)

    def _read(self, deal: dict[str, Any], properties: dict[str, Any]) -> WonDeal | str:
        links = deal.get("associations") or {}
        company_ids = _ids(links, "companies")
        if not company_ids:
            return "no_company"
        company = self._get(
            f"/crm/v3/objects/companies/{company_ids[0]}", {"properties": "name,domain"}
        )
        if company is None:
            return "no_company"
        body = {
            "type": "deal.won",
            "deal": {
                "id": str(deal.get("id")),
                "name": properties.get("dealname"),
                "amount": properties.get("amount") or None,
                "currency": properties.get("deal_currency_code") or None,
                "close_date": _day(properties.get("closedate")),
                "owner_email": self._owner_email(properties.get("hubspot_owner_id")),
                "contract_start": _day(properties.get("kakehashi_contract_start")),
                "renewal_date": _day(properties.get("kakehashi_renewal_date")),
                "products": self._products(_ids(links, "line_items", "line items")),
            },
            "account": {
                "id": str(company.get("id")),
                "name": (company.get("properties") or {}).get("name"),
                "domain": (company.get("properties") or {}).get("domain") or None,
            },
            "contacts": self._contacts(_ids(links, "contacts")),
        }
        deal_read = read_won_deal(body)
        return deal_read if isinstance(deal_read, WonDeal) else "invalid"

    def _is_won(self, stage: str) -> bool:
        if self._won_stages is None or stage not in self._known_stages:
            self._load_stages()  # a stage added since: the pipelines are read again
        return stage in (self._won_stages or set())

    def _load_stages(self) -> None:
        pipelines = self._get("/crm/v3/pipelines/deals", {}) or {}
        won: set[str] = set()
        known: set[str] = set()
        for pipeline in pipelines.get("results") or []:
            for stage in pipeline.get("stages") or []:
                known.add(str(stage.get("id")))
                metadata = stage.get("metadata") or {}
                closed = str(metadata.get("isClosed")).lower() == "true"
                if closed and _probability(metadata.get("probability")) == 1.0:
                    won.add(str(stage.get("id")))
        self._won_stages, self._known_stages = won, known

    def _owner_email(self, owner_id: Any) -> str | None:
        if not str(owner_id or "").isdigit():
            return None
        owner = self._get(f"/crm/v3/owners/{owner_id}", {})
        email = (owner or {}).get("email")
        return str(email) if email else None

    def _contacts(self, ids: list[str]) -> list[dict[str, Any]]:
        found = self._batch("contacts", ids, ["firstname", "lastname", "email", "jobtitle"])
        contacts = []
        for contact in found:
            p = contact.get("properties") or {}
            name = " ".join(x for x in (p.get("firstname"), p.get("lastname")) if x) or p.get(
                "email"
            )
            if name:
                contacts.append(
                    {"name": name, "role": p.get("jobtitle") or "", "email": p.get("email") or None}
                )
        return contacts[:50]

    def _products(self, ids: list[str]) -> list[str]:
        found = self._batch("line_items", ids, ["name"])
        names = [str((item.get("properties") or {}).get("name") or "").strip() for item in found]
        return [name[:200] for name in names if name][:50]

    def _batch(self, kind: str, ids: list[str], properties: list[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        body = {"properties": properties, "inputs": [{"id": i} for i in ids[:100]]}
        found = self._call("POST", f"/crm/v3/objects/{kind}/batch/read", json=body) or {}
        return list(found.get("results") or [])

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any] | None:
        return self._call("GET", path, params=params)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any] | None:
        """The answer's JSON; None when HubSpot has no such object (404)."""
        for _ in range(RATE_LIMIT_WAITS + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise CrmUnavailable(f"HubSpot unreachable ({exc.__class__.__name__})") from None
            if response.status_code != 429:
                return _answer(response)
            self.sleep(_retry_after(response))
        raise CrmUnavailable("HubSpot kept answering 429 (rate limited)")


def _answer(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code == 404:
        return None
    if response.status_code >= 400:
        raise CrmUnavailable(f"HubSpot answered {response.status_code}")
    data = response.json()
    return data if isinstance(data, dict) else None


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.0), MAX_WAIT_SECONDS)
    except ValueError:
        return 1.0


def _ids(links: dict[str, Any], *names: str) -> list[str]:
    for name in names:
        if name in links:
            return [str(r.get("id")) for r in (links[name] or {}).get("results") or []]
    return []


def _probability(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _day(value: Any) -> str | None:
    """HubSpot's dates: `2026-11-20`, an ISO instant, or milliseconds since the epoch."""
    if not value:
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC).date().isoformat()
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return None
