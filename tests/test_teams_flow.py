"""The product on Teams from a person's side, through the real `kakehashi run`: signed activities
(fake issuer) in, the fake Bot Connector recording what the bot sends, the database read after.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine
from sqlmodel import Session, select

from storage import people
from storage.agenda.subscriptions import SyncSubscription
from storage.handoffs import Handoff
from testkit.fake_teams import CLIENT_ID, TENANT_ID, Failure, FakeTeams, start_fake_teams
from tests.conftest import run_kakehashi
from tests.handoff_data import form_values, outbox_rows
from tests.test_teams_auth import Running, wait_for

# Every test here talks to a real `kakehashi run` on the machine's clock (see conftest).
pytestmark = pytest.mark.system_clock_process

SALES, CS, BOSS, OTHER = (str(uuid.UUID(int=n)) for n in (0x5A1E5, 0xC5, 0xB055, 0x07E4))
BOT = f"28:{CLIENT_ID}"
CHANNEL = "19:deals@thread.tacv2"
JSON = dict[str, Any]


@pytest.fixture(scope="module")
def teams() -> Iterator[FakeTeams]:
    fake, server = start_fake_teams()
    yield fake
    server.shutdown()


@pytest.fixture(scope="module")
def served(teams: FakeTeams, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    cwd = tmp_path_factory.mktemp("flow")
    env = {
        **teams.settings(),
        "DATABASE_URL": f"sqlite:///{cwd / 'k.db'}",
        "KAKEHASHI_MANAGERS": f"aad:{BOSS}",
    }
    (cwd / "accounts.csv").write_text("name,stage\nACME Corp,active\n")
    imported = run_kakehashi("import", "accounts", "accounts.csv", env=env, cwd=cwd)
    assert imported.returncode == 0, imported.stderr
    running = Running(env, cwd)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def engine(served: Running) -> Engine:
    return create_engine(f"sqlite:///{served.log.parent / 'k.db'}")


def activity(teams: FakeTeams, who: str, *, channel: bool = False, **more: Any) -> JSON:
    conversation = (
        {"id": f"{CHANNEL};messageid=7", "conversationType": "channel", "tenantId": TENANT_ID}
        if channel
        else {"id": f"a:personal-{who}", "conversationType": "personal", "tenantId": TENANT_ID}
    )
    return {
        "type": "message",
        "id": uuid.uuid4().hex,
        "channelId": "msteams",
        "serviceUrl": teams.url,
        "locale": "en-US",
        "from": {"id": f"29:{who}", "name": f"person-{who[-4:]}", "aadObjectId": who},
        "recipient": {"id": BOT, "name": "Kakehashi"},
        "conversation": conversation,
        "channelData": {"tenant": {"id": TENANT_ID}},
        "entities": [{"type": "clientInfo", "locale": "en-US", "timezone": "Asia/Tokyo"}],
        **more,
    }


def post(served: Running, teams: FakeTeams, body: JSON) -> httpx.Response:
    answer = served.post(body, f"Bearer {teams.token()}")
    assert answer.status_code == 200, served.log.read_text()[-3000:]
    return answer


def say(served: Running, teams: FakeTeams, who: str, text: str, **more: Any) -> list[JSON]:
    """Types `text`; the cards the bot sent back, once they reached the connector."""
    before = len(teams.activities)
    post(served, teams, activity(teams, who, text=text, **more))
    wait_for(lambda: len(teams.activities) > before, f"an answer to {text[:20]!r}")
    return teams.activities[before:]


def press(served: Running, teams: FakeTeams, who: str, name: str, value: JSON) -> JSON:
    body = activity(teams, who, type="invoke", name=name, value=value)
    answer: JSON = post(served, teams, body).json()
    return answer


def shown(sent: list[JSON]) -> str:
    return json.dumps([a["attachments"][0]["content"] for a in sent], ensure_ascii=False)


def test_a_handoff_through_the_dialog_to_the_cs_owner_who_accepts(
    served: Running, teams: FakeTeams, engine: Engine
) -> None:
    installed = activity(teams, CS, type="installationUpdate", action="add")
    before = len(teams.activities)
    post(served, teams, installed)
    wait_for(lambda: len(teams.activities) > before, "the welcome card")

    (launcher,) = say(served, teams, SALES, "handoff Initech")
    assert launcher["path"] == f"/v3/conversations/a:personal-{SALES}/activities"
    (button,) = launcher["attachments"][0]["content"]["actions"]
    fetched = press(served, teams, SALES, "task/fetch", {"data": button["data"]})
    dialog = fetched["task"]["value"]["card"]["content"]

    bad = {**form_values(cs_owner=CS, renewal_date="2026-11-30"), **dialog["actions"][0]["data"]}
    refused = press(served, teams, SALES, "task/submit", {"data": bad})
    again = refused["task"]["value"]["card"]["content"]
    assert [e for e in again["body"] if e.get("color") == "Attention"]
    with Session(engine) as session:
        assert session.exec(select(Handoff)).all() == []

    good = {**form_values(cs_owner=CS), **again["actions"][0]["data"]}
    assert press(served, teams, SALES, "task/submit", {"data": good}) == {}

    # Another person submits a handoff of the same account: refused, as on Slack.
    theirs = press(served, teams, OTHER, "task/submit", {"data": good})
    refusal = theirs["task"]["value"]
    assert "already has a pending handoff" in refusal and "@person-00c5" in refusal
    with Session(engine) as session:
        assert len(session.exec(select(Handoff)).all()) == 1
    dms = [row for row in outbox_rows(engine).values() if row.recipient == CS]
    assert dms and dms[0].platform == "teams"
    # Delivered by the scheduler's process (kicked by the request): in the CS owner's chat.
    wait_for(
        lambda: any(
            a["path"] == f"/v3/conversations/a:personal-{CS}/activities"
            and "handed Initech" in json.dumps(a, ensure_ascii=False)
            for a in teams.activities
        ),
        "the CS owner's DM",
    )
    buttons = [
        b for blk in dms[0].payload["blocks"] if blk["type"] == "actions" for b in blk["buttons"]
    ]
    accept = next(b for b in buttons if b["action_id"] == "handoff_accept")

    data = {"kk": {"a": accept["action_id"], "v": accept["value"]}}
    execute = {"action": {"type": "Action.Execute", "verb": "handoff_accept", "data": data}}
    redrawn = press(served, teams, CS, "adaptiveCard/action", execute)
    assert redrawn["statusCode"] == 200 and redrawn["type"].endswith("card.adaptive")
    assert "Initech" in json.dumps(redrawn["value"], ensure_ascii=False)
    assert not any(e["type"] == "ActionSet" for e in redrawn["value"]["body"])

    # The sales person presses Accept on the CS owner's handoff: refused, as on Slack.
    someone_else = press(served, teams, SALES, "adaptiveCard/action", execute)
    assert someone_else["type"].endswith("activity.message")


def test_a_promise_and_account(served: Running, teams: FakeTeams) -> None:
    made = say(served, teams, SALES, "promise ACME: Security review by 2026-12-10")
    assert "Recorded **P-" in shown(made) and "Security review" in shown(made)
    listed = say(served, teams, SALES, "account ACME")
    assert "ACME Corp" in shown(listed) and "Security review" in shown(listed)


def test_portfolio_is_for_managers_named_by_entra_id(served: Running, teams: FakeTeams) -> None:
    refused = shown(say(served, teams, SALES, "portfolio"))
    seen = shown(say(served, teams, BOSS, "portfolio"))
    assert "Portfolio summary" in seen and "Portfolio summary" not in refused
    assert "Ask a manager" in refused and f"{BOSS}</at>" in refused  # whom to ask, mentioned


@pytest.mark.parametrize(
    "hostile",
    [
        "<at>Kakehashi</at>",
        "<b>bold</b><script>x</script>",
        '{"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "hi"}]}',
        "x" * 10_000,
        "a\x00b",
        "\u202egnp.exe",
    ],
)
def test_hostile_text_is_shown_as_text(served: Running, teams: FakeTeams, hostile: str) -> None:
    sent = say(served, teams, SALES, "account " + hostile, textFormat="plain")
    card = sent[0]["attachments"][0]["content"]
    text = json.dumps(card["body"], ensure_ascii=False)  # fallbackText is plain text
    assert "<at>" not in text and "<script>" not in text and "\x00" not in text
    assert "entities" not in card.get("msteams", {})
    assert card["body"][0]["type"] == "TextBlock"  # pasted card JSON is text, not a card


def test_in_a_channel_sync_subscribes_and_answers_stay_private(
    served: Running, teams: FakeTeams, engine: Engine
) -> None:
    mention = {"type": "mention", "mentioned": {"id": BOT, "name": "Kakehashi"}}
    text = "<at>Kakehashi</at> sync weekly mon 09:00"
    sent = say(
        served,
        teams,
        BOSS,
        text,
        channel=True,
        entities=[{**mention, "text": "<at>Kakehashi</at>"}],
    )
    for reply in sent:
        assert reply["recipient"]["id"] == f"29:{BOSS}"  # targeted: only the person sees it
        assert reply["path"].endswith("/activities?isTargetedActivity=true")
    assert "Warning" not in served.log.read_text()  # the preview's warning silenced knowingly
    with Session(engine) as session:
        (subscription,) = session.exec(select(SyncSubscription)).all()
    assert subscription.platform == "teams" and subscription.channel_id == CHANNEL
    assert subscription.delivery_ref is not None
    assert subscription.delivery_ref["conversation"]["id"] == CHANNEL
    assert subscription.delivery_ref["serviceUrl"] == teams.url


def test_a_refused_targeted_message_goes_to_the_personal_chat_never_the_channel(
    served: Running, teams: FakeTeams
) -> None:
    say(served, teams, OTHER, "help")  # their personal chat, now known
    teams.fail_next(Failure(403, "Forbidden"))
    mention = {"type": "mention", "mentioned": {"id": BOT}, "text": "<at>Kakehashi</at>"}
    before = len(teams.activities)
    post(
        served,
        teams,
        activity(teams, OTHER, channel=True, text="<at>Kakehashi</at> help", entities=[mention]),
    )
    wait_for(lambda: len(teams.activities) > before, "the answer in the personal chat")
    (sent,) = teams.activities[before:]
    assert sent["path"] == f"/v3/conversations/a:personal-{OTHER}/activities"


def test_an_answer_that_did_not_land_is_sent_at_the_next_start_once(
    teams: FakeTeams, tmp_path: Path
) -> None:
    env = {**teams.settings(), "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"}
    first = Running(env, tmp_path)
    try:
        teams.fail_next(Failure(500, "ServiceError"))
        failed = first.post(activity(teams, CS, text="help"), f"Bearer {teams.token()}")
        assert failed.status_code == 500  # Teams is told: nothing was sent
    finally:
        first.stop()
    path = f"/v3/conversations/a:personal-{CS}/activities"
    before = [a for a in teams.activities if a["path"] == path]
    second = Running(env, tmp_path)
    try:
        wait_for(
            lambda: len([a for a in teams.activities if a["path"] == path]) > len(before),
            "sent again",
        )
        time.sleep(1.5)  # and nothing more
        again = [a for a in teams.activities if a["path"] == path][len(before) :]
        assert len(again) == 1 and "Kakehashi commands" in shown(again)
    finally:
        second.stop()


def test_a_person_met_in_a_channel_is_never_reached_there_privately(
    served: Running, teams: FakeTeams, engine: Engine
) -> None:
    newcomer = str(uuid.UUID(int=0x4E3))
    mention = {"type": "mention", "mentioned": {"id": BOT}, "text": "<at>Kakehashi</at>"}
    text = "<at>Kakehashi</at> help"
    say(served, teams, newcomer, text, channel=True, entities=[mention])
    with Session(engine) as session:
        person = people.get_by_user_id(session=session, user_id=newcomer, platform="teams")
        assert person is not None and person.delivery_ref is not None
        assert person.delivery_ref["conversation"]["id"] is None  # not the channel
        assert person.delivery_ref["user"]["aadObjectId"] == newcomer
    say(served, teams, newcomer, "help")
    with Session(engine) as session:
        person = people.get_by_user_id(session=session, user_id=newcomer, platform="teams")
        assert person is not None and person.delivery_ref is not None
        assert person.delivery_ref["conversation"]["id"] == f"a:personal-{newcomer}"


def test_a_manager_sets_a_role_by_mentioning_the_person(
    served: Running, teams: FakeTeams, engine: Engine
) -> None:
    newcomer = str(uuid.UUID(int=0x5E7))
    say(served, teams, newcomer, "help")  # known to Kakehashi by their Entra object id
    mention = {
        "type": "mention",
        "mentioned": {"id": f"29:{newcomer}", "aadObjectId": newcomer, "name": "Sato"},
        "text": "<at>Sato</at>",
    }
    done = say(served, teams, BOSS, "kakehashi role <at>Sato</at> cs", entities=[mention])
    assert "<at>person-05e7</at>" in shown(done)  # the person named, as a Teams mention
    with Session(engine) as session:
        person = people.get_by_user_id(session=session, user_id=newcomer, platform="teams")
        assert person is not None and person.role == "cs"
