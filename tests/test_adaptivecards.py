"""Neutral messages and forms as Adaptive Cards: structure, size budget, and typed text shown as
typed (no snapshots: each test names what must hold)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from microsoft_teams.cards.core import AdaptiveCard

from bot import adaptivecards as cards
from bot.teams_markup import WORD_JOINER
from bot.teams_markup import render as to_markdown
from commands import ui
from commands.i18n import Translator
from commands.markup import mention
from commands.text import escape

AIKO = "0f6a3b2c-1111-4222-8333-944445555666"


def token_for(key: str) -> str:
    """A person's mention token in the neutral markup."""
    return str(mention(key))


def names(key: str) -> tuple[str, str] | None:
    return (AIKO, "Aiko") if key == AIKO else None


def more(count: int) -> str:
    return Translator("en")("teams.more", count=count)


def texts(card: dict[str, Any]) -> list[str]:
    return [e["text"] for e in card["body"] if e["type"] == "TextBlock"]


def test_blocks_become_text_blocks_and_buttons_actions() -> None:
    message = ui.Message(
        text="summary",
        blocks=(
            ui.Header("Handoff *P-1*"),
            ui.Section("*Initech* for " + token_for(AIKO), ("*Plan*\nEnterprise",)),
            ui.Note("small print"),
            ui.Divider(),
            ui.Actions(
                (
                    ui.Button("Accept", "handoff_accept", "7", ui.Style.PRIMARY),
                    ui.Button("Ask a question", "handoff_ask", "7", opens_form=True),
                )
            ),
        ),
    )
    card = cards.card(message, names, more)
    AdaptiveCard.model_validate(card)  # the SDK's own model reads it back
    assert card["version"] == "1.5" and card["fallbackText"] == "summary"
    header, section, field, note, divider, actions = card["body"]
    assert header["text"] == "Handoff P-1" and header["weight"] == "Bolder"
    assert section["text"] == "**Initech** for <at>Aiko</at>"
    assert field["text"] == "**Plan**\n\nEnterprise"
    assert note["isSubtle"] is True and divider["separator"] is True
    accept, ask = actions["actions"]
    assert accept == {
        "type": "Action.Execute",
        "title": "Accept",
        "style": "positive",
        "verb": "handoff_accept",
        "data": {"kk": {"a": "handoff_accept", "v": "7"}},
    }
    assert ask["type"] == "Action.Submit"
    assert ask["data"] == {"msteams": {"type": "task/fetch"}, "kk": {"a": "handoff_ask", "v": "7"}}
    mention = card["msteams"]["entities"][0]
    assert mention["text"] == "<at>Aiko</at>" and mention["mentioned"]["id"] == AIKO


def test_opens_form_survives_the_outbox() -> None:
    message = ui.Message("x", (ui.Actions((ui.Button("Ask", "a", "1", opens_form=True),)),))
    again = ui.message_from_json(json.loads(json.dumps(ui.message_to_json(message))))
    assert again == message


@pytest.mark.parametrize(
    "typed",
    [
        "<at>Aiko</at>",
        "<b>bold</b><script>alert(1)</script>",
        json.dumps({"type": "AdaptiveCard", "body": [{"type": "Action.Execute"}]}),
        "**x** _y_ [link](http://evil.example) `code` # head",
        "a\x00b\u202eevil",
        "x" * 10_000,
    ],
)
def test_typed_text_stays_text(typed: str) -> None:
    card = cards.card(ui.Message.plain("Note: " + escape(typed)), names, more)
    (shown,) = texts(card)
    assert "msteams" not in card or "entities" not in card["msteams"]  # no mention made
    assert "<at>" not in shown and "<b>" not in shown and "<script" not in shown
    assert "**x**" not in shown and "[link](" not in shown
    assert "\x00" not in shown and "\u202e" not in shown
    assert len(json.dumps(card).encode()) <= cards.CARD_BYTES


def test_typed_markdown_is_escaped_not_dropped() -> None:
    rendered = to_markdown(escape("**x** & <at>"), names)
    assert rendered.text == "\\*\\*x\\*\\* & <" + WORD_JOINER + "at>"
    assert rendered.mentions == []


