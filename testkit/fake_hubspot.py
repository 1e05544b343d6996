"""A fake HubSpot CRM API on 127.0.0.1:<free port>, for the deal reads of PRODUCT §14: deal
pipelines, deals with their associations, companies, contacts and line items (batch reads),
owners, and 429 answers with `Retry-After`. It checks the bearer token and records every call.

    with FakeHubSpot() as hubspot:
        hubspot.add_won_deal(deal_id=101, company_id=201, owner_email="kenji@example.com")
        HUBSPOT_API_URL=hubspot.url
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON = dict[str, Any]
TOKEN = "pat-test-hubspot-token"
WON, LOST, PROPOSAL = "closedwon", "closedlost", "presentationscheduled"
CUSTOM_WON = "1234567"
"""A custom pipeline's won stage: stage ids there are opaque numbers."""


@dataclass
class Call:
    method: str
    path: str
    status: int


class FakeHubSpot:
    def __init__(self) -> None:
        self.deals: dict[str, JSON] = {}
        self.companies: dict[str, JSON] = {}
        self.contacts: dict[str, JSON] = {}
        self.line_items: dict[str, JSON] = {}
        self.owners: dict[str, JSON] = {}
        self.pipelines: list[JSON] = [
            _pipeline(
                "default", [(PROPOSAL, "false", "0.4"), (WON, "true", "1.0"), (LOST, "true", "0.0")]
            ),
            _pipeline("renewals", [(CUSTOM_WON, "true", "1.0"), ("7654321", "true", "0.0")]),
        ]
        self.rate_limited = 0
        """How many of the next calls get a 429."""
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ---- data

    def add_won_deal(
        self,
        *,
        deal_id: int,
        company_id: int = 201,
        owner_email: str = "kenji@example.com",
        stage: str = WON,
        name: str = "ACME annual plan",
        company: str = "ACME Corp",
        amount: str = "1200000",
        currency: str = "JPY",
    ) -> None:
        owner_id = str(300 + len(self.owners))
        self.owners[owner_id] = {"id": owner_id, "email": owner_email, "firstName": "Kenji"}
        self.companies[str(company_id)] = {
            "id": str(company_id),
            "properties": {"name": company, "domain": "acme.example"},
        }
        self.contacts["401"] = {
            "id": "401",
            "properties": {"firstname": "Hanako", "lastname": "Sato", "jobtitle": "CTO",
                           "email": "hanako@acme.example"},
        }  # fmt: skip
        self.line_items["501"] = {"id": "501", "properties": {"name": "Enterprise plan"}}
        self.deals[str(deal_id)] = {
            "id": str(deal_id),
            "properties": {
                "dealname": name,
                "amount": amount,
                "deal_currency_code": currency,
                "closedate": "2026-11-20T03:00:00.000Z",
                "dealstage": stage,
                "hubspot_owner_id": owner_id,
                "kakehashi_contract_start": "2026-12-01",
                "kakehashi_renewal_date": "2027-12-01",
            },
            "associations": {
                "companies": {"results": [{"id": str(company_id), "type": "deal_to_company"}]},
                "contacts": {"results": [{"id": "401", "type": "deal_to_contact"}]},
                "line items": {"results": [{"id": "501", "type": "deal_to_line_item"}]},
            },
        }

    def calls_to(self, prefix: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.path.startswith(prefix)]

    # ---- lifecycle

    def __enter__(self) -> FakeHubSpot:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ---- requests

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = json.loads(request.rfile.read(length) or b"{}") if length else {}
        status, answer, headers = self._answer(request, parts.path, parse_qs(parts.query), body)
        with self._lock:
            self.calls.append(Call(request.command, parts.path, status))
        raw = json.dumps(answer).encode()
        request.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(raw)))
        request.end_headers()
        request.wfile.write(raw)

    def _answer(
        self, request: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]], body: JSON
    ) -> tuple[int, JSON, dict[str, str]]:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"status": "error", "category": "INVALID_AUTHENTICATION"}, {}
        with self._lock:
            if self.rate_limited > 0:
                self.rate_limited -= 1
                return 429, {"status": "error", "category": "RATE_LIMITS"}, {"Retry-After": "1"}
        if path == "/crm/v3/pipelines/deals":
            return 200, {"results": self.pipelines}, {}
        segments = path.strip("/").split("/")
        if path.endswith("/batch/read"):
            store = {"contacts": self.contacts, "line_items": self.line_items}[segments[3]]
            found = [store[i["id"]] for i in body.get("inputs", []) if i["id"] in store]
            return 200, {"status": "COMPLETE", "results": found}, {}
        store = {
            "deals": self.deals,
            "companies": self.companies,
            "owners": self.owners,
        }.get(segments[3] if segments[2] == "objects" else segments[2], {})
        found = store.get(segments[-1])
        if found is None:
            return 404, {"status": "error", "category": "OBJECT_NOT_FOUND"}, {}
        return 200, found, {}


def _pipeline(pipeline_id: str, stages: list[tuple[str, str, str]]) -> JSON:
    return {
        "id": pipeline_id,
        "stages": [
            {"id": stage, "metadata": {"isClosed": closed, "probability": probability}}
            for stage, closed, probability in stages
        ],
    }
