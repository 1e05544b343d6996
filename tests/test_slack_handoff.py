"""/handoff end to end: signed requests into the real Bolt app, the delivery engine sending the
outbox to the fake Slack Web API, and what reached it (PRODUCT §5, issue "Done when")."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.delivery import SlackTransport, slack_client
from bot.runtime import Runtime
from bot.settings import Settings
from commands.context import SystemClock
from jobs.delivery import Delivery, unpaced
from storage.accounts import Account
from storage.handoffs import Handoff
from testkit.fake_slack import FakeSlack
from testkit.signing import block_actions_body, slash_command_body, view_submission_body
from tests.conftest import NOW, SlackServer, make_settings
from tests.handoff_data import CHANNEL, HOSTILE, counts, form_values

JSON = dict[str, Any]


@pytest.fixture
def settings(database_url: str, slack: FakeSlack) -> Settings:
    return make_settings(database_url, slack.api_url, KAKEHASHI_HANDOFF_CHANNEL=CHANNEL)


@pytest.fixture
def delivering(runtime: Runtime, settings: Settings, engine: Engine) -> Iterator[None]:
    """The outbox is delivered right after each request, in a thread of its own, as `kakehashi
    run` does (so a form is acknowledged before its DMs go out); unpaced."""
    delivery = Delivery(
        engine=engine,
        transport=SlackTransport(slack_client(settings)),
        clock=SystemClock(),
        pacer=unpaced(),
    )
    sweeps: list[threading.Thread] = []

    def kick() -> None:
        sweeps.append(threading.Thread(target=delivery.sweep, args=(runtime.clock.now(),)))
        sweeps[-1].start()

    runtime.on_outbox = kick
    yield
    for sweep in sweeps:
        sweep.join(timeout=10)


async def open_form(server: SlackServer, text: str, user_id: str = "USALES") -> JSON:
    trigger = f"trigger-{len(server.slack.calls)}"
    body = slash_command_body(
        "/handoff", text, user_id, trigger_id=trigger, response_url=server.slack.new_response_url()
    )
    assert (await server.post(body)).status_code == 200
    opened = await server.slack.await_for(
        "views.open", predicate=lambda b: b.get("trigger_id") == trigger
    )
    view: JSON = opened[0]["view"]
    return view


def state(view: JSON, answers: dict[str, str | None]) -> dict[str, dict[str, JSON]]:
    """`view.state.values` as Slack sends it for these answers, element by element."""
    values: dict[str, dict[str, JSON]] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        kind, answer = block["element"]["type"], answers.get(block["block_id"])
        element: JSON = {"type": kind}
        if kind == "users_select":
            element["selected_user"] = answer
        elif kind == "datepicker":
            element["selected_date"] = answer
        elif kind == "static_select":
            element["selected_option"] = {"value": answer} if answer else None
        else:
            element["value"] = answer
        values[block["block_id"]] = {"value": element}
    return values


async def submit(
    server: SlackServer, view: JSON, answers: dict[str, str | None], user_id: str = "USALES"
) -> JSON:
    body = view_submission_body(
        user_id,
        view["callback_id"],
        state(view, answers),
        private_metadata=view["private_metadata"],
    )
    response = await server.post(body)
    assert response.status_code == 200, response.text
    return response.json() if response.text else {}


async def press(
    server: SlackServer, user_id: str, action_id: str, value: str, channel_id: str = "C0001"
) -> JSON:
    url = server.slack.new_response_url()
    body = block_actions_body(user_id, action_id, value, channel_id=channel_id, response_url=url)
    assert (await server.post(body)).status_code == 200
    return await server.reply_to(url)


async def posted_to(slack: FakeSlack, channel: str, containing: str = "") -> JSON:
    """The message posted there whose text contains `containing`, once it has been delivered."""
    found = await slack.await_for(
        "chat.postMessage",
        predicate=lambda b: b["channel"] == channel and containing in b.get("text", ""),
    )
    return found[0]


def all_text(message: JSON) -> str:
    return json.dumps(message, ensure_ascii=False)


def buttons(message: JSON) -> list[tuple[str, str]]:
    return [
        (e["action_id"], e.get("value", ""))
        for b in message.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
    ]


async def test_handoff_end_to_end(server: SlackServer, engine: Engine, delivering: None) -> None:
    view = await open_form(server, "Initech <@UCS|aiko>")
    assert view["callback_id"] == "handoff_form"
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["account"]["element"]["initial_value"] == "Initech"
    assert blocks["cs_owner"]["element"]["initial_user"] == "UCS"
    assert blocks["currency"]["element"]["initial_option"]["value"] == "USD"  # kenji is en-US

    assert await submit(server, view, form_values()) == {}  # closed: saved
    slack = server.slack
    dm = await posted_to(slack, "UCS")
    assert buttons(dm) == [("handoff_accept", "1:card"), ("handoff_ask", "1")]
    assert "引き継ぎ: Initech K.K." in all_text(dm)
    announcement = await posted_to(slack, CHANNEL)
    assert "New handoff H-1" in announcement["text"]
    assert "· ¥1,200,000 a year ·" in announcement["text"]
    # A channel's readers may be anywhere: its times carry the zone (KAKEHASHI_TIMEZONE).
    assert re.search(r"[0-9]:[0-9]{2} [AP]M \(UTC\)", all_text(announcement))
    confirmation = await posted_to(slack, "USALES")
    assert "You handed *Initech K.K.* to <@UCS>" in all_text(confirmation)

    # A click by another CS rep is refused and changes nothing.
    before = counts(engine)
    refused = await press(server, "UCS2", "handoff_accept", "1:card", channel_id="DUCS2")
    assert refused["response_type"] == "ephemeral"
    assert "Only the handoff's CS owner or a manager can accept it" in all_text(refused)
    assert counts(engine) == before

    # The CS owner's click on the card updates it in place and tells the rep.
    accepted = await press(server, "UCS", "handoff_accept", "1:card", channel_id="DUCS")
    assert accepted["replace_original"] is True and buttons(accepted) == []
    assert "✅ <@UCS> さんが" in all_text(accepted)
    with Session(engine) as session:
        assert session.exec(select(Handoff)).one().status == "accepted"
    await posted_to(slack, "USALES", "<@UCS> accepted your handoff of *Initech K.K.* (H-1)")
    updated = await slack.await_for("chat.update", predicate=lambda b: b["channel"] == CHANNEL)
    assert "Accepted by <@UCS>" in all_text(updated[0])

    # Clicking again changes nothing and says why.
    again = await press(server, "UCS", "handoff_accept", "1:card", channel_id="DUCS")
    assert "引き受け済み" in all_text(again) and again.get("replace_original") is False
    assert slack.rejections == []


async def test_a_handoff_without_a_value_says_so_and_amounts_read_as_typed(
    server: SlackServer, engine: Engine, delivering: None
) -> None:
    view = await open_form(server, "Initech <@UCS|aiko>")
    assert view["blocks"][4]["element"]["type"] == "plain_text_input"  # `$5,000` may be typed
    assert await submit(server, view, form_values(amount=None)) == {}
    announcement = await posted_to(server.slack, CHANNEL)
    assert "· no contract value recorded ·" in announcement["text"]
    assert "— a year" not in announcement["text"]
    view = await open_form(server, "Globex <@UCS|aiko>")
    answer = await submit(server, view, form_values(account="Globex", amount="$5,000"))
    assert "“$5,000” is in USD, but the currency is JPY" in answer["errors"]["amount"]
    answer = await submit(
        server, view, form_values(account="Globex", amount="$5,000", currency="USD")
    )
    assert answer == {}
    with Session(engine) as session:
        globex = session.exec(select(Account).where(Account.name == "Globex")).one()
        assert (globex.arr, globex.currency) == (5000, "USD")


async def test_validation_errors_come_back_on_the_fields(
    server: SlackServer, engine: Engine
) -> None:
    view = await open_form(server, "")
    before = counts(engine)
    answer = await submit(
        server,
        view,
        form_values(
            account=None,
            cs_owner="UBOTUSER",
            renewal_date="2026-11-01",
            contacts="Tanaka Yuki, CTO",
            promises="Training by 2025-01-01",
        ),
    )
    assert answer["response_action"] == "errors"
    errors = answer["errors"]
    assert set(errors) == {"account", "cs_owner", "renewal_date", "contacts", "promises"}
    assert "Line 1 “Tanaka Yuki, CTO”" in errors["contacts"]
    assert "2025-01-01 is in the past" in errors["promises"]
    assert counts(engine) == before
    assert server.slack.calls_to("chat.postMessage") == []


async def test_a_pending_account_is_refused_before_the_form_opens(
    server: SlackServer, engine: Engine, delivering: None
) -> None:
    view = await open_form(server, "")
    assert await submit(server, view, form_values()) == {}
    url = server.slack.new_response_url()
    body = slash_command_body("/handoff", "initech", "UCS2", response_url=url)
    assert (await server.post(body)).status_code == 200
    reply = await server.reply_to(url)
    assert "already has a pending handoff, H-1 to <@UCS>" in all_text(reply)
    assert len(server.slack.calls_to("views.open")) == 1


async def test_question_and_reply_round_trip(
    server: SlackServer, engine: Engine, delivering: None
) -> None:
    view = await open_form(server, "")
    await submit(server, view, form_values(account="Globex"))
    slack = server.slack

    body = block_actions_body(
        "UCS",
        "handoff_ask",
        "1",
        channel_id="DUCS",
        trigger_id="ask-1",
        response_url=slack.new_response_url(),
    )
    assert (await server.post(body)).status_code == 200
    ask = (await slack.await_for("views.open", predicate=lambda b: b["trigger_id"] == "ask-1"))[0][
        "view"
    ]
    assert ask["callback_id"] == "handoff_question"
    assert await submit(server, ask, {"text": f"Who signs the PO? {HOSTILE}"}, "UCS") == {}

    question = await posted_to(
        slack, "USALES", "<@UCS> has a question about your handoff of *Globex* (H-1)"
    )
    assert buttons(question) == [("handoff_reply", "1")]
    assert "&lt;!channel&gt;" in all_text(question) and "<!channel>" not in all_text(question)

    body = block_actions_body(
        "USALES",
        "handoff_reply",
        "1",
        channel_id="DUSALES",
        trigger_id="reply-1",
        response_url=slack.new_response_url(),
    )
    assert (await server.post(body)).status_code == 200
    reply_view = (
        await slack.await_for("views.open", predicate=lambda b: b["trigger_id"] == "reply-1")
    )[0]["view"]
    assert "Who signs the PO?" in all_text(reply_view)
    assert await submit(server, reply_view, {"text": "Tanaka-san, the CTO."}) == {}

    answer = await posted_to(
        slack, "UCS", "<@USALES> さんが、*Globex*(H-1)についての質問に回答しました"
    )
    assert "Tanaka-san, the CTO." in all_text(answer)
    assert slack.rejections == []


def test_a_slack_failure_after_the_save_loses_nothing_and_sends_nothing_twice(
    runtime: Runtime, settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    slack.fail_next("chat.postMessage", status=500, times=3)
    assert runtime.submit("USALES", "handoff_form", form_values(), "", "C0001").errors == {}
    delivery = Delivery(
        engine=engine,
        transport=SlackTransport(slack_client(settings)),
        clock=SystemClock(),
        pacer=unpaced(),
    )
    assert delivery.sweep(NOW) == []  # Slack is down: nothing lands, nothing is lost
    with Session(engine) as session:
        assert session.exec(select(Handoff)).one().status == "pending"
    assert slack.messages("UCS") == []
    delivered = delivery.sweep(NOW + timedelta(minutes=5))  # after the backoff
    assert len(delivered) == 3
    assert delivery.sweep(NOW + timedelta(hours=2)) == []
    for channel in ("UCS", CHANNEL, "USALES"):
        assert len(slack.messages(channel)) == 1, channel
    assert buttons(slack.messages("UCS")[0]) == [("handoff_accept", "1:card"), ("handoff_ask", "1")]


async def test_a_cs_owner_that_is_not_a_person_is_refused_without_asking_slack(
    server: SlackServer, engine: Engine
) -> None:
    """The directory says a channel id names no person: Slack is not asked, nothing is saved."""
    view = await open_form(server, "")
    before = counts(engine)
    asked = len(server.slack.calls_to("users.info"))
    answer = await submit(server, view, form_values(account="Initech", cs_owner="C0SALES"))
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"cs_owner"}
    assert counts(engine) == before
    assert len(server.slack.calls_to("users.info")) == asked
