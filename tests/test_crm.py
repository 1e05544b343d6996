"""A won deal starts the handoff (PRODUCT §14, issue 20): signed HubSpot, Salesforce and generic
events into the real HTTP server (Bolt's Slack endpoint and the CRM endpoints), the scheduler's
CRM sweep reading a fake HubSpot API, the outbox delivered to the fake Slack, and what the deal
owner sees: one DM with **Hand it off**, which opens the prefilled handoff form."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiohttp import web
from prometheus_client import REGISTRY
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bot import blockkit
from bot.after_ack import AfterAck
from bot.crm_http import add_crm_routes
from bot.crm_jobs import crm_from
from bot.delivery import SlackTransport, slack_client
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack import MESSAGE_SHORTCUTS, build_app, web_app
from commands import ui
from commands.crm_deals import WonDeal, read_won_deal
from commands.i18n import Translator
from jobs.crm import offer
from jobs.delivery import Delivery, unpaced
from storage.accounts import Account
from storage.audit import AuditEntry
from storage.crm_events import CrmEvent
from storage.handoffs import Handoff
from storage.outbox import OutboxMessage
from testkit.crm_signing import (
    HUBSPOT_SECRET,
    ORG_ID,
    WEBHOOK_KEY,
    WEBHOOK_SECRET,
    as_json,
    deal_won_body,
    hubspot_headers,
    outbound_message,
    stage_change,
    webhook_headers,
    won_opportunity,
)
from testkit.fake_hubspot import CUSTOM_WON, LOST, PROPOSAL, FakeHubSpot
from testkit.fake_hubspot import TOKEN as HUBSPOT_TOKEN
from testkit.fake_slack import FakeSlack
from tests.conftest import NOW, TOKEN, SlackServer, free_port, make_settings
from tests.test_slack_handoff import all_text, buttons, submit

JSON = dict[str, Any]
NOW_MS = int(NOW.timestamp() * 1000)


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def settings(database_url: str, slack: FakeSlack, hubspot: FakeHubSpot) -> Settings:
    slack.add_user(
        "USALES", name="kenji", tz="Asia/Tokyo", locale="en-US", email="kenji@example.com"
    )
    return make_settings(
        database_url,
        slack.api_url,
        HUBSPOT_CLIENT_SECRET=HUBSPOT_SECRET,
        HUBSPOT_ACCESS_TOKEN=HUBSPOT_TOKEN,
        HUBSPOT_API_URL=hubspot.url,
        SALESFORCE_ORG_ID=ORG_ID[:15],
        KAKEHASHI_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )


class CrmServer(SlackServer):
    runtime: Runtime
    settings: Settings

    async def hubspot(
        self, events: list[JSON], *, at_ms: int = NOW_MS, secret: str = HUBSPOT_SECRET
    ) -> httpx.Response:
        body = as_json(events)
        uri = f"{self.url}/crm/hubspot"
        return await self.http.post(
            uri, content=body, headers=hubspot_headers(uri, body, at_ms, secret)
        )

    async def webhook(
        self, body: Any, event_id: str = "msg_1", *, at: int | None = None, **kw: Any
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else as_json(body)
        stamp = int(NOW.timestamp()) if at is None else at
        headers = webhook_headers(event_id, stamp, raw, **kw)
        return await self.http.post(f"{self.url}/crm/events", content=raw, headers=headers)

    async def salesforce(self, body: bytes) -> httpx.Response:
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
        return await self.http.post(f"{self.url}/crm/salesforce", content=body, headers=headers)

    async def sweep(self, *, days: float = 0) -> list[str]:
        """One scheduler tick of the CRM sweep and the delivery sweep, `days` after NOW."""
        at = NOW + timedelta(days=days)
        crm = crm_from(self.runtime)
        assert crm is not None
        delivery = Delivery(
            engine=self.runtime.engine,
            transport=SlackTransport(slack_client(self.settings)),
            clock=self.runtime.clock,
            pacer=unpaced(),
        )
        lines = await asyncio.to_thread(crm.sweep, at)
        await asyncio.to_thread(delivery.sweep, at)
        return lines


@pytest.fixture
async def server(
    runtime: Runtime, slack: FakeSlack, settings: Settings
) -> AsyncIterator[CrmServer]:
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
    after_ack = AfterAck()
    app = web_app(runtime, build_app(runtime, client, after_ack))
    add_crm_routes(app, settings=settings, engine=runtime.engine, clock=runtime.clock)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            running = CrmServer(url=f"http://127.0.0.1:{port}", http=http, slack=slack)
            running.runtime, running.settings = runtime, settings
            yield running
    finally:
        await runner.cleanup()
        after_ack.shutdown()


def dms(slack: FakeSlack, user_id: str) -> list[JSON]:
    return [
        c.body
        for c in slack.calls
        if c.method == "chat.postMessage" and c.body["channel"] == user_id
    ]


def stored(engine: Engine) -> list[CrmEvent]:
    with Session(engine) as session:
        return list(session.exec(select(CrmEvent).order_by(col(CrmEvent.id))).all())


def rows(engine: Engine, table: type[Any]) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


async def open_prefilled_form(server: CrmServer, dm: JSON, user_id: str = "USALES") -> JSON:
    [(action_id, value)] = buttons(dm)
    assert action_id == "crm.hand_off"
    from testkit.signing import block_actions_body

    trigger = f"trigger-crm-{value}"
    url = server.slack.new_response_url()
    body = block_actions_body(
        user_id, action_id, value, channel_id=f"D{user_id}", response_url=url, trigger_id=trigger
    )
    assert (await server.post(body)).status_code == 200
    opened = await server.slack.await_for(
        "views.open", predicate=lambda b: b.get("trigger_id") == trigger
    )
    view: JSON = opened[0]["view"]
    return view


def initial(view: JSON) -> dict[str, Any]:
    """Each input block's prefilled value, as Slack shows it."""
    found: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] == "input":
            element = block["element"]
            option = element.get("initial_option") or {}
            found[block["block_id"]] = (
                element.get("initial_value") or element.get("initial_date")
                or element.get("initial_user") or option.get("value")
            )  # fmt: skip
    return found


