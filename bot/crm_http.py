"""The CRMs' endpoints on `kakehashi run`'s HTTP server (PRODUCT §14): verify on the raw body,
store, answer. The work comes after, in the scheduler's sweep (`jobs.crm`), so a burst or a
CRM's retries are answered at once and a repeated event id changes nothing.

- `POST /crm/hubspot`: HubSpot's webhook, signature v3 (`HUBSPOT_CLIENT_SECRET`).
- `POST /crm/salesforce`: an Outbound Message from `SALESFORCE_ORG_ID`, parsed without
  entities or DTDs (defusedxml), answered with the SOAP acknowledgement.
- `POST /crm/events`: the generic JSON webhook, signed the Standard Webhooks way
  (`KAKEHASHI_WEBHOOK_SECRET`).
Answers are for the CRM's logs and the integrator setting it up, in English; nothing a sender
typed is logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeXml
from aiohttp import web
from defusedxml import DefusedXmlException
from sqlalchemy import Engine

from bot.settings import Settings
from commands.context import Clock
from commands.crm_deals import read_won_deal
from jobs import telemetry
from storage import crm_events
from storage.crm_events import CrmSource
from storage.db import DatabaseUnavailable, session_scope

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300
"""How old a signed request may be (both HubSpot and Standard Webhooks say 5 minutes)."""
SKEW_SECONDS = 30
"""How far ahead of our clock a sender's may run before its request counts as from the future."""
MAX_EVENTS = 100
"""HubSpot sends at most 100 events a request; Salesforce at most 100 notifications."""
_OUTBOUND = "{http://soap.sforce.com/2005/09/outbound}"
SOAP_ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    "<Ack>true</Ack></notificationsResponse>"
    "</soapenv:Body></soapenv:Envelope>"
)

Events = Sequence[tuple[str, dict[str, Any]]]


