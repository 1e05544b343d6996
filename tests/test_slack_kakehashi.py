"""`/kakehashi` end to end: signed requests into the real Bolt app, replies read off fake Slack."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.runtime import Runtime
from commands.ui import Outcome
from storage.audit import AuditEntry
from storage.people import Person
from testkit.signing import slash_command_body
from tests.conftest import SlackServer


async def command(
    server: SlackServer, text: str, user_id: str, *, name: str = "/kakehashi"
) -> dict[str, object]:
    url = server.slack.new_response_url()
    response = await server.post(slash_command_body(name, text, user_id, response_url=url))
    assert response.status_code == 200, response.text
    return await server.reply_to(url)


def role_of(session: Session, user_id: str) -> str | None:
    person = session.exec(select(Person).where(Person.user_id == user_id)).first()
    return person.role if person else None


def reply_text(reply: dict[str, object]) -> str:
    blocks = reply.get("blocks") or []
    assert isinstance(blocks, list)
    return "\n".join(b.get("text", {}).get("text", "") for b in blocks)


async def test_manager_sets_a_role_and_it_is_audited(server: SlackServer, engine) -> None:
    reply = await command(server, "role <@UCS|aiko> cs", "UMANAGER")
    assert reply["response_type"] == "ephemeral"
    # The manager's Slack locale is ja-JP: the reply is Japanese.
    assert reply_text(reply) == "<@UCS> の役割を *カスタマーサクセス* にしました。"
    with Session(engine) as session:
        assert role_of(session, "UCS") == "cs"
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.action == "role").order_by(AuditEntry.id.desc())
        ).first()  # type: ignore[union-attr]
        assert entry is not None and entry.changes == {"role": [None, "cs"]}
        actor = session.get(Person, entry.actor_id)
        assert actor is not None and actor.user_id == "UMANAGER"
    assert server.slack.rejections == []


async def test_non_manager_is_refused_and_nothing_changes(server: SlackServer, engine) -> None:
    reply = await command(server, "role <@UCS|aiko> manager", "USALES")
    text = reply_text(reply)
    assert "Only managers can set roles" in text and "<@UMANAGER>" in text
    with Session(engine) as session:
        assert role_of(session, "UCS") is None
        assert (
            session.exec(
                select(AuditEntry).where(AuditEntry.action == "role", AuditEntry.actor_id != None)  # noqa: E711
            ).first()
            is None
        )


async def test_help_lists_every_registered_command(server: SlackServer) -> None:
    reply = await command(server, "help", "USALES")
    text = reply_text(reply)
    assert "/kakehashi role" in text and reply["response_type"] == "ephemeral"
    assert "[team @a @b …] [lang ja|en]" in text  # every option of /sync
    assert "[by DATE]" in text and "renewal DATE" in text


async def test_japanese_help_names_the_japanese_keywords(server: SlackServer) -> None:
    server.slack.add_user("UCS", name="aiko", tz="Asia/Tokyo", locale="ja-JP")
    text = reply_text(await command(server, "help", "UCS"))
    for keyword in ("毎週", "まで", "守った", "一覧", "期限超過", "電話", "打ち合わせ", "担当",
                    "更新日", "チーム", "言語", "営業"):  # fmt: skip
        assert keyword in text, keyword


async def test_bad_input_answers_with_usage(server: SlackServer, engine) -> None:
    await command(server, "role <@UCS2|ben> manager", "UMANAGER")  # an English-speaking manager
    cases = {
        "": "Kakehashi commands",  # empty text: the overview
        "frobnicate": "Usage: `/kakehashi help`",
        "role": "Usage: `/kakehashi role @person",
        "role aiko cs": "Pick the person with @",
        "role <@UCS|aiko> overlord": "That is not a role I know",
        "role <!channel> manager": "Pick the person with @",
        "role <@UCS|aiko> cs'; DROP TABLE people; --": "Usage",
        "role <@UNOBODY|x> cs": "can't find <@UNOBODY>",
        "role <@UBOTUSER|bot> cs": "is a bot",
        "ＲＯＬＥ <@UCS|aiko> ＣＳ": "is now *customer success*",  # full-width folds
        "role <@UCS|aiko> 🎉": "That is not a role I know",
        "x" * 10_000: "Usage",
    }
    for text, expected in cases.items():
        reply = await command(server, text, "USALES" if text == "" else "UCS2")
        assert expected in reply_text(reply), (text[:40], reply_text(reply))


async def test_the_only_manager_cannot_demote_themselves(server: SlackServer, engine) -> None:
    reply = await command(server, "role <@UMANAGER|mika> cs", "UMANAGER")
    assert "マネージャーはあなた一人です" in reply_text(reply)
    with Session(engine) as session:
        assert role_of(session, "UMANAGER") == "manager"


async def test_bad_signatures_get_401_and_change_nothing(server: SlackServer, engine) -> None:
    body = slash_command_body(
        "/kakehashi",
        "role <@UCS|aiko> manager",
        "UMANAGER",
        response_url=server.slack.new_response_url(),
    )
    wrong = await server.post(body, secret="not-the-secret")
    stale = await server.post(body, timestamp=int(time.time()) - 6 * 60)
    missing = await server.post(body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert [r.status_code for r in (wrong, stale, missing)] == [401, 401, 401]
    with Session(engine) as session:
        assert role_of(session, "UCS") is None
    assert [c for c in server.slack.calls if c.method != "auth.test"] == []


async def test_healthz_reports_the_database(server: SlackServer) -> None:
    response = await server.http.get(f"{server.url}/healthz")
    assert response.status_code == 200 and response.json()["database"] == "up"


async def test_unreachable_database_gives_a_short_reply(runtime, slack) -> None:
    from dataclasses import replace

    from storage.db import make_engine
    from tests.conftest import serve_app

    down = replace(
        runtime,
        engine=make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"),
    )
    async with serve_app(down, slack) as server:
        reply = await command(server, "role <@UCS|aiko> cs", "UMANAGER")
        assert reply_text(reply) == (
            "Kakehashi is temporarily unavailable; nothing was saved. Please try again in a minute."
        )
        health = await server.http.get(f"{server.url}/healthz")
        assert health.status_code == 503


async def test_the_acknowledgement_does_not_wait_for_the_answer(
    server: SlackServer, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listener returns once it has acknowledged: Bolt answers the request then (it does not
    poll for the acknowledgement) while the command is still being answered in the background."""
    release = threading.Event()
    answering = runtime.run_command

    def held(*args: Any) -> Outcome:
        assert release.wait(timeout=10)
        return answering(*args)

    monkeypatch.setattr(runtime, "run_command", held)
    url = server.slack.new_response_url()
    response = await asyncio.wait_for(
        server.post(slash_command_body("/kakehashi", "help", "UCS", response_url=url)), timeout=5
    )
    assert response.status_code == 200
    assert not [c for c in server.slack.calls if url.endswith(c.path)]  # nothing answered yet
    release.set()
    assert "/kakehashi" in reply_text(await server.reply_to(url))
