"""`/portfolio`: signed requests into the real Bolt app, and the shell.

The numbers are those of `tests.metrics_data`, computed by hand there.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, func
from sqlmodel import Session, select

from storage.accounts import Account, fold_name
from storage.audit import AuditEntry
from storage.db import session_scope
from storage.people import Person, Role
from testkit.signing import slash_command_body
from tests.conftest import NOW, ShellSession, SlackServer
from tests.metrics_data import build_world


async def portfolio(server: SlackServer, text: str, user_id: str) -> dict[str, object]:
    url = server.slack.new_response_url()
    response = await server.post(slash_command_body("/portfolio", text, user_id, response_url=url))
    assert response.status_code == 200, response.text
    return await server.reply_to(url)


def shown(reply: dict[str, object]) -> str:
    """Every text a person sees in the reply's blocks, fields and context included."""
    lines: list[str] = []
    blocks = reply.get("blocks") or []
    assert isinstance(blocks, list)
    for block in blocks:
        if isinstance(block.get("text"), dict):
            lines.append(block["text"]["text"])
        lines += [f["text"] for f in block.get("fields") or []]
        lines += [e.get("text", "") for e in block.get("elements") or []]
    return "\n".join(lines)


def world(engine: Engine) -> None:
    with session_scope(engine) as session:
        build_world(session)


def refusals(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        query = select(AuditEntry).where(AuditEntry.action == "refused")
        return list(session.exec(query).all())


async def test_a_manager_sees_the_hand_computed_numbers_in_japanese(
    server: SlackServer, engine: Engine
) -> None:
    world(engine)
    reply = await portfolio(server, "", "UMANAGER")  # mika: ja-JP
    text = shown(reply)
    assert reply["response_type"] == "ephemeral"
    expected = [
        "ポートフォリオ概要",
        "2026年11月23日時点 · ポートフォリオ全体",
        "*アカウント数*\n6",
        "*90日以内の更新*\n3件 · ¥1,200,000 · $7,000.00",
        "*期限超過の約束*\n2",
        "*14日以内が期限の約束*\n2",
        "*約束の履行率(過去30日)*\n60% (履行 3件、不履行 2件)",
        "*引き受け待ちの引き継ぎ*\n2",
        "*引き受けまでの時間の中央値(過去30日)*\n6時間(引き受け 5件)",
        "*無接触のアカウント*\n3",
        "• オンボーディング: 2件 · $7,000.00",
        "• 解約: 1件 · $3,000.00",
        "• ハイタッチ: 3件 · ¥1,200,000 · $2,000.00",
        "最も古い引き受け待ちの引き継ぎ: H-2 *Alpha*。"
        "<@UCS> さんの引き受けを 6日0時間 待っています。",
        "• <@UCS2>: 2件 · ¥800,000 · 期限超過 1件 · 無接触 2件\n"
        "• <@UCS>: 2件 · ¥1,200,000 · $5,000.00 · 期限超過 1件 · 無接触 1件\n"
        "• CS 担当者なし: 1件 · $2,000.00 · 期限超過 0件 · 無接触 0件",
    ]
    for part in expected:
        assert part in text, (part, text)
    assert server.slack.rejections == []
    assert refusals(engine) == []


async def test_narrowed_to_one_cs_owner_in_english(server: SlackServer, engine: Engine) -> None:
    world(engine)
    with session_scope(engine) as session:
        ben = session.exec(select(Person).where(Person.user_id == "UCS2")).one()
        ben.role = Role.MANAGER.value  # ben (en-US, New York) is a manager too
    reply = await portfolio(server, "<@UCS|aiko>", "UCS2")
    text = shown(reply)
    # In New York it is still Nov 22: today, and so overdue and due dates, follow the viewer.
    for part in (
        "As of Nov 22, 2026 · accounts whose CS owner is <@UCS>",
        "*Accounts*\n2",
        "*Renewals in 90 days*\n1 · ¥1,200,000",  # Beta renews in 91 days, seen from New York
        "*Kept rate, last 30 days*\n100% (3 kept, 0 broken)",
        "*Handoffs pending*\n2",
        "*Median time to accept, last 30 days*\n6 h (3 accepted)",
        "*Silent accounts*\n1",
        "• <@UCS> — accounts: 2 · ¥1,200,000 · $5,000.00 · overdue promises: 1 · silent: 1",
    ):
        assert part in text, (part, text)
    assert "UCS2>" not in text
    assert server.slack.rejections == []


async def test_others_are_told_who_may_and_the_refusal_is_audited(
    server: SlackServer, engine: Engine
) -> None:
    world(engine)
    for user_id in ("USALES", "UCS"):
        reply = await portfolio(server, "", user_id)
        text = shown(reply)
        assert "<@UMANAGER>" in text and "1,200,000" not in text, text
    assert "Only managers can see the portfolio summary. Ask a manager (<@UMANAGER>)" in shown(
        await portfolio(server, "<@UCS|aiko>", "USALES")
    )
    entries = refusals(engine)
    assert len(entries) == 3
    assert {e.changes["permission"] for e in entries} == {"view_portfolio"}
    with Session(engine) as session:
        actors = {session.get(Person, e.actor_id).user_id for e in entries}  # type: ignore[union-attr]
    assert actors == {"USALES", "UCS"}


async def test_malformed_hostile_and_unknown_input(server: SlackServer, engine: Engine) -> None:
    world(engine)
    with session_scope(engine) as session:
        ben = session.exec(select(Person).where(Person.user_id == "UCS2")).one()
        ben.role = Role.MANAGER.value
    cases = {
        "help": "Usage: `/portfolio`",
        "ＨＥＬＰ": "Usage: `/portfolio`",
        "aiko": "Pick people with @",
        "<!channel>": "Pick people with @",
        "<@UCS|aiko> '; DROP TABLE accounts; --": "Pick people with @",
        "<@UCS|aiko>\x00\x07": "*Accounts*\n2",  # control characters are only space
        "🎉": "Pick people with @",
        "x" * 10_000: "Pick people with @",
        " ".join(f"<@U{i:04d}>" for i in range(21)): "too many people",
        "<@UNOBODY|who>": "<@UNOBODY> is not the CS owner of any account.",
        "<@UCS|aiko> <@UCS|aiko>": "*Accounts*\n2",  # the same person twice
        "<@UCS|aiko> <@UCS2|ben>": "*Accounts*\n5",
    }
    for text, expected in cases.items():
        reply = shown(await portfolio(server, text, "UCS2"))
        assert expected in reply, (text[:40], reply)
        assert "<!channel>" not in reply and "DROP" not in reply
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Account)).one() == 6
    assert server.slack.rejections == []