class Rejected(Exception):
    """The request is refused with this status and reason; nothing is stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def add_crm_routes(
    server: web.Application, *, settings: Settings, engine: Engine, clock: Clock
) -> None:
    endpoints = CrmEndpoints(settings=settings, engine=engine, clock=clock)
    server.router.add_post("/crm/hubspot", endpoints.hubspot)
    server.router.add_post("/crm/salesforce", endpoints.salesforce)
    server.router.add_post("/crm/events", endpoints.generic)


class CrmEndpoints:
    def __init__(self, *, settings: Settings, engine: Engine, clock: Clock) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        # One writer, and what waits for it written together (group commit): SQLite takes one
        # writer at a time, turning the others away to its busy handler, which sleeps up to
        # 100 ms between tries; and each commit waits for the disk. A burst of HubSpot batches
        # was acknowledged in 200-660 ms, one at a time in 10-60 ms (bench/RESULTS.md).
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="crm-store")
        self._waiting: deque[_Waiting] = deque()

    async def hubspot(self, request: web.Request) -> web.Response:
        try:
            body = await _raw(request)
            self._verify_hubspot(request, body)
            events = hubspot_events(body)
            await self._store(CrmSource.HUBSPOT, events)
        except Rejected as exc:
            return _refused(CrmSource.HUBSPOT, exc)
        return web.json_response({"stored": len(events)})

    async def salesforce(self, request: web.Request) -> web.Response:
        try:
            body = await _raw(request)
            events = salesforce_events(body, self.settings.salesforce_org_id)
            await self._store(CrmSource.SALESFORCE, events)
        except Rejected as exc:
            return _refused(CrmSource.SALESFORCE, exc)
        return web.Response(text=SOAP_ACK, content_type="text/xml")

    async def generic(self, request: web.Request) -> web.Response:
        try:
            body = await _raw(request)
            event_id = self._verify_webhook(request, body)
            parsed = _json(body)
            deal = read_won_deal(parsed)
            if isinstance(deal, dict):
                raise Rejected(422, json.dumps({"errors": deal}))
            await self._store(CrmSource.WEBHOOK, [(event_id, parsed)])
        except Rejected as exc:
            if exc.status == 422:
                telemetry.CRM_EVENTS_RECEIVED.labels(CrmSource.WEBHOOK.value, "rejected").inc()
                log.info(
                    "crm webhook refused: %d field error(s)", len(json.loads(exc.reason)["errors"])
                )
                return web.json_response(json.loads(exc.reason), status=422)
            return _refused(CrmSource.WEBHOOK, exc)
        return web.json_response({"accepted": event_id}, status=202)

    async def _store(self, source: CrmSource, events: Events) -> None:
        loop = asyncio.get_running_loop()
        waiting = _Waiting(source, events, loop.create_future())
        self._waiting.append(waiting)
        loop.run_in_executor(self._writer, self._store_waiting, loop)
        try:
            new = await waiting.stored
        except DatabaseUnavailable as exc:
            # The CRM retries what it did not see acknowledged: nothing is lost.
            raise Rejected(503, "the database is unavailable; retry later") from exc
        log.info("crm %s: %d event(s) received, %d new", source.value, len(events), new)
        telemetry.CRM_EVENTS_RECEIVED.labels(source.value, "accepted").inc(new)
        telemetry.CRM_EVENTS_RECEIVED.labels(source.value, "duplicate").inc(len(events) - new)

    def _store_waiting(self, loop: asyncio.AbstractEventLoop) -> None:
        """Writes every request waiting now in one transaction (none when an earlier call took
        them all), and tells each how many of its events were new."""
        group: list[_Waiting] = []
        while self._waiting:
            group.append(self._waiting.popleft())
        if not group:
            return
        try:
            with session_scope(self.engine) as session:
                at = self.clock.now()
                new = [
                    crm_events.store(session=session, source=w.source, events=w.events, at=at)
                    for w in group
                ]
        except Exception as exc:  # handed to every request of the group, which raises it
            for w in group:
                loop.call_soon_threadsafe(_settle, w.stored, None, exc)
            return
        for w, count in zip(group, new, strict=True):
            loop.call_soon_threadsafe(_settle, w.stored, count, None)

    def _verify_hubspot(self, request: web.Request, body: bytes) -> None:
        secret = self.settings.hubspot_client_secret
        if secret is None:
            raise Rejected(401, "HUBSPOT_CLIENT_SECRET is not set on this server")
        signature = request.headers.get("X-HubSpot-Signature-v3", "")
        timestamp = request.headers.get("X-HubSpot-Request-Timestamp", "")
        if not signature or not timestamp.isdigit():
            raise Rejected(401, "unsigned: X-HubSpot-Signature-v3 and its timestamp are required")
        self._check_age(int(timestamp) / 1000)
        signed = request.method.encode() + public_uri(request).encode() + body + timestamp.encode()
        if not _hmac_matches(secret.get_secret_value().encode(), signed, [signature]):
            raise Rejected(401, "the signature does not match")

    def _verify_webhook(self, request: web.Request, body: bytes) -> str:
        secret = self.settings.webhook_secret
        if secret is None:
            raise Rejected(401, "KAKEHASHI_WEBHOOK_SECRET is not set on this server")
        event_id = request.headers.get("webhook-id", "")
        timestamp = request.headers.get("webhook-timestamp", "")
        signatures = request.headers.get("webhook-signature", "").split()
        if not event_id or len(event_id) > 255 or not timestamp.isdigit() or not signatures:
            raise Rejected(
                401, "unsigned: webhook-id, webhook-timestamp and webhook-signature are required"
            )
        self._check_age(int(timestamp))
        key = _whsec_key(secret.get_secret_value())
        signed = f"{event_id}.{timestamp}.".encode() + body
        given = [s.removeprefix("v1,") for s in signatures if s.startswith("v1,")]
        if not _hmac_matches(key, signed, given):
            raise Rejected(401, "the signature does not match")
        return event_id

    def _check_age(self, sent_at: float) -> None:
        now = self.clock.now().timestamp()
        if sent_at < now - TOLERANCE_SECONDS:
            raise Rejected(401, "the request is more than 5 minutes old")
        if sent_at > now + SKEW_SECONDS:
            raise Rejected(401, "the request's timestamp is in the future")


@dataclass(frozen=True)
class _Waiting:
    """A request's events waiting for the writer."""

    source: CrmSource
    events: Events
    stored: asyncio.Future[int]


