"""Typed text is shown as typed on every adapter, never as markup or a mention; the mention
token the core writes is a mention on Slack and a name in the shell (issue 16 item 2)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot import blockkit
from bot.slack_markup import mrkdwn
from commands import portfolio
from commands.markup import MENTION_CLOSE, MENTION_OPEN, Safe, escape, mention
from commands.ui import Room
from testkit.signing import slash_command_body
from tests.conftest import ShellSession, SlackServer
from tests.test_account import seed
from tests.test_accounts_lookup import context

ROOT = Path(__file__).resolve().parent.parent

TYPED = [
    "*bold*",
    "_x_",
    "~x~",
    "`x`",
    "<!channel>",
    "<@U123>",
    "&amp;",
    "a*b_c~d`e",
    "> not a quote",
    "パーティー 🎉 *祝* 株式会社アクメ",
]
CLEANED = [
    ("a\x00b", "ab"),
    ("\u202eevil\u202c name", "evil name"),
    ("x\u2066y\u2069\u200fz", "xyz"),
]
_EMPHASIS = re.compile(
    r"(?:^|(?<=[\s(“「]))([*_~`])(?=[^\s\u200b])(.+?)(?<=[^\s\u200b])\1(?![^\W_])"
)


def slack_shows(text: str) -> str:
    """What a person reads in Slack: entities decoded, zero-width spaces invisible."""
    return (
        text.replace("\u200b", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )


def formatted(text: str) -> list[str]:
    """Spans Slack would format (bold, italics, strike, code) in mrkdwn `text`."""
    return [m[2] for m in _EMPHASIS.finditer(text)]


def quoted(text: str) -> re.Pattern[str]:
    """`text` quoted back in either language (“…” or 「…」)."""
    return re.compile(f"[“「]{re.escape(text)}[”」]")


async def account_reply(server: SlackServer, text: str, *, name: str = "/account") -> str:
    url = server.slack.new_response_url()
    user = "UMANAGER" if name == "/kakehashi" else "UCS"
    response = await server.post(slash_command_body(name, text, user, response_url=url))
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = await server.reply_to(url)
    return "\n".join(b["text"]["text"] for b in reply["blocks"] if "text" in b)


@pytest.mark.parametrize("typed", TYPED)
async def test_typed_markup_reaches_slack_as_typed(
    server: SlackServer, engine: Engine, typed: str
) -> None:
    seed(engine)
    text = await account_reply(server, f"zz {typed}")
    # A Slack mention in typed text names the person and is quoted as `@id`, never a ping.
    shown = "@U123" if typed == "<@U123>" else typed
    assert quoted(f"zz {shown}").search(slack_shows(text)), text
    assert "<!channel>" not in text and "<@U123>" not in text
    assert not [span for span in formatted(text) if typed.strip("*_~`") in span], text


@pytest.mark.parametrize(("typed", "shown"), CLEANED)
async def test_control_and_bidi_characters_are_removed(
    server: SlackServer, engine: Engine, typed: str, shown: str
) -> None:
    seed(engine)
    text = await account_reply(server, f"zz {typed}")
    assert quoted(f"zz {shown}").search(text), text


async def test_ten_thousand_characters_are_clipped_within_slack_limits(
    server: SlackServer, engine: Engine
) -> None:
    seed(engine)
    text = await account_reply(server, "zz " + "<*>" * 3334)
    assert len(text) <= 3000 and "200" in text  # names are at most 200 characters
    assert "<" not in text and "*>" not in text


async def test_the_mention_token_is_a_slack_mention(server: SlackServer, engine: Engine) -> None:
    text = await account_reply(server, "role <@UCS|aiko> cs", name="/kakehashi")
    assert text == "<@UCS> の役割を *カスタマーサクセス* にしました。"
    assert MENTION_OPEN not in text and MENTION_CLOSE not in text


@pytest.mark.parametrize("typed", TYPED)
def test_typed_markup_reaches_the_shell_as_typed(shell: ShellSession, typed: str) -> None:
    printed = shell.run(f"/account zz {typed}")
    assert quoted(f"zz {typed}").search(printed), printed


@pytest.mark.parametrize(("typed", "shown"), CLEANED)
def test_the_shell_removes_control_and_bidi_characters(
    shell: ShellSession, typed: str, shown: str
) -> None:
    assert quoted(f"zz {shown}").search(shell.run(f"/account zz {typed}"))


def test_the_shell_answers_ten_thousand_characters_with_a_clear_message(
    shell: ShellSession,
) -> None:
    echoed, answer = shell.run("/account zz " + "<*>" * 3334).split("\n", 1)
    assert echoed.startswith("» /account zz <*>")
    assert "longer than 200 characters" in answer and "<*>" not in answer


def test_the_mention_token_is_a_name_in_the_shell(shell: ShellSession) -> None:
    printed = shell.run(":as kenji", "/kakehashi role @aiko manager")
    assert "@aiko" in printed and MENTION_OPEN not in printed and "<@" not in printed


def test_slack_rendering_of_each_part() -> None:
    markup = Safe("> *Bold* & `code`\n• ") + escape("*x* <@U1> & > q") + " " + mention("U09")
    assert mrkdwn(markup, 3000) == (
        "> *Bold* &amp; `code`\n• *\u200bx*\u200b &lt;@U1&gt; &amp; &gt; q <@U09>"
    )
    assert mrkdwn(escape("> typed\n> lines"), 3000) == "\u200b&gt; typed\n\u200b&gt; lines"
    assert mrkdwn(escape("America/New_York"), 3000) == "America/New_York"
    assert mrkdwn(escape("<" * 10), 12) == "&lt;&lt;…"


MRKDWN_ESCAPING = re.compile(r"&(lt|gt|amp);|<@[A-Za-z{(]|<![a-z]")


def test_no_mrkdwn_escaping_outside_bot() -> None:
    found = [
        (str(path.relative_to(ROOT)), line.strip())
        for package in ("commands", "jobs", "storage")
        for path in sorted((ROOT / package).rglob("*"))
        if path.suffix in (".py", ".po") and "migrations" not in path.parts
        for line in path.read_text(encoding="utf-8").splitlines()
        if MRKDWN_ESCAPING.search(line)
    ]
    assert not found, found


def test_lists_end_with_and_n_more_within_the_adapters_room(session: Session) -> None:
    ctx = context(session, "en")
    lines = [escape(f"<{n}> owner") for n in range(200)]
    slack = portfolio.within(replace(ctx, room=blockkit.ROOM), "*Owners*", lines)
    rendered = mrkdwn(slack, 1_000_000)
    more = re.search(r"\n…and (\d+) more$", rendered)
    assert more and len(rendered) <= 3000  # rendered unclipped: the list itself stopped short
    assert rendered.count(" owner") + int(more[1]) == 200
    roomy = portfolio.within(replace(ctx, room=Room()), "*Owners*", lines)
    assert roomy.count("\n") == 200 and not roomy.endswith("more")
