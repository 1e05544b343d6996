"""The core is neutral: on a second platform whose ids, text and limits are nothing like Slack's
(tests/second_platform.py), the story of a customer runs through the real wiring
(`bot.runtime.open_runtime`), the real sweeps (`bot.jobs_main.run_due`: reminders, agendas,
delivery) and an injected clock: a handoff (form, submission, the CS owner's card, Accept), a
promise, a reminder DM pressed Done and Snooze, and a weekly agenda in a channel."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.jobs_main import agendas_from, reminders_of, run_due
from bot.reminder_jobs import recompose
from bot.runtime import Runtime, open_runtime
from commands import ui
from commands.context import FixedClock
from commands.markup import mention
from jobs.delivery import Delivery, failed_messages, unpaced
from storage.handoffs import Handoff
from storage.outbox import OutboxMessage
from storage.people import Person
from storage.promises import Promise
from storage.reminders import Reminder
from tests.conftest import make_settings
from tests.handoff_data import form_values
from tests.second_platform import PLATFORM, LoomDirectory, LoomTransport, Posted

MIKA = "entra:6f1c0d2e-4b8a-4f7c-9e3d-2a1b0c9d8e7f"
KENJI = "entra:0b7e4c1a-93d2-4e55-8f01-6c2d9a7b3e10"
AIKO = "entra:c4a9e2f7-1d3b-4a6c-b8e0-57f2d1c6a9b4"
HANDOFFS = "19:9f3c2a7e41d04b6f8e2d1c0b7a6f5e4d@thread.tacv2"
SALES_FLOOR = "19:4a1be6d2c3f94e0a9b8c7d6e5f4a3b2c@thread.tacv2"
TYPED = "*not bold* <!channel> [b]x[/b] & ＡＣＭＥ 🎉"
START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # a Monday, 10:00 in Tokyo


@pytest.fixture
def loom() -> LoomDirectory:
    directory = LoomDirectory()
    directory.add_person(MIKA, "mika", "Asia/Tokyo", "en-US")
    directory.add_person(KENJI, "kenji", "Asia/Tokyo", "en-US")
    directory.add_person(AIKO, "aiko", "Asia/Tokyo", "ja-JP")
    directory.add_channel(HANDOFFS)
    directory.add_channel(SALES_FLOOR)
    return directory


@pytest.fixture
def story(
    database_url: str, loom: LoomDirectory
) -> tuple[Runtime, Delivery, LoomTransport, FixedClock]:
    settings = make_settings(database_url).model_copy(
        update={"managers": (MIKA,), "handoff_channel": HANDOFFS}
    )
    clock = FixedClock(START)
    runtime = open_runtime(settings, lambda _engine: loom, clock, room=loom.room())
    transport = LoomTransport(loom)
    delivery = Delivery(
        engine=runtime.engine,
        transport=transport,
        clock=clock,
        pacer=unpaced(),
        recompose=recompose(settings, runtime.engine),
    )
    return runtime, delivery, transport, clock


def tick(runtime: Runtime, delivery: Delivery, clock: FixedClock, at: str) -> None:
    """The scheduler's sweeps at `at` (reminders, agendas, delivery), as `kakehashi run` ticks."""
    clock.at = datetime.fromisoformat(at).astimezone(UTC)
    run_due(runtime, delivery, clock.at, out=StringIO())


def chat(loom: LoomDirectory, user_id: str) -> str:
    return str(loom.open_direct(user_id).delivery_ref["conversation"])  # type: ignore[index]


def button(buttons: tuple[ui.Button, ...], action_id: str) -> ui.Button:
    return next(b for b in buttons if b.action_id == action_id)


def next_dm(
    runtime: Runtime,
    delivery: Delivery,
    transport: LoomTransport,
    clock: FixedClock,
    at: str,
    conversation: str,
) -> Posted:
    """The one message the sweeps at `at` post to `conversation`."""
    before = len(transport.posted)
    tick(runtime, delivery, clock, at)
    [posted] = [p for p in transport.posted[before:] if p.conversation == conversation]
    return posted


def buttons_of(message: ui.Message) -> tuple[ui.Button, ...]:
    return tuple(
        b for block in message.blocks if isinstance(block, ui.Actions) for b in block.buttons
    )


def shown(outcome: ui.Outcome, loom: LoomDirectory) -> str:
    message = outcome.replace_original or outcome.reply
    assert message is not None
    render = loom.renderer()
    return "\n".join(
        render(b.text) for b in message.blocks if isinstance(b, ui.Section | ui.Note | ui.Header)
    )