def _settle(stored: asyncio.Future[int], count: int | None, error: Exception | None) -> None:
    if stored.done():  # the sender hung up; its events are stored all the same
        return
    if error is not None:
        stored.set_exception(error)
    else:
        stored.set_result(count or 0)


def public_uri(request: web.Request) -> str:
    """The URI the sender called, as it signed it: behind a TLS proxy the scheme and host are
    the proxy's (`X-Forwarded-Proto`, `X-Forwarded-Host`)."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    return f"{scheme}://{host}{request.rel_url}"


def _hmac_matches(key: bytes, signed: bytes, given: list[str]) -> bool:
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # Every candidate is compared (rotation sends several), each in constant time.
    return any([hmac.compare_digest(expected, candidate) for candidate in given])


def _whsec_key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return secret.removeprefix("whsec_").encode()


async def _raw(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Rejected(413, "the body is too large (at most 1 MB)") from None


def _refused(source: CrmSource, exc: Rejected) -> web.Response:
    log.info("crm %s refused (%d): %s", source.value, exc.status, exc.reason)
    telemetry.CRM_EVENTS_RECEIVED.labels(source.value, "rejected").inc()
    return web.json_response({"error": exc.reason}, status=exc.status)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(400, f"the body is not JSON ({exc.__class__.__name__})") from None


# ---- HubSpot ---------------------------------------------------------------------------------


def hubspot_events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Each event of the array by its `eventId`, with the fields the sweep reads."""
    events = _json(body)
    if not isinstance(events, list) or len(events) > MAX_EVENTS:
        raise Rejected(400, f"the body must be a JSON array of at most {MAX_EVENTS} events")
    read: list[tuple[str, dict[str, Any]]] = []
    for event in events:
        if not isinstance(event, dict) or not str(event.get("eventId", "")).isdigit():
            raise Rejected(400, "every event needs a numeric eventId")
        kept = {k: event.get(k) for k in HUBSPOT_FIELDS if k in event}
        read.append((str(event["eventId"]), kept))
    return read


HUBSPOT_FIELDS = (
    "eventId",
    "subscriptionType",
    "objectId",
    "propertyName",
    "propertyValue",
    "occurredAt",
    "portalId",
)


# ---- Salesforce ------------------------------------------------------------------------------


def salesforce_events(body: bytes, org_id: str | None) -> list[tuple[str, dict[str, Any]]]:
    """Each `Notification` by its id, as the opportunity's fields; only from `org_id`."""
    if org_id is None:
        raise Rejected(401, "SALESFORCE_ORG_ID is not set on this server")
    try:
        root = SafeXml.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException) as exc:
        raise Rejected(
            400, f"the body is not a plain XML message ({exc.__class__.__name__})"
        ) from None
    notifications = root.find(f".//{_OUTBOUND}notifications")
    if notifications is None:
        raise Rejected(400, "no Outbound Message notifications in the body")
    sender = (notifications.findtext(f"{_OUTBOUND}OrganizationId") or "").strip()
    if sender[:15] != org_id[:15]:
        raise Rejected(401, "the message is from another Salesforce organization")
    found = notifications.findall(f"{_OUTBOUND}Notification")
    if not 1 <= len(found) <= MAX_EVENTS:
        raise Rejected(400, f"an Outbound Message holds 1 to {MAX_EVENTS} notifications")
    return [_notification(n) for n in found]


def _notification(notification: Element) -> tuple[str, dict[str, Any]]:
    event_id = (notification.findtext(f"{_OUTBOUND}Id") or "").strip()
    sobject = notification.find(f"{_OUTBOUND}sObject")
    if not event_id or len(event_id) > 255 or sobject is None:
        raise Rejected(400, "every Notification needs an Id and an sObject")
    fields = {_local(child.tag): (child.text or "").strip() for child in sobject}
    return event_id, fields


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