# ---- HubSpot ---------------------------------------------------------------------------------


async def test_a_won_hubspot_deal_becomes_one_dm_whose_button_opens_the_prefilled_form(
    server: CrmServer, hubspot: FakeHubSpot, engine: Engine
) -> None:
    hubspot.add_won_deal(deal_id=101, company_id=201)
    event = stage_change(1, 101, "closedwon")
    for _ in range(3):  # HubSpot retries what it thinks was not received
        answer = await server.hubspot([event])
        assert answer.status_code == 200, answer.text
    assert len(stored(engine)) == 1

    assert await server.sweep() == ["crm hubspot 1: offered"]
    await server.sweep()
    [dm] = dms(server.slack, "USALES")
    assert "*ACME annual plan* was won: hand *ACME Corp* off to customer success." in all_text(dm)
    assert "¥1,200,000" in all_text(dm) and "Enterprise plan" in all_text(dm)
    assert [label for label in all_text(dm).split('"') if label == "Hand it off"]

    view = await open_prefilled_form(server, dm)
    assert view["callback_id"] == "handoff_form"
    prefilled = initial(view)
    assert prefilled["account"] == "ACME Corp"
    assert prefilled["plan"] == "Enterprise plan"
    assert prefilled["amount"] == "1200000"
    assert prefilled["currency"] == "JPY"
    assert prefilled["contract_start"] == "2026-12-01" and prefilled["renewal_date"] == "2027-12-01"
    assert prefilled["contacts"] == "Hanako Sato, CTO, hanako@acme.example"

    answers = {**prefilled, "cs_owner": "UCS", "touch_model": "high", "goals": "Live in 30 days"}
    assert await submit(server, view, answers) == {}
    with Session(engine) as session:
        handoff = session.exec(select(Handoff)).one()
        account = session.get(Account, handoff.account_id)
        assert account is not None and account.external_id == "201" and account.name == "ACME Corp"
    await server.sweep()  # the handoff's own DMs, as §5
    assert "ACME Corp" in all_text(dms(server.slack, "UCS")[0])
    assert rows(engine, Account) == 1