async def test_an_empty_workspace(server: SlackServer) -> None:
    reply = shown(await portfolio(server, "", "UMANAGER"))
    assert "まだアカウントがありません" in reply


async def test_hundreds_of_owners_stay_within_block_kit_limits(
    server: SlackServer, engine: Engine
) -> None:
    with session_scope(engine) as session:
        owners = [Person(user_id=f"UOWNER{i:03d}", role=Role.CS.value) for i in range(300)]
        session.add_all(owners)
        session.flush()
        session.add_all(
            Account(
                name=f"株式会社テスト{i}",
                name_key=fold_name(f"株式会社テスト{i}"),
                cs_owner_id=owners[i % 300].id,
                arr=Decimal(1000 * i),
                currency=("JPY", "USD", "EUR")[i % 3],
                renewal_date=NOW.date() + timedelta(days=i % 120),
                created_at=NOW,
                updated_at=NOW,
            )
            for i in range(600)
        )
    reply = await portfolio(server, "", "UMANAGER")
    text = shown(reply)
    assert "*アカウント数*\n600" in text and "…ほか" in text
    assert server.slack.rejections == []


def test_the_shell_shows_the_demo_portfolio_to_its_manager(shell: ShellSession) -> None:
    out = shell.run(":as mika", "/portfolio", ":as kenji", "/portfolio")
    assert "Portfolio summary" in out or "ポートフォリオ概要" in out
    assert "ポートフォリオの概要はマネージャーのみ表示できます" in out  # kenji reads Japanese
