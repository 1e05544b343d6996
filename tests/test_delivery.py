"""The delivery engine (PRODUCT §10) against the fake Slack Web API: every outbox row reaches
Slack exactly once through 429s, 500s, lost responses, crashes and concurrent senders; permanent
refusals are recorded with their reason."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.delivery import SlackTransport, slack_client
from commands.markup import mention
from commands.ui import Actions, Button, Message, Section, message_to_json
from jobs.delivery import (
    DELIVERY_EVENT,
    Delivery,
    Landed,
    Pacer,
    TransientError,
    expire_claims,
    this_process,
)
from storage.db import session_scope
from storage.outbox import OutboxMessage, OutboxStatus, enqueue
from testkit.fake_slack import FakeSlack
from tests.conftest import NOW, make_settings


class FakeTime:
    """The wall clock and the pacer's sleep: sleeping moves the clock, nothing waits."""

    def __init__(self, start: datetime = NOW) -> None:
        self.at = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return (self.at - NOW).total_seconds()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.at += timedelta(seconds=seconds)

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


@pytest.fixture
def wall() -> FakeTime:
    return FakeTime()


def make_delivery(engine: Engine, slack: FakeSlack, wall: FakeTime, **extra: object) -> Delivery:
    settings = make_settings("sqlite://", slack.api_url)
    transport = extra.pop("transport", None) or SlackTransport(slack_client(settings))
    pacer = Pacer(monotonic=wall.monotonic, sleep=wall.sleep)
    return Delivery(
        engine=engine,
        transport=transport,
        clock=wall,
        pacer=pacer,  # type: ignore[arg-type]
        **extra,
    )  # type: ignore[arg-type]


def message(text: str, *, buttons: bool = False) -> Message:
    blocks: tuple[Section | Actions, ...] = (Section(text),)
    if buttons:
        blocks += (Actions((Button("Done", "reminder.done", "1"),)),)
    return Message(text=text, blocks=blocks)


def put(
    engine: Engine,
    key: str,
    recipient: str,
    text: str = "hello",
    *,
    kind: str = "test",
    at: datetime = NOW,
    update_of: str | None = None,
) -> None:
    with session_scope(engine) as session:
        enqueue(
            session=session,
            key=key,
            kind=kind,
            recipient=recipient,
            payload=message_to_json(message(text)),
            at=at,
            update_of=update_of,
        )


def rows(engine: Engine) -> dict[str, OutboxMessage]:
    with Session(engine) as session:
        return {r.key: r for r in session.exec(select(OutboxMessage)).all()}


def delivered_keys(slack: FakeSlack, channels: list[str]) -> Counter[str]:
    """Every message stored by the fake in these conversations, counted by its delivery key."""
    keys: Counter[str] = Counter()
    for channel in channels:
        for m in slack.messages(channel):
            metadata = m.get("metadata") or {}
            assert metadata.get("event_type") == DELIVERY_EVENT
            keys[metadata["event_payload"]["key"]] += 1
    return keys


def sweep_until_done(
    delivery: Delivery, engine: Engine, wall: FakeTime, limit: int = 60
) -> list[str]:
    lines: list[str] = []
    for _ in range(limit):
        lines += delivery.sweep(wall.now())
        if all(r.status != OutboxStatus.PENDING for r in rows(engine).values()):
            return lines
        wall.advance(hours=1)
    raise AssertionError(f"still pending after {limit} sweeps: {rows(engine)}")


