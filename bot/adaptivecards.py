"""Neutral messages, views and forms → Adaptive Cards 1.5 (like `bot.blockkit` for Slack), and a
submitted dialog's data → form values.

Cards are built from the SDK's typed models (`microsoft_teams.cards`) and handed over as dicts.
What a button or dialog hands back to the bot sits under the `kk` key of its data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from microsoft_teams.cards.core import (
    Action,
    ActionSet,
    AdaptiveCard,
    CardElement,
    Choice,
    ChoiceSetInput,
    DateInput,
    ExecuteAction,
    Mention,
    MentionedEntity,
    NumberInput,
    QueryData,
    SubmitAction,
    TeamsCardProperties,
    TextBlock,
    TextInput,
)

from bot.teams_markup import Names, Rendered
from bot.teams_markup import as_plain as plain_text
from bot.teams_markup import render as to_markdown
from commands import ui
from commands.text import clip

KEY = "kk"
"""Where a card's own data travels in an action's data (input ids never use it)."""
CARD_BYTES = 28_000
"""Budget of a serialized card: Teams' limit for a channel post (a message may be ~100 KB)."""
TEXT = 5000
"""Characters of one text block; more is cut with an ellipsis."""
ROOM = ui.Room(section=TEXT)
"""What one section may hold on Teams (`Runtime.room` of the Teams runtime)."""
REFRESH = "teams.home.refresh"
"""The welcome card's Refresh button (the adapter's own, not a command's)."""
PEOPLE = "graph.microsoft.com/users"
_STYLES = {ui.Style.PRIMARY: "positive", ui.Style.DANGER: "destructive"}

More = Callable[[int], str]
"""How many blocks were left out → the line saying so (through the catalog)."""


def card(message: ui.Message, names: Names, more: More) -> dict[str, Any]:
    """A message as a card within the size budget: blocks that do not fit are left out, and a
    last line says how many."""
    return _fit(list(message.blocks), names, more, fallback=plain_text(message.text))


def home_card(view: ui.View, names: Names, more: More, refresh_label: str) -> dict[str, Any]:
    """The personal overview (Slack's Home tab) with a Refresh button."""
    refresh = ui.Actions((ui.Button(refresh_label, REFRESH),))
    return _fit([*view.blocks, refresh], names, more, fallback="", home=True)


def launcher_card(
    intro: str, label: str, names: Names, *, opener: dict[str, str]
) -> dict[str, Any]:
    """One button that opens a form (Teams opens dialogs only from a card); `opener` is what
    opened it: `{"c": command, "t": text}` or `{"a": action id, "v": value}`."""
    data = {KEY: opener}
    button = SubmitAction(title=_label(label), data=_task_fetch(data), style="positive")
    body = [_text_block(to_markdown(intro, names), [])] if intro else []
    return _dump(body, [button], [], fallback=plain_text(intro))


def _fit(
    blocks: list[ui.Block], names: Names, more: More, *, fallback: str, home: bool = False
) -> dict[str, Any]:
    mentions: list[tuple[str, str]] = []
    body: list[CardElement] = []
    for index, block in enumerate(blocks):
        seen = list(mentions)
        trial = body + _element(block, names, seen, home)
        if _size(_dump(trial, [], seen, fallback)) > CARD_BYTES - 1000:
            note = _text_block(to_markdown(more(len(blocks) - index), names), [], subtle=True)
            return _dump([*body, note], [], mentions, fallback)
        body, mentions = trial, seen
    return _dump(body, [], mentions, fallback)


def _element(
    block: ui.Block, names: Names, mentions: list[tuple[str, str]], home: bool = False
) -> list[CardElement]:
    match block:
        case ui.Header(text):
            return [TextBlock(text=_label(text), weight="Bolder", size="Medium", wrap=True)]
        case ui.Section(text, fields):
            parts = [text, *fields] if text else list(fields)
            return [_text_block(to_markdown(p, names), mentions) for p in parts]
        case ui.Note(text):
            return [_text_block(to_markdown(text, names), mentions, subtle=True)]
        case ui.Divider():
            return [TextBlock(text=" ", separator=True, spacing="Medium")]
        case ui.Actions(buttons):
            return [ActionSet(id=block.block_id, actions=[_button(b, home) for b in buttons[:6]])]
    raise TypeError(f"not a block: {block!r}")


def _text_block(
    rendered: Rendered, mentions: list[tuple[str, str]], *, subtle: bool = False
) -> TextBlock:
    mentions.extend(rendered.mentions)
    return TextBlock(
        text=clip(rendered.text, TEXT),
        wrap=True,
        is_subtle=subtle or None,
        size="Small" if subtle else None,
    )


