"""The Teams transport against the fake Bot Connector: limits, status codes, token refresh."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.teams_transport import ConversationRef, Limits, TeamsTokens, TeamsTransport
from commands.ui import Message
from jobs.delivery import PermanentError, TransientError
from testkit.fake_teams import (
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT_ID,
    Failure,
    FakeTeams,
    start_fake_teams,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    fake, server = start_fake_teams()
    yield fake
    server.shutdown()


def transport(teams: FakeTeams, clock: Clock) -> TeamsTransport:
    tokens = TeamsTokens(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        tenant_id=TENANT_ID,
        login_url=teams.url,
        clock=clock,
    )
    refs = {
        "aiko": ConversationRef(service_url=teams.url, tenant_id=TENANT_ID, user_id="29:aiko"),
        "sales": ConversationRef(
            service_url=teams.url, tenant_id=TENANT_ID, conversation_id="19:sales@thread"
        ),
    }
    return TeamsTransport(tokens, refs.get, limits=Limits(clock=clock), sleep=clock.sleep)


def test_a_person_without_a_chat_gets_one_created_then_the_message(teams: FakeTeams) -> None:
    sender = transport(teams, Clock())
    landed = sender.post("aiko", Message(text="Reminder <at>x</at>"), "rem:1")
    assert teams.conversations[0]["request"]["members"] == [{"id": "29:aiko"}]
    assert teams.conversations[0]["request"]["tenantId"] == TENANT_ID
    assert landed.channel == "a:chat-1"
    assert teams.activities[0]["text"] == "Reminder <at>x</at>"
    assert teams.activities[0]["textFormat"] == "plain"
    assert teams.activities[0]["channelData"]["kakehashiKey"] == "rem:1"
    sender.post("aiko", Message(text="again"), "rem:2")
    assert len(teams.conversations) == 1  # remembered
    assert len(teams.token_requests) == 1  # cached


def test_update_puts_the_activity_in_place(teams: FakeTeams) -> None:
    sender = transport(teams, Clock())
    landed = sender.post("sales", Message(text="agenda"), "agenda:1")
    sender.update(landed.channel, landed.ts, Message(text="agenda, edited"))
    assert teams.updates[0]["path"] == f"/v3/conversations/19:sales@thread/activities/{landed.ts}"
    assert teams.updates[0]["text"] == "agenda, edited"


@pytest.mark.parametrize(
    ("failure", "retry_after"),
    [
        (Failure(429, "Throttled", "7"), 7.0),
        (Failure(500), None),
        (Failure(503), None),
        (Failure(412), None),
        (Failure(502), None),
        (Failure(504), None),
    ],
)
def test_throttling_and_server_errors_are_retried_later_and_did_not_land(
    teams: FakeTeams, failure: Failure, retry_after: float | None
) -> None:
    teams.fail_next(failure)
    with pytest.raises(TransientError) as raised:
        transport(teams, Clock()).post("sales", Message(text="x"), "k")
    assert raised.value.retry_after == retry_after
    assert raised.value.may_have_landed is False
    assert teams.activities == []


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (Failure(403, "BotNotInConversationRoster"), "not installed"),
        (Failure(404, "ConversationNotFound"), "ConversationNotFound"),
        (Failure(413, "MessageSizeTooBig"), "MessageSizeTooBig"),
        (Failure(400, "BadArgument"), "BadArgument"),
    ],
)
def test_refusals_are_permanent_with_the_reason(
    teams: FakeTeams, failure: Failure, reason: str
) -> None:
    teams.fail_next(failure)
    with pytest.raises(PermanentError, match=reason):
        transport(teams, Clock()).post("sales", Message(text="x"), "k")


def test_an_expired_token_is_fetched_again_once_after_401(teams: FakeTeams) -> None:
    teams.fail_next(Failure(401, "Unauthorized"))
    transport(teams, Clock()).post("sales", Message(text="x"), "k")
    assert len(teams.token_requests) == 2
    assert len(teams.activities) == 1


def test_someone_the_bot_never_met_is_a_permanent_failure(teams: FakeTeams) -> None:
    with pytest.raises(PermanentError, match="not installed"):
        transport(teams, Clock()).post("ben", Message(text="x"), "k")


def test_one_conversation_gets_at_most_seven_a_second_and_eight_in_two(
    teams: FakeTeams,
) -> None:
    clock = Clock()
    sender = transport(teams, clock)
    start = clock.now
    sent_at = []
    for n in range(16):
        sender.post("sales", Message(text=str(n)), f"k{n}")
        sent_at.append(clock.now - start)
    for i in range(len(sent_at) - 7):
        assert sent_at[i + 7] - sent_at[i] >= 1.0
    for i in range(len(sent_at) - 8):
        assert sent_at[i + 8] - sent_at[i] >= 2.0
    assert len(teams.activities) == 16
    # 7 at 0 s, 1 at 1 s (8 in 2 s), 7 at 2 s (7 a second), the 16th at 3 s: no earlier
    # schedule keeps both limits.
    assert sent_at[-1] == 3.0


def test_an_hourly_limit_is_left_to_a_later_sweep(teams: FakeTeams) -> None:
    clock = Clock()
    limits = Limits(clock=clock)
    for _ in range(1800):
        limits.sent("19:sales@thread", TENANT_ID)
        clock.now += 1.5
    sender = transport(teams, clock)
    sender.limits = limits
    with pytest.raises(TransientError) as raised:
        sender.post("sales", Message(text="x"), "k")
    assert raised.value.may_have_landed is False
    assert raised.value.retry_after is not None and raised.value.retry_after > 10
