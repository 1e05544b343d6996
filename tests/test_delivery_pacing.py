"""The delivery engine at Slack's pace: rows claimed in batches (never one row to two senders,
unsent ones given back), leases checked before each send, and every Web API call the Slack
transport makes (posts and the look-ups of `find_sent`) taking a turn from the pacer."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.delivery import SlackTransport, slack_client
from commands.ui import Message
from jobs.delivery import CLAIM_BATCH, LEASE, Claim, Delivery, Landed, Pacer
from storage.db import make_engine
from storage.outbox import OutboxMessage
from testkit.fake_slack import FakeSlack
from tests.conftest import NOW, make_settings
from tests.test_delivery import FakeTime, delivered_keys, make_delivery, message, put, rows


@pytest.fixture
def wall() -> FakeTime:
    return FakeTime()


class Turns:
    """A pacer's clock that never waits, counting the turns taken."""

    def __init__(self) -> None:
        self.at = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.at += seconds


def turns_taken(pacer: Pacer, clock: Turns, count: int) -> list[float]:
    """When each of `count` back-to-back turns went."""
    times = []
    for _ in range(count):
        pacer.take_turn()
        times.append(clock.at)
    return times


def test_turns_come_at_the_rate_with_a_bounded_burst_after_a_quiet_moment() -> None:
    clock = Turns()
    pacer = Pacer(per_second=4, burst=2, monotonic=clock.monotonic, sleep=clock.sleep)

    assert turns_taken(pacer, clock, 5) == [0.0, 0.0, 0.25, 0.5, 0.75]
    clock.at += 10  # quiet: the burst is back, but no more than it
    assert turns_taken(pacer, clock, 3) == [10.75, 10.75, 11.0]


def test_a_pause_holds_every_turn_and_channels_wait_from_the_answer() -> None:
    clock = Turns()
    pacer = Pacer(per_second=4, burst=1, monotonic=clock.monotonic, sleep=clock.sleep)
    pacer.pause(3)

    assert turns_taken(pacer, clock, 2) == [3.0, 3.25]
    assert pacer.wait_needed() == 0
    pacer.sent("CSALES")
    clock.at += 0.4
    assert abs(pacer.wait_needed("CSALES") - 0.6) < 1e-9
    assert pacer.wait_needed("CSUPPORT") == 0


class CountingPacer(Pacer):
    def __init__(self) -> None:
        super().__init__(per_second=0)
        self.turns = 0

    def take_turn(self) -> None:
        self.turns += 1


def test_every_web_api_call_of_the_transport_takes_a_turn(slack: FakeSlack) -> None:
    settings = make_settings("sqlite://", slack.api_url)
    pacer = CountingPacer()
    transport = SlackTransport(slack_client(settings), pacer)

    assert transport.find_sent("UCS", "k1") is None  # conversations.open, .history
    transport.post("CSALES", message("hello"), "k2")
    assert transport.find_sent("CSALES", "k2") is not None

    assert [c.method for c in slack.calls] == [
        "conversations.open",
        "conversations.history",
        "chat.postMessage",
        "conversations.history",
    ]
    assert pacer.turns == len(slack.calls)


def test_a_users_dm_channel_is_remembered_from_a_post(slack: FakeSlack) -> None:
    settings = make_settings("sqlite://", slack.api_url)
    transport = SlackTransport(slack_client(settings))
    landed = transport.post("UCS", message("hello"), "k1")

    assert transport.find_sent("UCS", "k1") == landed
    assert transport.find_sent("UCS", "k2") is None
    assert slack.calls_to("conversations.open") == []


def test_the_delivery_built_for_slack_paces_its_transport_with_the_engines_pacer() -> None:
    from bot.delivery import slack_delivery

    settings = make_settings("sqlite://", "http://127.0.0.1:9/api/")
    delivery = slack_delivery(settings, make_engine("sqlite://"))

    assert isinstance(delivery.transport, SlackTransport)
    assert delivery.transport.pacer is delivery.pacer