def _button(button: ui.Button, home: bool) -> Action:
    """`h`: pressed on the personal overview, which is drawn again (as Slack's Home tab)."""
    data: dict[str, Any] = {
        KEY: {"a": button.action_id, "v": button.value} | ({"h": 1} if home else {})
    }
    style = _STYLES.get(button.style) if button.style else None
    if button.opens_form:
        return SubmitAction(title=_label(button.label), data=_task_fetch(data), style=style)
    return ExecuteAction(title=_label(button.label), verb=button.action_id, data=data, style=style)


def _task_fetch(data: dict[str, Any]) -> dict[str, Any]:
    return {"msteams": {"type": "task/fetch"}, **data}


def _label(markup: str) -> str:
    """Titles and labels are not markdown: shown as typed."""
    return clip(plain_text(markup), 200) or " "


def _dump(
    body: Sequence[CardElement],
    actions: Sequence[Action],
    mentions: list[tuple[str, str]],
    fallback: str,
) -> dict[str, Any]:
    entities = [
        Mention(text=f"<at>{name}</at>", mentioned=MentionedEntity(id=aad, name=name))
        for aad, name in dict.fromkeys(mentions)
    ]
    model = AdaptiveCard(
        version="1.5",
        body=list(body),
        actions=list(actions) or None,
        fallback_text=clip(fallback, 500) or None,
        msteams=TeamsCardProperties(width="full", entities=entities or None),
    )
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _size(rendered: dict[str, Any]) -> int:
    return len(json.dumps(rendered, ensure_ascii=False).encode("utf-8"))


# ---- dialogs ------------------------------------------------------------------------------


def dialog(
    form: ui.Form,
    names: Names,
    *,
    channel_id: str | None = None,
    values: ui.FormValues | None = None,
    errors: dict[str, str] | None = None,
    opener: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A form as a dialog's card: typed `values` kept, each error under its field. `opener`
    (what opened it: a command or a button) comes back on submit, to draw it again."""
    if values:
        form = replace(form, fields=tuple(_keep(f, values) for f in form.fields))
    body: list[CardElement] = []
    mentions: list[tuple[str, str]] = []
    if form.intro:
        body.append(_text_block(to_markdown(form.intro, names), mentions))
    for field in form.fields:
        body.append(_input(field))
        if field.hint:
            body.append(TextBlock(text=_label(field.hint), wrap=True, is_subtle=True, size="Small"))
        if errors and field.id in errors:
            body.append(TextBlock(text=_label(errors[field.id]), wrap=True, color="Attention"))
    data = {KEY: {"f": form.callback_id, "m": form.metadata, "ch": channel_id, "o": opener}}
    submit = SubmitAction(title=_label(form.submit), data=data, style="positive")
    return _dump(body, [submit], mentions, fallback=plain_text(form.title))


def _keep(field: ui.FormField, values: ui.FormValues) -> ui.FormField:
    return replace(field, initial=values.get(field.id)) if field.id in values else field


def _input(field: ui.FormField) -> CardElement:
    label, required, initial = _label(field.label), field.required or None, field.initial or None
    common: dict[str, Any] = {"id": field.id, "label": label, "is_required": required}
    match field.kind:
        case ui.FieldKind.DATE:
            return DateInput(**common, value=initial)
        case ui.FieldKind.NUMBER:
            return NumberInput(**common, value=_number(initial))
        case ui.FieldKind.SELECT:
            choices = [Choice(title=_label(text), value=v) for v, text in field.options]
            return ChoiceSetInput(**common, choices=choices, value=initial, style="compact")
        case ui.FieldKind.USER:
            people = QueryData(dataset=PEOPLE, count=25)
            return ChoiceSetInput(
                **common, choices=[], choices_data=people, value=initial, style="filtered"
            )
    return TextInput(
        **common,
        value=clip(initial, field.max_length) if initial else None,
        is_multiline=field.kind == ui.FieldKind.MULTILINE or None,
        max_length=field.max_length,
    )


def _number(initial: str | None) -> float | None:
    try:
        return float(initial) if initial else None
    except ValueError:
        return None


def dialog_title(form: ui.Form) -> str:
    return clip(plain_text(form.title), 100) or " "


def read_submission(data: dict[str, Any]) -> tuple[str, str, str | None, ui.FormValues]:
    """A dialog's submitted data → (callback id, metadata, channel, values); empty inputs read
    as None; `ValueError` when it is not one of ours."""
    own = data.get(KEY)
    if not isinstance(own, dict) or not isinstance(own.get("f"), str):
        raise ValueError("not a Kakehashi dialog")
    values: ui.FormValues = {}
    for key, value in data.items():
        if key in (KEY, "msteams"):
            continue
        text = value if isinstance(value, str) else str(value) if value is not None else ""
        values[str(key)] = text if text.strip() else None
    channel = own.get("ch")
    return own["f"], str(own.get("m") or ""), str(channel) if channel else None, values