async def test_a_stage_change_that_is_not_a_win_sends_nothing(
    server: CrmServer, hubspot: FakeHubSpot, engine: Engine
) -> None:
    hubspot.add_won_deal(deal_id=102, stage=LOST)
    hubspot.add_won_deal(deal_id=103, stage=PROPOSAL, company_id=203)
    hubspot.add_won_deal(deal_id=104, stage=LOST, company_id=204)  # won, then lost again
    events = [
        stage_change(2, 102, LOST),
        stage_change(3, 103, PROPOSAL),
        stage_change(4, 104, "closedwon"),
    ]
    assert (await server.hubspot(events)).status_code == 200
    lines = await server.sweep()
    assert sorted(lines) == [
        "crm hubspot 2: not_won",
        "crm hubspot 3: not_won",
        "crm hubspot 4: not_won",
    ]
    assert dms(server.slack, "USALES") == []
    assert rows(engine, Account) == 0
    assert not hubspot.calls_to("/crm/v3/objects/deals/102")  # not read: the stage says enough


async def test_a_custom_pipelines_won_stage_is_read_from_the_pipelines_api(
    server: CrmServer, hubspot: FakeHubSpot
) -> None:
    hubspot.add_won_deal(deal_id=105, stage=CUSTOM_WON)
    assert (await server.hubspot([stage_change(5, 105, CUSTOM_WON)])).status_code == 200
    assert await server.sweep() == ["crm hubspot 5: offered"]


@pytest.mark.parametrize(
    "forgery",
    ["wrong secret", "stale", "future", "unsigned", "tampered"],
)
async def test_forged_hubspot_requests_get_401_and_store_nothing(
    server: CrmServer, engine: Engine, forgery: str
) -> None:
    body = as_json([stage_change(6, 106, "closedwon")])
    uri = f"{server.url}/crm/hubspot"
    at = {"stale": NOW_MS - 301_000, "future": NOW_MS + 120_000}.get(forgery, NOW_MS)
    headers = hubspot_headers(
        uri, body, at, "guess" if forgery == "wrong secret" else HUBSPOT_SECRET
    )
    if forgery == "unsigned":
        headers = {"Content-Type": "application/json"}
    if forgery == "tampered":
        body = body.replace(b"106", b"107")
    answer = await server.http.post(uri, content=body, headers=headers)
    assert answer.status_code == 401
    assert stored(engine) == []


async def test_malformed_and_oversized_hubspot_bodies_are_refused_clearly(
    server: CrmServer, engine: Engine
) -> None:
    uri = f"{server.url}/crm/hubspot"
    for body, status in [
        (b"{not json", 400),
        (b'{"eventId": 1}', 400),
        (as_json([{"eventId": "'; DROP TABLE crm_events; --"}]), 400),
        (as_json([stage_change(i, 1, "closedwon") for i in range(101)]), 400),
        (b"[" + b" " * 10_000_000 + b"]", 413),
    ]:
        answer = await server.http.post(
            uri, content=body, headers=hubspot_headers(uri, body, NOW_MS)
        )
        assert answer.status_code == status, answer.text
        assert "error" in answer.json()
    assert stored(engine) == []


async def test_an_unknown_deal_or_one_without_a_company_is_recorded_and_sends_nothing(
    server: CrmServer, hubspot: FakeHubSpot, engine: Engine
) -> None:
    hubspot.add_won_deal(deal_id=108)
    hubspot.deals["108"]["associations"]["companies"] = {"results": []}
    hostile = {**stage_change(12, 0, "closedwon"), "objectId": "1/../../owners/300"}
    events = [stage_change(7, 999, "closedwon"), stage_change(8, 108, "closedwon"), hostile]
    assert (await server.hubspot(events)).status_code == 200
    assert sorted(await server.sweep()) == [
        "crm hubspot 12: invalid",
        "crm hubspot 7: unknown_deal",
        "crm hubspot 8: no_company",
    ]
    assert dms(server.slack, "USALES") == []
    with Session(engine) as session:
        actions = session.exec(
            select(AuditEntry.action).where(AuditEntry.entity == "crm_event")
        ).all()
    assert sorted(actions) == ["invalid", "no_company", "unknown_deal"]