def test_a_due_message_is_posted_once_with_its_key_and_a_second_sweep_sends_nothing(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    put(engine, "reminder:1", "UCS", "Call " + mention("UCS2") + " about P-1")
    put(engine, "later", "UCS", at=NOW + timedelta(hours=1))
    delivery = make_delivery(engine, slack, wall)

    lines = delivery.sweep(NOW)

    assert lines == ["test reminder:1 → UCS"]
    posted = slack.calls_to("chat.postMessage")
    assert len(posted) == 1
    assert posted[0]["channel"] == "UCS"
    assert posted[0]["metadata"] == {
        "event_type": DELIVERY_EVENT,
        "event_payload": {"key": "reminder:1"},
    }
    assert slack.messages("UCS")[0]["blocks"][0]["text"]["text"] == "Call <@UCS2> about P-1"
    row = rows(engine)["reminder:1"]
    assert (row.status, row.channel, row.ts, row.sent_at) == (
        "sent",
        "DUCS",
        slack.messages("UCS")[0]["ts"],
        NOW,
    )
    assert rows(engine)["later"].status == "pending"
    assert delivery.sweep(NOW) == []
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert slack.rejections == []


def test_429_with_retry_after_and_random_500s_deliver_every_message_exactly_once(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    users = [f"U{i:03d}" for i in range(40)]
    for i, user in enumerate(users):
        put(engine, f"k{i}", user, f"message {i}")
    slack.fail_next("chat.postMessage", status=429, retry_after=7, times=3)
    slack.random_500("*", rate=0.3, seed=5)
    delivery = make_delivery(engine, slack, wall)

    lines = sweep_until_done(delivery, engine, wall)

    assert sorted(lines) == sorted(f"test k{i} → {u}" for i, u in enumerate(users))
    assert delivered_keys(slack, users) == Counter({f"k{i}": 1 for i in range(40)})
    assert all(r.status == "sent" for r in rows(engine).values())
    statuses = Counter(c.status for c in slack.calls if c.method == "chat.postMessage")
    assert statuses[429] == 3 and statuses[500] > 0  # the faults really happened
    assert max(wall.slept) > 6.9  # the sender paused as long as Retry-After asked (7 s)
    assert slack.rejections == []


class LostResponses:
    """Slack performs the post but the answer never arrives (a timeout after the fact)."""

    def __init__(self, inner: SlackTransport, rate: float, seed: int = 3) -> None:
        self.inner = inner
        self.rng = random.Random(seed)
        self.rate = rate
        self.lost = 0

    def post(self, recipient: str, message: Message, key: str) -> Landed:
        landed = self.inner.post(recipient, message, key)
        if self.rng.random() < self.rate:
            self.lost += 1
            raise TransientError("chat.postMessage: TimeoutError")
        return landed

    def update(self, channel: str, ts: str, message: Message) -> None:
        self.inner.update(channel, ts, message)

    def find_sent(self, recipient: str, key: str) -> Landed | None:
        return self.inner.find_sent(recipient, key)


def test_a_post_that_landed_before_its_answer_was_lost_is_not_sent_again(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    users = [f"U{i:03d}" for i in range(30)]
    for i, user in enumerate(users):
        put(engine, f"k{i}", user)
    settings = make_settings("sqlite://", slack.api_url)
    lossy = LostResponses(SlackTransport(slack_client(settings)), rate=0.4)
    slack.random_500("conversations.history", rate=0.2)
    delivery = make_delivery(engine, slack, wall, transport=lossy)

    sweep_until_done(delivery, engine, wall)

    assert lossy.lost > 5
    assert delivered_keys(slack, users) == Counter({f"k{i}": 1 for i in range(30)})
    history = slack.calls_to("conversations.history")
    assert history and all(h["include_all_metadata"] in ("1", 1, True) for h in history)


def test_a_crash_between_post_and_record_is_recovered_from_slack_history(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    put(engine, "k1", "UCS")
    settings = make_settings("sqlite://", slack.api_url)
    # A process claimed the row, posted it, and died before writing down that it had.
    landed = SlackTransport(slack_client(settings)).post("UCS", message("hello"), "k1")
    with session_scope(engine) as session:
        session.execute(update(OutboxMessage).values(claimed_until=NOW + timedelta(seconds=60)))
    delivery = make_delivery(engine, slack, wall)

    assert delivery.sweep(NOW) == []  # still claimed by the dead process
    wall.advance(seconds=61)
    lines = delivery.sweep(wall.now())

    assert lines == ["test k1 → UCS (found already delivered)"]
    assert len(slack.calls_to("chat.postMessage")) == 1
    row = rows(engine)["k1"]
    assert (row.status, row.channel, row.ts) == ("sent", landed.channel, landed.ts)


def test_start_up_on_sqlite_ends_only_the_claims_of_processes_that_are_gone(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    put(engine, "k1", "UCS")
    put(engine, "k2", "USALES")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    live = f"{this_process().rpartition(':')[0]}:{os.getppid()}"  # e.g. a `jobs run-due`
    with session_scope(engine) as session:
        for key, holder in (
            ("k1", f"{this_process().rpartition(':')[0]}:{gone.pid}"),
            ("k2", live),
        ):
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.key) == key)
                .values(claimed_until=NOW + timedelta(seconds=60), claimed_by=holder)
            )

    assert expire_claims(engine=engine, now=NOW) == 1
    lines = make_delivery(engine, slack, wall).sweep(NOW)

    assert lines == ["test k1 → UCS"]  # k2 waits for its live sender, or its lease to end
    assert len(slack.calls_to("conversations.history")) == 1
    assert delivered_keys(slack, ["UCS", "USALES"]) == Counter({"k1": 1})


@pytest.mark.parametrize(
    ("error", "recipient"),
    [
        ("user_not_found", "UGONE"),
        ("account_inactive", "UGONE"),
        ("cannot_dm_bot", "UBOTUSER"),
        ("channel_not_found", "CGONE"),
        ("is_archived", "COLD"),
        ("not_in_channel", "CNOTIN"),
        ("invalid_blocks", "UCS"),
    ],
)
def test_a_permanent_refusal_is_recorded_with_its_reason_and_not_retried(
    engine: Engine, slack: FakeSlack, wall: FakeTime, error: str, recipient: str
) -> None:
    put(engine, "doomed", recipient)
    put(engine, "fine", "USALES")
    slack.fail_next("chat.postMessage", error=error)
    delivery = make_delivery(engine, slack, wall)

    lines = sweep_until_done(delivery, engine, wall)

    assert lines == ["test fine → USALES"]
    doomed = rows(engine)["doomed"]
    assert (doomed.status, doomed.last_error) == ("failed", error)
    wall.advance(days=2)
    assert delivery.sweep(wall.now()) == []
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_configuration_errors_are_retried_not_given_up_at_once(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    put(engine, "k1", "UCS")
    slack.fail_next("chat.postMessage", error="invalid_auth", times=2)
    delivery = make_delivery(engine, slack, wall)

    assert delivery.sweep(NOW) == []
    row = rows(engine)["k1"]
    assert (row.status, row.last_error) == ("pending", "chat.postMessage: invalid_auth")
    assert sweep_until_done(delivery, engine, wall) == ["test k1 → UCS"]


def test_transient_errors_back_off_and_are_given_up_after_the_last_attempt(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    put(engine, "k1", "UCS")
    slack.fail_next("*", status=503, times=1000)
    delivery = make_delivery(engine, slack, wall, max_attempts=4)

    delivery.sweep(NOW)
    first = rows(engine)["k1"]
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.not_before == NOW + timedelta(seconds=5)
    assert delivery.sweep(NOW + timedelta(seconds=4)) == []  # not before its backoff

    sweep_until_done(delivery, engine, wall)

    row = rows(engine)["k1"]
    assert row.status == "failed"
    assert row.last_error == "gave up after 4 attempts: conversations.open: internal_error"


def test_connection_errors_are_transient(engine: Engine, wall: FakeTime) -> None:
    put(engine, "k1", "UCS")
    settings = make_settings("sqlite://", "http://127.0.0.1:9/api/")  # nothing listens there
    transport = SlackTransport(slack_client(settings))
    with FakeSlack() as unused:
        delivery = make_delivery(engine, unused, wall, transport=transport)
        delivery.sweep(NOW)
    row = rows(engine)["k1"]
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None and row.last_error.startswith("chat.postMessage: ")


def test_an_update_edits_the_sent_message_in_place_after_the_original_is_sent(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    put(engine, "handoff:1", "UCS", "Please accept")
    slack.fail_next("chat.postMessage", status=500)  # the original must wait for a retry
    put(engine, "handoff:1:accepted", "UCS", "Accepted by " + mention("UCS"), update_of="handoff:1")
    delivery = make_delivery(engine, slack, wall)

    assert delivery.sweep(NOW) == []
    assert rows(engine)["handoff:1:accepted"].status == "pending"  # waits for the original

    lines = sweep_until_done(delivery, engine, wall)

    assert lines == ["test handoff:1 → UCS", "test handoff:1:accepted → UCS (updated in place)"]
    [only] = slack.messages("UCS")
    assert only["text"] == "Accepted by <@UCS>" and "edited" in only
    assert slack.calls_to("chat.update")[0]["ts"] == only["ts"]


def test_updates_of_a_failed_message_are_skipped_and_older_updates_give_way_to_newer(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    put(engine, "gone", "UGONE")
    put(engine, "gone:update", "UGONE", update_of="gone")
    put(engine, "card", "UCS", "v1")
    slack.fail_next("chat.postMessage", error="user_not_found")
    delivery = make_delivery(engine, slack, wall)
    delivery.sweep(NOW)
    put(engine, "card:v2", "UCS", "v2", update_of="card")
    put(engine, "card:v3", "UCS", "v3", update_of="card")

    lines = sweep_until_done(delivery, engine, wall)

    assert lines == ["test card:v3 → UCS (updated in place)"]
    state = rows(engine)
    assert state["gone:update"].status == "skipped"
    assert state["gone:update"].last_error == "the message to update (gone) was never sent"
    assert (state["card:v2"].status, state["card:v2"].last_error) == (
        "skipped",
        "replaced by a later update",
    )
    assert slack.messages("UCS")[0]["text"] == "v3"


def test_an_agenda_more_than_a_day_late_is_skipped(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    put(engine, "agenda:C1:2026-W47", "CSALES", kind="agenda", at=NOW - timedelta(days=2))
    put(engine, "reminder:old", "UCS", kind="reminder", at=NOW - timedelta(days=2))

    lines = make_delivery(engine, slack, wall).sweep(NOW)

    assert lines == ["reminder reminder:old → UCS"]  # owed reminders still go after downtime
    agenda = rows(engine)["agenda:C1:2026-W47"]
    assert agenda.status == "skipped" and "late" in (agenda.last_error or "")


def test_messages_to_one_channel_are_paced_about_one_per_second(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    for i in range(4):
        put(engine, f"k{i}", "CSALES", f"post {i}")
    put(engine, "other", "UCS")

    lines = make_delivery(engine, slack, wall).sweep(NOW)

    assert len(lines) == 5
    order = [c["channel"] for c in slack.calls_to("chat.postMessage")]
    assert order == ["CSALES", "UCS"] + ["CSALES"] * 3  # recipients take turns
    assert sum(wall.slept) > 2.9  # three gaps of about a second before posts 2, 3 and 4
    assert [m["text"] for m in slack.messages("CSALES")] == [f"post {i}" for i in range(4)]


def test_two_senders_sharing_the_database_deliver_each_message_once(
    database_url: str, slack: FakeSlack
) -> None:
    from storage.db import make_engine

    engines = [make_engine(database_url) for _ in range(2)]
    users = [f"U{i:03d}" for i in range(60)]
    for i, user in enumerate(users):
        put(engines[0], f"k{i}", user)
    slack.random_500("chat.postMessage", rate=0.1, seed=11)
    settings = make_settings(database_url, slack.api_url)
    senders = [
        Delivery(
            engine=e,
            transport=SlackTransport(slack_client(settings)),
            clock=_RealClock(),
            pacer=Pacer(per_channel=0, per_second=0),
        )
        for e in engines
    ]
    lines: list[list[str]] = [[], []]

    def run(n: int) -> None:
        for hours in range(40):  # each sweep later than the last: past any backoff
            lines[n] += senders[n].sweep(datetime.now(UTC) + timedelta(hours=hours))
            if all(r.status == "sent" for r in rows(engines[n]).values()):
                return

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert delivered_keys(slack, users) == Counter({f"k{i}": 1 for i in range(60)})
        assert len(lines[0]) + len(lines[1]) == 60
    finally:
        for e in engines:
            e.dispose()


class _RealClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def test_claims_are_exclusive(engine: Engine, slack: FakeSlack, wall: FakeTime) -> None:
    put(engine, "k1", "UCS")
    first, second = make_delivery(engine, slack, wall), make_delivery(engine, slack, wall)
    claim = first._claim(NOW)
    assert claim is not None and claim.key == "k1" and not claim.may_have_landed
    assert second._claim(NOW) is None
    with Session(engine) as session:
        row = session.exec(select(OutboxMessage).where(col(OutboxMessage.key) == "k1")).one()
        assert row.claimed_until == NOW + timedelta(seconds=60)


def test_a_stalled_sender_whose_claim_was_taken_over_does_not_send(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    put(engine, "k1", "UCS")
    stalled, other = make_delivery(engine, slack, wall), make_delivery(engine, slack, wall)
    claim = stalled._claim(NOW)
    assert claim is not None
    wall.advance(seconds=61)  # the first sender stalls past its lease
    taken = other._claim(wall.now())
    assert taken is not None and taken.may_have_landed

    assert stalled._deliver(claim, wall.now()) is None  # it notices and backs off
    assert other._deliver(taken, wall.now()) == "test k1 → UCS"
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert rows(engine)["k1"].status == "sent"
