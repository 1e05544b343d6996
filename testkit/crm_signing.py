"""Signed CRM requests as HubSpot, Salesforce and a Standard Webhooks sender make them (PRODUCT
§14), for tests and the benchmark."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from xml.sax.saxutils import escape

HUBSPOT_SECRET = "hubspot-client-secret"
WEBHOOK_KEY = b"kakehashi-test-webhook-key-32byt"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(WEBHOOK_KEY).decode()
ORG_ID = "00D5g000004AbCdEAF"
"""An 18-character organization id; Salesforce also writes it with its first 15."""


def hubspot_headers(
    uri: str, body: bytes, timestamp_ms: int, secret: str = HUBSPOT_SECRET
) -> dict[str, str]:
    signed = b"POST" + uri.encode() + body + str(timestamp_ms).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest())
    return {
        "X-HubSpot-Signature-v3": signature.decode(),
        "X-HubSpot-Request-Timestamp": str(timestamp_ms),
        "Content-Type": "application/json",
    }


def stage_change(
    event_id: int, deal_id: int, stage: str, *, occurred_ms: int = 0
) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 9001,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": occurred_ms,
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": deal_id,
        "propertyName": "dealstage",
        "propertyValue": stage,
        "changeSource": "CRM_UI",
    }


def webhook_headers(
    event_id: str,
    timestamp: int,
    body: bytes,
    key: bytes = WEBHOOK_KEY,
    *,
    extra: tuple[str, ...] = (),
) -> dict[str, str]:
    signed = f"{event_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join([*extra, f"v1,{signature}"]),
        "Content-Type": "application/json",
    }


def deal_won_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "deal.won",
        "deal": {
            "id": "D-77",
            "name": "Globex renewal",
            "amount": 48000,
            "currency": "USD",
            "close_date": "2026-11-20",
            "owner_email": "kenji@example.com",
            "contract_start": "2026-12-01",
            "renewal_date": "2027-12-01",
            "products": ["Pro plan", "SSO add-on"],
        },
        "account": {"id": "GLOBEX-1", "name": "Globex Inc.", "domain": "globex.example"},
        "contacts": [
            {"name": "Homer Simpson", "role": "Safety lead", "email": "homer@globex.example"}
        ],
        "promises": [{"text": "Weekly check-in during onboarding", "due": None, "repeat": "week"}],
    }
    body.update(changes)
    return body


def as_json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def outbound_message(
    notifications: list[tuple[str, dict[str, str]]], org_id: str = ORG_ID, *, prolog: str = ""
) -> bytes:
    """A Salesforce Outbound Message of Opportunity notifications (id, fields)."""
    items = "".join(
        f"<Notification><Id>{escape(nid)}</Id>"
        '<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        + "".join(f"<sf:{k}>{escape(v)}</sf:{k}>" for k, v in fields.items())
        + "</sObject></Notification>"
        for nid, fields in notifications
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org_id}</OrganizationId><ActionId>04k5g000000XyZAAA0</ActionId>"
        '<SessionId xsi:nil="true"/><EnterpriseUrl>https://example.my.salesforce.com/</EnterpriseUrl>'
        f"{items}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def won_opportunity(**changes: str) -> dict[str, str]:
    fields = {
        "Id": "0065g00000AbCdEAAZ",
        "Name": "Initrode expansion",
        "IsWon": "true",
        "StageName": "Closed Won",
        "Amount": "3600000",
        "CurrencyIsoCode": "JPY",
        "CloseDate": "2026-11-19",
        "AccountId": "0015g00000XyZabAAB",
        "Kakehashi_Account_Name__c": "イニトロード株式会社",
        "Kakehashi_Owner_Email__c": "kenji@example.com",
        "Kakehashi_Contract_Start__c": "2026-12-01",
        "Kakehashi_Renewal_Date__c": "2027-11-30",
        "Kakehashi_Products__c": "Enterprise; Support",
    }
    fields.update(changes)
    return fields
