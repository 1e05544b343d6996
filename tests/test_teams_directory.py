"""The Teams directory on the test databases: people by Entra object id (their row, else the
roster of the conversation being answered through the fake connector), conversations the bot
has seen, personal chats; `KAKEHASHI_MANAGERS` with `aad:` managers seeded on Teams."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.runtime import open_runtime
from bot.settings import SettingsError, load_settings
from bot.teams_directory import TeamsDirectory
from commands.addresses import AddressKind
from storage import people
from storage.people import Role
from testkit.fake_teams import FakeTeams, start_fake_teams

AIKO = "0f6a3b2c-1111-4222-8333-944445555666"
NEW = "0f6a3b2c-1111-4222-8333-944445555777"
CHANNEL = "19:deals@thread.tacv2"


@pytest.fixture(scope="module")
def teams() -> Iterator[FakeTeams]:
    fake, server = start_fake_teams()
    yield fake
    server.shutdown()


def reference(teams: FakeTeams, conversation: str, kind: str) -> dict[str, object]:
    return {
        "serviceUrl": teams.url,
        "conversation": {"id": conversation, "conversationType": kind, "tenantId": "t"},
        "user": {"id": "29:aiko", "aadObjectId": AIKO, "name": "Aiko"},
    }


def test_people_channels_and_personal_chats(engine: Engine, teams: FakeTeams) -> None:
    directory = TeamsDirectory(engine, token=lambda: teams.token())
    with Session(engine) as session:
        aiko = people.get_or_create(session=session, user_id=AIKO, platform="teams")
        aiko.name, aiko.tz = "Aiko", "Asia/Tokyo"
        aiko.delivery_ref = reference(teams, "a:aiko", "personal")
        session.add(aiko)
        session.commit()
    assert directory.kind(AIKO) is AddressKind.PERSON
    assert directory.kind(CHANNEL) is AddressKind.CHANNEL
    assert directory.kind("<at>Aiko</at>") is None and directory.kind("U0123ABCD") is None
    profile = directory.lookup(AIKO)
    assert profile is not None and (profile.name, profile.tz) == ("Aiko", "Asia/Tokyo")
    assert directory.open_direct(AIKO).delivery_ref == reference(teams, "a:aiko", "personal")

    assert directory.channel(CHANNEL) is None  # never seen: the bot cannot post there
    directory.seen(reference(teams, f"{CHANNEL};messageid=7", "channel"))
    info = directory.channel(CHANNEL)
    assert info is not None and info.is_member
    stored = directory.reference(CHANNEL)
    assert stored is not None and stored["conversation"]["id"] == CHANNEL  # a new post
    assert not directory.is_direct(CHANNEL)
    assert directory.is_direct("a:aiko")

    # Someone who never wrote to the bot: the roster of the conversation being answered.
    found = directory.lookup(NEW)
    assert found is not None and found.user_id == NEW and found.name == "Aiko"
    assert directory.by_email("aiko@example.com") is None


def test_without_a_conversation_or_a_token_no_roster_is_asked(engine: Engine) -> None:
    assert TeamsDirectory(engine).lookup(NEW) is None


def test_aad_managers_are_seeded_as_teams_people(database_url: str) -> None:
    settings = load_settings(
        _env_file=None,
        DATABASE_URL=database_url,
        KAKEHASHI_MANAGERS=f"U0123ABCD, AAD:{AIKO.upper()}",
    )
    runtime = open_runtime(settings, lambda engine: TeamsDirectory(engine))
    with runtime.session() as session:
        teams_boss = people.get_by_user_id(session=session, user_id=AIKO, platform="teams")
        slack_boss = people.get_by_user_id(session=session, user_id="U0123ABCD")
        assert teams_boss is not None and teams_boss.role == Role.MANAGER
        assert slack_boss is not None and slack_boss.role == Role.MANAGER
    runtime.engine.dispose()


@pytest.mark.parametrize("value", ["aad:not-a-guid", "aad:", "aad:<!channel>"])
def test_a_malformed_aad_manager_is_named(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, KAKEHASHI_MANAGERS=f"U0123ABCD,{value}")
    assert str(caught.value).startswith("KAKEHASHI_MANAGERS must be aad:<Entra object id")