def test_a_batch_claims_the_oldest_due_rows_and_leaves_the_rest_to_other_senders(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    for i in range(8):
        put(engine, f"k{i}", f"U{i:03d}", at=NOW + timedelta(seconds=i))
    put(engine, "later", "UCS", at=NOW + timedelta(hours=1))
    first, second = make_delivery(engine, slack, wall), make_delivery(engine, slack, wall)
    due = NOW + timedelta(minutes=1)

    mine = first._claim_batch(due, 5)
    theirs = second._claim_batch(due, 5)

    assert [c.key for c in mine] == ["k0", "k1", "k2", "k3", "k4"]
    assert [c.key for c in theirs] == ["k5", "k6", "k7"]
    assert second._claim_batch(due, 5) == []
    assert {c.held_until for c in mine} == {NOW + LEASE}
    wall.advance(seconds=61)  # the first sender's lease ran out: its rows may have landed
    taken = second._claim_batch(wall.now(), 5)
    assert [c.key for c in taken] == ["k0", "k1", "k2", "k3", "k4"]
    assert all(c.may_have_landed for c in taken)


def test_senders_claiming_batches_at_once_never_get_the_same_row(
    database_url: str, slack: FakeSlack, wall: FakeTime
) -> None:
    engines = [make_engine(database_url) for _ in range(3)]
    count = 10 * CLAIM_BATCH
    for i in range(count):
        put(engines[0], f"k{i}", f"U{i:03d}")
    senders = [make_delivery(e, slack, wall) for e in engines]
    claimed: list[list[Claim]] = [[] for _ in senders]
    start = threading.Barrier(len(senders))

    def claim_all(n: int) -> None:
        start.wait()
        while batch := senders[n]._claim_batch(NOW, 7):
            claimed[n].extend(batch)

    threads = [threading.Thread(target=claim_all, args=(n,)) for n in range(len(senders))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        keys = [c.key for batch in claimed for c in batch]
        assert sorted(keys) == sorted(f"k{i}" for i in range(count))  # each once, none left
    finally:
        for e in engines:
            e.dispose()


def claimed_until(engine: Engine, key: str) -> datetime | None:
    with Session(engine) as session:
        row = session.exec(select(OutboxMessage).where(col(OutboxMessage.key) == key)).one()
        return row.claimed_until


def test_a_long_pause_gives_the_rest_of_the_batch_back_unclaimed(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    for i in range(3):
        put(engine, f"k{i}", f"U{i:03d}")
    slack.fail_next("chat.postMessage", status=429, retry_after=30)
    delivery = make_delivery(engine, slack, wall)

    assert delivery.sweep(NOW) == []

    state = rows(engine)
    assert (state["k0"].status, state["k0"].not_before) == ("pending", NOW + timedelta(seconds=30))
    assert [claimed_until(engine, k) for k in ("k1", "k2")] == [None, None]
    other = make_delivery(engine, slack, wall)
    again = other._claim_batch(NOW, 5)  # at once, and not taken for a send that may have landed
    assert [(c.key, c.may_have_landed) for c in again] == [("k1", False), ("k2", False)]


def test_a_row_taken_over_from_a_dead_sender_and_given_back_is_still_looked_for(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    put(engine, "k0", "U000")
    put(engine, "k1", "U001")
    dead = make_delivery(engine, slack, wall)
    assert len(dead._claim_batch(NOW, 5)) == 2
    wall.advance(seconds=61)
    delivery = make_delivery(engine, slack, wall)
    taken = delivery._claim_batch(wall.now(), 5)
    assert all(c.may_have_landed for c in taken)

    delivery._release_unsent(taken)

    again = delivery._claim_batch(wall.now(), 5)
    assert [(c.key, c.may_have_landed) for c in again] == [("k0", True), ("k1", True)]


class LeaseWatcher:
    """A transport that notes the row's lease at the moment each post is made."""

    def __init__(self, inner: SlackTransport, engine: Engine) -> None:
        self.inner = inner
        self.engine = engine
        self.leases: list[datetime | None] = []

    def post(self, recipient: str, message: Message, key: str) -> Landed:
        self.leases.append(claimed_until(self.engine, key))
        return self.inner.post(recipient, message, key)

    def update(self, channel: str, ts: str, message: Message) -> None:
        self.inner.update(channel, ts, message)

    def find_sent(self, recipient: str, key: str) -> Landed | None:
        return self.inner.find_sent(recipient, key)


def watched(engine: Engine, slack: FakeSlack, wall: FakeTime) -> tuple[Delivery, LeaseWatcher]:
    settings = make_settings("sqlite://", slack.api_url)
    watcher = LeaseWatcher(SlackTransport(slack_client(settings)), engine)
    return make_delivery(engine, slack, wall, transport=watcher), watcher


def test_a_claim_with_most_of_its_lease_left_is_sent_without_renewing_it(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    put(engine, "k1", "UCS")
    delivery, watcher = watched(engine, slack, wall)
    [claim] = delivery._claim_batch(NOW, 5)
    wall.advance(seconds=10)

    assert delivery._deliver(claim, wall.now()) == "test k1 → UCS"
    assert watcher.leases == [NOW + LEASE]


def test_a_claim_whose_lease_is_running_out_is_renewed_before_the_send(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    put(engine, "k1", "UCS")
    delivery, watcher = watched(engine, slack, wall)
    [claim] = delivery._claim_batch(NOW, 5)
    wall.advance(seconds=30)

    assert delivery._deliver(claim, wall.now()) == "test k1 → UCS"
    assert watcher.leases == [wall.now() + LEASE]


def test_a_retry_whose_backoff_ended_goes_before_the_backlog_that_came_due_earlier(
    engine: Engine, slack: FakeSlack, wall: FakeTime
) -> None:
    put(engine, "first", "UCS")
    backlog = CLAIM_BATCH + 10  # one channel's posts, a second apart: the backoff ends meanwhile
    for i in range(backlog):
        put(engine, f"k{i}", "CSALES")
    slack.fail_next("chat.postMessage", status=500)
    delivery = make_delivery(engine, slack, wall)

    delivery.sweep(NOW)

    order = [c["channel"] for c in slack.calls_to("chat.postMessage")]
    # The first batch goes out as claimed; the retry leads the next one.
    assert order == ["UCS"] + ["CSALES"] * (CLAIM_BATCH - 1) + ["UCS"] + ["CSALES"] * 11
    assert delivered_keys(slack, ["UCS", "CSALES"]) == Counter(
        {"first": 1, **{f"k{i}": 1 for i in range(backlog)}}
    )