async def test_hubspot_rate_limits_are_waited_out_or_the_event_is_tried_later(
    server: CrmServer, hubspot: FakeHubSpot, engine: Engine
) -> None:
    hubspot.add_won_deal(deal_id=109)
    hubspot.rate_limited = 50
    assert (await server.hubspot([stage_change(9, 109, "closedwon")])).status_code == 200
    [line] = await server.sweep()
    assert line.startswith("crm hubspot 9: pending (HubSpot kept answering 429")
    [event] = stored(engine)
    assert event.status == "pending" and event.attempts == 1
    hubspot.rate_limited = 0
    assert await server.sweep(days=1) == ["crm hubspot 9: offered"]
    await server.sweep(days=1)
    assert len(dms(server.slack, "USALES")) == 1


# ---- owners, managers, handed off ------------------------------------------------------------


async def test_an_owner_not_found_on_slack_is_reported_to_the_managers_once(
    server: CrmServer, hubspot: FakeHubSpot
) -> None:
    hubspot.add_won_deal(deal_id=110, owner_email="left.the.company@example.com")
    assert (await server.hubspot([stage_change(10, 110, "closedwon")])).status_code == 200
    assert await server.sweep() == ["crm hubspot 10: owner_unknown"]
    await server.sweep(days=5)
    [told] = dms(server.slack, "UMANAGER")
    assert "left.the.company@example.com" in all_text(told) and "/handoff" in all_text(told)


async def test_a_deal_whose_owner_has_left_is_reported_to_the_managers(
    server: CrmServer, slack: FakeSlack
) -> None:
    slack.add_user("ULEFT", name="gone", email="gone@example.com", deleted=True)
    body = deal_won_body()
    body["deal"]["owner_email"] = "gone@example.com"
    assert (await server.webhook(body)).status_code == 202
    assert await server.sweep() == ["crm webhook msg_1: owner_unknown"]
    assert dms(slack, "ULEFT") == []
    [told] = dms(slack, "UMANAGER")
    assert "gone@example.com could not be found here" in all_text(told)


async def test_slack_failing_to_look_the_owner_up_leaves_the_event_for_later(
    server: CrmServer, slack: FakeSlack, engine: Engine
) -> None:
    slack.fail_next("users.lookupByEmail", error="ratelimited")
    assert (await server.webhook(deal_won_body())).status_code == 202
    [line] = await server.sweep()
    assert line == "crm webhook msg_1: pending (Slack users.lookupByEmail: ratelimited)"
    assert dms(slack, "UMANAGER") == [] and dms(slack, "USALES") == []
    assert await server.sweep(days=1) == ["crm webhook msg_1: offered"]


async def test_a_deal_not_handed_off_in_two_working_days_is_reported_once(
    server: CrmServer, engine: Engine
) -> None:
    assert (await server.webhook(deal_won_body())).status_code == 202
    await server.sweep()
    assert dms(server.slack, "UMANAGER") == []
    await server.sweep(days=1)  # Tuesday
    assert dms(server.slack, "UMANAGER") == []
    assert await server.sweep(days=2) == ["crm webhook msg_1: managers told"]
    await server.sweep(days=3)
    [told] = dms(server.slack, "UMANAGER")
    assert "was won 2 working days ago and is not handed off yet" in all_text(told)


