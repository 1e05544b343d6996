"""The neutral markup as Teams markdown: typed text shown as typed, mentions as `<at>`."""

from __future__ import annotations

import pytest

from bot import adaptivecards as cards
from bot.teams_markup import WORD_JOINER, render
from commands import markup, ui

AIKO = "0f6a3b2c-1111-4222-8333-944445555666"


def names(key: str) -> tuple[str, str] | None:
    return (AIKO, "Aiko_Sato") if key == AIKO else None


def test_bot_markup_becomes_markdown_and_mentions_entities() -> None:
    text = markup.Safe("*Initech* for ") + markup.mention(AIKO) + markup.Safe("\n• one")
    rendered = render(text, names)
    assert rendered.text == "**Initech** for <at>Aiko\\_Sato</at>\n\n• one"
    assert rendered.mentions == [(AIKO, "Aiko\\_Sato")]


def test_bot_built_link() -> None:
    link = markup.link("https://example.com/a", markup.escape("Deal [1]"))
    assert render(link, names).text == "[Deal \\[1\\]](https://example.com/a)"


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("**x**", "\\*\\*x\\*\\*"),
        ("<at>Aiko</at>", f"<{WORD_JOINER}at>Aiko<{WORD_JOINER}/at>"),
        ("[a](http://evil)", "\\[a\\](http://evil)"),
        ("a\x00b\u202ec", "abc"),
        ("- item\n# head", "\\- item\n\n\\# head"),
    ],
)
def test_typed_text_shown_as_typed(typed: str, shown: str) -> None:
    rendered = render(markup.escape(typed), names)
    assert rendered.text == shown and rendered.mentions == []


def test_a_card_of_typed_json_and_a_mention() -> None:
    typed = markup.escape('{"type": "AdaptiveCard", "body": []} <at>x</at>')
    card = cards.card(ui.Message.plain(markup.mention(AIKO) + " " + typed), names, str)
    (block,) = card["body"]
    assert block["text"].startswith('<at>Aiko\\_Sato</at> {"type"')
    assert [e["mentioned"]["id"] for e in card["msteams"]["entities"]] == [AIKO]