def test_a_customers_story_runs_on_a_platform_that_is_not_slack(
    story: tuple[Runtime, Delivery, LoomTransport, FixedClock], loom: LoomDirectory
) -> None:
    runtime, delivery, transport, clock = story
    engine: Engine = runtime.engine
    # The jobs compose within this platform's room, as the wiring gives it to them.
    assert reminders_of(runtime).max_items == (loom.room().blocks - 2) // 2 == 11
    assert agendas_from(runtime).room == runtime.room

    # kenji hands Initech to aiko: the command opens the form, prefilled from his mention.
    opened = runtime.run_command(KENJI, "handoff", "Initech K.K. " + mention(AIKO), SALES_FLOOR)
    assert opened.form is not None
    assert {f.id: f.initial for f in opened.form.fields}["cs_owner"] == AIKO
    values = form_values(cs_owner=AIKO, problems=TYPED, risks="競合が多い。" * 500)
    submitted = runtime.submit(
        KENJI, opened.form.callback_id, values, opened.form.metadata, SALES_FLOOR
    )
    assert submitted.errors == {}
    tick(runtime, delivery, clock, "2026-11-23T10:00+09:00")
    card = next(p for p in transport.posted if p.conversation == chat(loom, AIKO))
    card_text = "\n".join(card.texts)
    assert "[at]kenji[/at]" in card_text and "[at]aiko[/at]" in card_text
    assert "*not bold* &lt;!channel&gt; &#91;b&#93;x&#91;/b&#93; &amp; ＡＣＭＥ 🎉" in card_text
    assert "<@" not in card_text and "entra:" not in card_text
    assert "競合が多い。…" in card_text  # clipped to the platform's room (else it is refused)
    assert "[at]kenji[/at]" in transport.text(HANDOFFS)  # the channel's announcement
    assert transport.text(chat(loom, KENJI))  # kenji's confirmation
    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage)).all()
        assert {r.platform for r in rows} == {PLATFORM}
        assert {p.platform for p in session.exec(select(Person)).all()} == {PLATFORM}

    # aiko presses Accept on her card: the card is redrawn, kenji is told.
    accept = button(card.buttons, "handoff_accept")
    accepted = runtime.press(AIKO, accept.action_id, accept.value, chat(loom, AIKO))
    assert "[at]aiko[/at]" in shown(accepted, loom)
    tick(runtime, delivery, clock, "2026-11-23T10:05+09:00")
    with Session(engine) as session:
        assert session.exec(select(Handoff)).one().status == "accepted"
    assert "[at]aiko[/at]" in transport.posted[-1].texts[0]
    assert transport.posted[-1].conversation == chat(loom, KENJI)

    # aiko records a promise due on Wednesday.
    promised = runtime.run_command(
        AIKO, "promise", "Initech K.K.: SSO guide by 2026-11-25", chat(loom, AIKO)
    )
    assert "SSO guide" in shown(promised, loom)
    with Session(engine) as session:
        promise = session.exec(select(Promise).where(Promise.text == "SSO guide")).one()

    # Its reminder comes due in aiko's working hours, the day after; she marks it done.
    dm = next_dm(runtime, delivery, transport, clock, "2026-11-26T09:05+09:00", chat(loom, AIKO))
    assert "SSO guide" in "\n".join(dm.texts)
    done = button(dm.buttons, "reminders.done")
    pressed = runtime.press(AIKO, done.action_id, done.value, chat(loom, AIKO))
    assert "[at]aiko[/at]" in shown(pressed, loom)
    with Session(engine) as session:
        reminder = session.exec(select(Reminder).where(Reminder.promise_id == promise.id)).one()
        assert reminder.status == "done"

    # A week after the handoff, her check-in reminder: she snoozes it to tomorrow, when it
    # comes back.
    dm = next_dm(runtime, delivery, transport, clock, "2026-11-30T09:00+09:00", chat(loom, AIKO))
    snooze = button(dm.buttons, "reminders.snooze")
    choices = runtime.press(AIKO, snooze.action_id, snooze.value, chat(loom, AIKO))
    assert choices.replace_original is not None
    later = button(buttons_of(choices.replace_original), "reminders.snooze.tomorrow")
    snoozed = runtime.press(AIKO, later.action_id, later.value, chat(loom, AIKO))
    assert "2026年12月1日 9:00" in shown(snoozed, loom)
    again = next_dm(runtime, delivery, transport, clock, "2026-12-01T09:00+09:00", chat(loom, AIKO))
    assert "7日目のチェックイン" in "\n".join(again.texts) and "reminders.done" in {
        b.action_id for b in again.buttons
    }

    # mika subscribes the sales floor to a weekly agenda; it is posted on Monday at 9:00.
    subscribed = runtime.run_command(MIKA, "sync", "weekly mon 09:00 Asia/Tokyo", SALES_FLOOR)
    assert "Asia/Tokyo" in shown(subscribed, loom) or "9:00" in shown(subscribed, loom)
    tick(runtime, delivery, clock, "2026-12-07T09:00+09:00")
    [agenda] = [p for p in transport.posted if p.conversation == SALES_FLOOR]
    assert agenda.key == f"agenda:{SALES_FLOOR}:2026-12-07"
    agenda_text = "\n".join(agenda.texts)
    assert "SSO guide · [at]aiko[/at] · due Nov 25, 2026 (12 days overdue)" in agenda_text
    assert "[at]aiko[/at]" in agenda_text and "entra:" not in agenda_text
    with Session(engine) as session:
        assert failed_messages(session=session) == []