async def test_a_deal_with_more_contacts_than_the_form_holds_prefills_whole_lines(
    server: CrmServer,
) -> None:
    many = [
        {"name": f"担当者 {i}", "role": "x" * 150, "email": f"p{i}@globex.example"}
        for i in range(50)
    ]
    assert (await server.webhook(deal_won_body(contacts=many))).status_code == 202
    await server.sweep()
    view = await open_prefilled_form(server, dms(server.slack, "USALES")[0])
    lines = initial(view)["contacts"].splitlines()
    assert 10 < len(lines) < 50 and lines[-1].endswith("globex.example")
    assert server.slack.rejections == []


async def test_a_deal_with_many_long_products_fits_its_dm_within_slacks_section(
    server: CrmServer,
) -> None:
    products = [f"製品 {i} <&> " + "x" * 180 for i in range(50)]
    body = deal_won_body()
    body["deal"]["products"] = products
    assert (await server.webhook(body)).status_code == 202
    await server.sweep()
    [dm] = dms(server.slack, "USALES")
    first = dm["blocks"][0]["text"]["text"]
    assert len(first) <= blockkit.SECTION_TEXT
    products_line = first.splitlines()[-1]
    assert products_line.startswith("Products: 製品 0 &lt;&amp;&gt; xxx")
    assert products_line.endswith("…")
    assert server.slack.rejections == []
    crm = crm_from(server.runtime)
    assert crm is not None and crm.room == blockkit.ROOM  # the job cuts, not Block Kit
    event = CrmEvent(id=1, source="webhook", event_id="e", payload={}, received_at=NOW)
    deal = read_won_deal(body)
    assert isinstance(deal, WonDeal)
    small = ui.Room(section=300, measure=blockkit.ROOM.measure)
    section = offer(Translator("ja"), deal, event, small).blocks[0]
    assert isinstance(section, ui.Section) and small.measure(section.text) <= 300


async def test_a_deal_handed_off_in_time_is_not_reported(server: CrmServer) -> None:
    assert (await server.webhook(deal_won_body())).status_code == 202
    await server.sweep()
    view = await open_prefilled_form(server, dms(server.slack, "USALES")[0])
    prefilled = initial(view)
    assert prefilled["promises"] == "Weekly check-in during onboarding every week"
    answers = {**prefilled, "cs_owner": "UCS", "touch_model": "low", "goals": "Adoption"}
    assert await submit(server, view, answers) == {}
    assert await server.sweep(days=3) == []
    assert dms(server.slack, "UMANAGER") == []


async def test_a_won_deal_for_an_account_already_handed_off_says_so(
    server: CrmServer, engine: Engine
) -> None:
    assert (await server.webhook(deal_won_body())).status_code == 202
    await server.sweep()
    view = await open_prefilled_form(server, dms(server.slack, "USALES")[0])
    answers = {**initial(view), "cs_owner": "UCS", "touch_model": "low", "goals": "Adoption"}
    assert await submit(server, view, answers) == {}
    second = deal_won_body(deal={**deal_won_body()["deal"], "id": "D-78", "amount": 1})
    assert (await server.webhook(second, "msg_2")).status_code == 202
    assert await server.sweep() == ["crm webhook msg_2: already_handed_off"]
    await server.sweep()
    said = [dm for dm in dms(server.slack, "USALES") if "already handed off (H-1)" in all_text(dm)]
    assert len(said) == 1 and buttons(said[0]) == []
    assert rows(engine, Handoff) == 1
    with Session(engine) as session:
        assert session.exec(select(Account)).one().arr == 48000  # left as it was handed off


# ---- the generic webhook ---------------------------------------------------------------------


def crm_count(kind: str, outcome: str) -> float:
    sample = f"kakehashi_crm_events_{kind}_total"
    labels = {"source": "webhook", "outcome": outcome}
    return REGISTRY.get_sample_value(sample, labels) or 0.0


