"""Neutral messages and forms → Slack Block Kit, and a submitted view's state → form values."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.slack_markup import MRKDWN, mrkdwn, plain_text
from commands import ui
from commands.text import clip

VALUE = "value"
"""Every input's action id: each input sits in its own block, named after the field."""

# Block Kit's limits; a composer that forgot one loses a few characters, not the whole message.
SECTION_TEXT, FIELD_TEXT, HEADER_TEXT, BUTTON_TEXT, TITLE_TEXT = 3000, 2000, 150, 75, 24
INPUT_TEXT = 3000
MESSAGE_BLOCKS, HOME_BLOCKS = 50, 100

ROOM = ui.Room(
    section=SECTION_TEXT,
    field=FIELD_TEXT,
    blocks=MESSAGE_BLOCKS,
    measure=lambda markup: len(MRKDWN(markup)),
)
"""What the core may put in one section of a Slack message, measured as Slack will get it."""


def blocks(message: ui.Message) -> list[dict[str, Any]]:
    return [_block(b) for b in message.blocks[:MESSAGE_BLOCKS]]


def home(view: ui.View) -> dict[str, Any]:
    """A Home tab (`views.publish`): up to 100 blocks."""
    return {"type": "home", "blocks": [_block(b) for b in view.blocks[:HOME_BLOCKS]]}


def message_kwargs(message: ui.Message) -> dict[str, Any]:
    return {"text": mrkdwn(message.text, SECTION_TEXT), "blocks": blocks(message)}


def _block(block: ui.Block) -> dict[str, Any]:
    """A block as the JSON Slack takes, written directly: building slack_sdk's block objects
    and converting them was most of a card's rendering (bench/RESULTS.md, benchmark 1)."""
    match block:
        case ui.Header(text):
            return {"type": "header", "text": _plain_object(text, HEADER_TEXT)}
        case ui.Section(text, fields):
            section: dict[str, Any] = {"type": "section"}
            if text:
                section["text"] = _mrkdwn_object(text, SECTION_TEXT)
            if fields:
                section["fields"] = [_mrkdwn_object(f, FIELD_TEXT) for f in fields[:10]]
            return section
        case ui.Note(text):
            return {"type": "context", "elements": [_mrkdwn_object(text, SECTION_TEXT)]}
        case ui.Divider():
            return {"type": "divider"}
        case ui.Actions(buttons, block_id):
            actions: dict[str, Any] = {"type": "actions"}
            if block_id:
                actions["block_id"] = block_id
            actions["elements"] = [_button(b) for b in buttons[:25]]
            return actions
    raise TypeError(f"not a block: {block!r}")


def _button(button: ui.Button) -> dict[str, Any]:
    element = {
        "type": "button",
        "text": _plain_object(button.label, BUTTON_TEXT),
        "action_id": button.action_id,
    }
    if button.value:
        element["value"] = button.value
    if button.style:
        element["style"] = button.style.value
    return element


def _mrkdwn_object(markup: str, limit: int) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": mrkdwn(markup, limit)}


def _plain_object(markup: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _plain(markup, limit)}


def _plain(markup: str, limit: int) -> str:
    """Plain-text objects are not mrkdwn: Slack shows them as typed."""
    return plain_text(markup, limit) or " "


def modal(form: ui.Form, *, channel_id: str | None = None) -> dict[str, Any]:
    intro: list[Block] = (
        [SectionBlock(text=MarkdownTextObject(text=mrkdwn(form.intro, SECTION_TEXT)))]
        if form.intro
        else []
    )
    view = View(
        type="modal",
        callback_id=form.callback_id,
        title=PlainTextObject(text=_plain(form.title, TITLE_TEXT)),
        submit=PlainTextObject(text=_plain(form.submit, TITLE_TEXT)),
        private_metadata=json.dumps({"m": form.metadata, "c": channel_id}),
        blocks=[*intro, *(_input(f) for f in form.fields)],
    )
    return view.to_dict()


def read_metadata(private_metadata: str) -> tuple[str, str | None]:
    """(the form's own metadata, the channel it was opened from)."""
    try:
        data = json.loads(private_metadata or "{}")
    except json.JSONDecodeError:
        return "", None
    if not isinstance(data, dict):
        return "", None
    return str(data.get("m") or ""), data.get("c") or None


def _input(field: ui.FormField) -> InputBlock:
    return InputBlock(
        block_id=field.id,
        label=PlainTextObject(text=_plain(field.label, 2000)),
        element=_element(field),
        hint=PlainTextObject(text=_plain(field.hint, 2000)) if field.hint else None,
        optional=not field.required,
    )


def _element(field: ui.FormField) -> Any:
    initial = field.initial or None
    match field.kind:
        case ui.FieldKind.USER:
            return UserSelectElement(action_id=VALUE, initial_user=initial)
        case ui.FieldKind.DATE:
            return DatePickerElement(action_id=VALUE, initial_date=initial)
        case ui.FieldKind.NUMBER:
            return NumberInputElement(
                action_id=VALUE, is_decimal_allowed=True, initial_value=initial
            )
        case ui.FieldKind.SELECT:
            options = [Option(value=v, text=_plain(label, 75)) for v, label in field.options]
            chosen = next((o for o in options if o.value == initial), None)
            return StaticSelectElement(action_id=VALUE, options=options, initial_option=chosen)
    return PlainTextInputElement(
        action_id=VALUE,
        multiline=field.kind == ui.FieldKind.MULTILINE,
        initial_value=clip(initial, INPUT_TEXT) if initial else None,
        max_length=min(field.max_length, INPUT_TEXT),
    )


def read_state(view: dict[str, Any]) -> ui.FormValues:
    """A submitted view's state, one value per field; empty inputs read as None."""
    values: ui.FormValues = {}
    for block_id, actions in view.get("state", {}).get("values", {}).items():
        state = actions.get(VALUE) or {}
        values[block_id] = _state_value(state)
    return values


def _state_value(state: dict[str, Any]) -> str | None:
    kind = state.get("type")
    if kind == "users_select":
        value = state.get("selected_user")
    elif kind == "datepicker":
        value = state.get("selected_date")
    elif kind == "static_select":
        value = (state.get("selected_option") or {}).get("value")
    else:
        value = state.get("value")
    return value if isinstance(value, str) and value.strip() else None