def test_long_lists_end_with_and_n_more_within_the_budget() -> None:
    blocks = tuple(ui.Section(f"*Account {i}*\n" + "y" * 900) for i in range(60))
    card = cards.card(ui.Message("list", blocks), names, more)
    size = len(json.dumps(card, ensure_ascii=False).encode())
    assert size <= cards.CARD_BYTES
    shown = texts(card)
    kept = len(shown) - 1
    assert 0 < kept < 60 and shown[-1] == f"…and {60 - kept} more"


def test_japanese_and_more_in_japanese() -> None:
    t = Translator("ja")
    blocks = tuple(ui.Section("株式会社ＡＣＭＥ 🎉 " + "あ" * 900) for _ in range(40))
    card = cards.card(ui.Message("一覧", blocks), names, lambda n: t("teams.more", count=n))
    assert texts(card)[-1].startswith("…ほか") and texts(card)[0].startswith("株式会社ＡＣＭＥ 🎉")


FORM = ui.Form(
    callback_id="handoff_form",
    title="Hand off a customer",
    submit="Hand off",
    intro="Record *facts*, not impressions.",
    metadata="m1",
    fields=(
        ui.FormField("account", "Account name", initial="ACME"),
        ui.FormField("cs_owner", "CS owner", ui.FieldKind.USER),
        ui.FormField("touch", "Touch model", ui.FieldKind.SELECT, options=(("high", "High"),)),
        ui.FormField("amount", "Value", ui.FieldKind.NUMBER, required=False, hint="per year"),
        ui.FormField("start", "Start", ui.FieldKind.DATE),
        ui.FormField("goals", "Goals", ui.FieldKind.MULTILINE, max_length=3000),
    ),
)


def test_form_as_dialog_inputs() -> None:
    card = cards.dialog(FORM, names, channel_id="19:c", opener={"c": "handoff", "t": "ACME"})
    AdaptiveCard.model_validate(card)
    inputs = {e["id"]: e for e in card["body"] if e["type"].startswith("Input.")}
    assert [e["type"] for e in inputs.values()] == [
        "Input.Text",
        "Input.ChoiceSet",
        "Input.ChoiceSet",
        "Input.Number",
        "Input.Date",
        "Input.Text",
    ]
    assert inputs["account"]["value"] == "ACME" and inputs["account"]["isRequired"] is True
    assert inputs["cs_owner"]["choices.data"] == {
        "type": "Data.Query",
        "dataset": "graph.microsoft.com/users",
        "count": 25.0,
    }
    assert inputs["touch"]["choices"] == [{"title": "High", "value": "high"}]
    assert inputs["goals"]["isMultiline"] is True and "isRequired" not in inputs["amount"]
    (submit,) = card["actions"]
    assert submit["data"]["kk"] == {
        "f": "handoff_form",
        "m": "m1",
        "ch": "19:c",
        "o": {"c": "handoff", "t": "ACME"},
    }


def test_dialog_errors_under_fields_and_values_kept() -> None:
    typed: ui.FormValues = {"account": "<at>x</at> 全角", "start": "2026-12-01", "amount": "-5"}
    card = cards.dialog(FORM, names, values=typed, errors={"amount": "Must be *positive*"})
    body = card["body"]
    at = next(i for i, e in enumerate(body) if e.get("id") == "amount")
    assert body[at + 1]["text"] == "per year"  # the hint, then the error
    assert body[at + 2] == {
        "type": "TextBlock",
        "text": "Must be positive",
        "color": "Attention",
        "wrap": True,
    }
    inputs = {e["id"]: e for e in body if "id" in e}
    assert inputs["account"]["value"] == "<at>x</at> 全角"  # an input's value is never markup
    assert inputs["start"]["value"] == "2026-12-01" and inputs["amount"]["value"] == -5.0


def test_read_submission() -> None:
    data = {
        "kk": {"f": "handoff_form", "m": "m1", "ch": None},
        "msteams": {"type": "task/submit"},
        "account": " ",
        "amount": 5,
        "goals": "g",
    }
    assert cards.read_submission(data) == (
        "handoff_form",
        "m1",
        None,
        {"account": None, "amount": "5", "goals": "g"},
    )
    with pytest.raises(ValueError):
        cards.read_submission({"account": "x"})