async def test_the_generic_webhook_accepts_a_signed_won_deal_once(
    server: CrmServer, engine: Engine
) -> None:
    before = [crm_count("received", o) for o in ("accepted", "duplicate")]
    offered = crm_count("processed", "offered")
    for _ in range(3):
        answer = await server.webhook(deal_won_body())
        assert answer.status_code == 202 and answer.json() == {"accepted": "msg_1"}
    assert len(stored(engine)) == 1
    assert await server.sweep() == ["crm webhook msg_1: offered"]
    after = [crm_count("received", o) for o in ("accepted", "duplicate")]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 2]
    assert crm_count("processed", "offered") == offered + 1
    [dm] = dms(server.slack, "USALES")
    assert "$48,000.00" in all_text(dm) and "Pro plan, SSO add-on" in all_text(dm)


async def test_a_rotated_secret_still_verifies_among_several_signatures(
    server: CrmServer, engine: Engine
) -> None:
    answer = await server.webhook(deal_won_body(), extra=("v1,b2xkIHNpZ25hdHVyZQ==",))
    assert answer.status_code == 202


@pytest.mark.parametrize(
    "forgery", ["unsigned", "wrong key", "stale", "future", "tampered", "v2 only"]
)
async def test_forged_generic_webhooks_get_401_and_store_nothing(
    server: CrmServer, engine: Engine, forgery: str
) -> None:
    raw = as_json(deal_won_body())
    stamp = int(NOW.timestamp()) + {"stale": -301, "future": 120}.get(forgery, 0)
    key = b"another key" if forgery == "wrong key" else WEBHOOK_KEY
    headers = webhook_headers("msg_9", stamp, raw, key)
    if forgery == "unsigned":
        headers = {"Content-Type": "application/json"}
    if forgery == "tampered":
        raw = raw.replace(b"48000", b"99999")
    if forgery == "v2 only":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    answer = await server.http.post(f"{server.url}/crm/events", content=raw, headers=headers)
    assert answer.status_code == 401
    assert stored(engine) == []


async def test_a_bad_generic_body_gets_422_with_each_fields_error(
    server: CrmServer, engine: Engine
) -> None:
    body = deal_won_body(
        deal={
            "id": "",
            "name": "x" * 201,
            "amount": -5,
            "owner_email": "<!channel>",
            "close_date": "12/01",
        },
        contacts=[{"name": "🎉", "email": "not an email"}],
    )
    answer = await server.webhook(body)
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert set(errors) == {
        "deal.id",
        "deal.name",
        "deal.amount",
        "deal.owner_email",
        "deal.close_date",
        "contacts.0.email",
    }
    assert (await server.webhook({"type": "deal.lost"}, "msg_3")).status_code == 422
    assert (await server.webhook(b"{oops", "msg_4")).status_code == 400
    assert stored(engine) == []


# ---- Salesforce ------------------------------------------------------------------------------


async def test_a_salesforce_outbound_message_is_acknowledged_and_starts_one_handoff_offer(
    server: CrmServer, engine: Engine
) -> None:
    message = outbound_message([("04l5g00000AAA1AAA", won_opportunity())])
    for _ in range(2):
        answer = await server.salesforce(message)
        assert answer.status_code == 200 and "<Ack>true</Ack>" in answer.text
        assert answer.headers["Content-Type"].startswith("text/xml")
    assert len(stored(engine)) == 1
    assert await server.sweep() == ["crm salesforce 04l5g00000AAA1AAA: offered"]
    [dm] = dms(server.slack, "USALES")
    assert "イニトロード株式会社" in all_text(dm)
    view = await open_prefilled_form(server, dm)
    assert initial(view)["plan"] == "Enterprise, Support"
    with Session(engine) as session:
        assert session.exec(select(Account)).one().external_id == "0015g00000XyZabAAB"


async def test_a_salesforce_opportunity_that_is_not_won_sends_nothing(server: CrmServer) -> None:
    message = outbound_message([("04l5g00000AAA2AAA", won_opportunity(IsWon="false"))])
    assert (await server.salesforce(message)).status_code == 200
    assert await server.sweep() == ["crm salesforce 04l5g00000AAA2AAA: not_won"]
    assert dms(server.slack, "USALES") == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (outbound_message([("04l1", won_opportunity())], org_id="00D000000000001"), 401),
        (
            outbound_message(
                [("04l1", won_opportunity())], prolog='<!DOCTYPE x [<!ENTITY a "aaaa">]>'
            ),
            400,
        ),
        (
            outbound_message([("04l1", won_opportunity(Name="&a;"))]).replace(b"&amp;a;", b"&a;"),
            400,
        ),
        (b"<notifications><unclosed>", 400),
        (outbound_message([]), 400),
    ],
    ids=["another org", "dtd", "entity", "malformed", "empty"],
)
async def test_bad_salesforce_messages_are_refused_and_store_nothing(
    server: CrmServer, engine: Engine, body: bytes, status: int
) -> None:
    answer = await server.salesforce(body)
    assert answer.status_code == status, answer.text
    assert stored(engine) == []


# ---- message shortcuts -----------------------------------------------------------------------


def message_action_body(callback_id: str, text: str, trigger_id: str, response_url: str) -> str:
    import json
    from urllib.parse import urlencode

    payload = {
        "type": "message_action",
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "response_url": response_url,
        "team": {"id": "T0001", "domain": "test"},
        "channel": {"id": "C0SALES", "name": "sales"},
        "user": {"id": "UCS", "name": "aiko"},
        "message_ts": "1764900000.000200",
        "message": {"type": "message", "user": "USALES", "ts": "1764900000.000200", "text": text},
        "token": "verification-token",
        "action_ts": "1764900001.000000",
    }
    return urlencode({"payload": json.dumps(payload)})


@pytest.mark.parametrize(
    ("callback_id", "form", "field"),
    [("message.record_promise", "promise.add", "text"), ("message.log_touch", "touch.log", "note")],
)
async def test_message_shortcuts_open_their_form_with_the_text_and_a_link(
    server: CrmServer, engine: Engine, callback_id: str, form: str, field: str
) -> None:
    typed = "We will send the SSO guide &lt;!channel&gt; by Friday 🎉"
    body = message_action_body(
        callback_id, typed, f"t-{callback_id}", server.slack.new_response_url()
    )
    assert (await server.post(body)).status_code == 200
    opened = await server.slack.await_for(
        "views.open", predicate=lambda b: b.get("trigger_id") == f"t-{callback_id}"
    )
    view = opened[0]["view"]
    assert view["callback_id"] == form
    prefilled = initial(view)[field]
    assert "We will send the SSO guide <!channel> by Friday 🎉" in prefilled
    assert "https://test.slack.com/archives/C0SALES/p1764900000000200" in prefilled
    assert prefilled.startswith("We will")
    assert "account" in initial(view)  # left to pick
    assert rows(engine, OutboxMessage) == 0


async def test_a_saved_shortcut_touch_keeps_the_link(server: CrmServer, engine: Engine) -> None:
    with Session(engine) as session:
        from storage.accounts import fold_name

        session.add(
            Account(name="ACME", name_key=fold_name("ACME"), created_at=NOW, updated_at=NOW)
        )
        session.commit()
    body = message_action_body(
        "message.log_touch", "Called Hanako", "t-save", server.slack.new_response_url()
    )
    assert (await server.post(body)).status_code == 200
    view = (
        await server.slack.await_for(
            "views.open", predicate=lambda b: b.get("trigger_id") == "t-save"
        )
    )[0]["view"]
    answers = {**initial(view), "account": "ACME"}
    assert await submit(server, view, answers, user_id="UCS") == {}
    from storage.touches import Touch

    with Session(engine) as session:
        assert "/archives/C0SALES/p1764900000000200" in session.exec(select(Touch)).one().note


def test_the_manifest_declares_the_message_shortcuts_the_app_answers() -> None:
    manifest = yaml.safe_load((Path(__file__).parent.parent / "manifest.yml").read_text())
    shortcuts = manifest["features"]["shortcuts"]
    assert {s["callback_id"] for s in shortcuts} == set(MESSAGE_SHORTCUTS)
    assert all(s["type"] == "message" and len(s["name"]) <= 24 for s in shortcuts)
    assert "users:read.email" in manifest["oauth_config"]["scopes"]["bot"]  # owners by email
