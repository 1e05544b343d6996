"""Platform-neutral messages, forms and outcomes.

Commands and jobs build these; each adapter renders them (Slack: Block Kit, shell: text, later
Teams: Adaptive Cards). Text fields hold the shared markup of `commands.text`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from commands.markup import width


class Style(StrEnum):
    PRIMARY = "primary"
    DANGER = "danger"


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str
    value: str = ""
    style: Style | None = None
    opens_form: bool = False
    """Its handler answers with a form (Teams: the button opens a dialog, not a refresh)."""


@dataclass(frozen=True)
class Header:
    text: str


@dataclass(frozen=True)
class Section:
    text: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Note:
    """Small print under a section (Slack: a context block)."""

    text: str


@dataclass(frozen=True)
class Divider:
    pass


@dataclass(frozen=True)
class Actions:
    buttons: tuple[Button, ...]
    block_id: str | None = None


Block = Header | Section | Note | Divider | Actions


@dataclass(frozen=True)
class Message:
    text: str
    """Plain summary for notifications and screen readers."""
    blocks: tuple[Block, ...] = ()

    @classmethod
    def plain(cls, markup: str) -> Message:
        """A one-section message."""
        return cls(text=markup, blocks=(Section(markup),))


@dataclass(frozen=True)
class View:
    """A screen of its own rather than a message (Slack: the App Home tab)."""

    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Room:
    """How much one message may hold, as the adapter says (Slack: Block Kit's limits; the
    shell: plenty). Long lists end with "and N more" within it."""

    section: int = 100_000
    """Rendered characters in one section."""
    field: int = 100_000
    """Rendered characters in one of a section's short fields."""
    blocks: int = 1_000
    """Blocks in one message."""
    measure: Callable[[str], int] = width
    """How long a piece of markup is once the adapter renders it."""


class FieldKind(StrEnum):
    TEXT = "text"
    MULTILINE = "multiline"
    USER = "user"
    SELECT = "select"
    DATE = "date"
    NUMBER = "number"


@dataclass(frozen=True)
class FormField:
    id: str
    label: str
    kind: FieldKind = FieldKind.TEXT
    required: bool = True
    initial: str | None = None
    hint: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    """(value, label) pairs for SELECT."""
    max_length: int = 3000


@dataclass(frozen=True)
class Form:
    callback_id: str
    title: str
    submit: str
    fields: tuple[FormField, ...]
    intro: str | None = None
    metadata: str = ""
    """Opaque state handed back on submit (Slack: private_metadata)."""


FormValues = dict[str, str | None]


@dataclass
class Outcome:
    """What a command, button or form submission produced for the person who used it."""

    reply: Message | None = None
    """Shown only to the person who acted; the adapter decides how (Slack: an ephemeral
    message through `response_url`, or a DM from the Home tab; shell: printed; Teams: a
    targeted message or the personal chat). Never seen by the rest of a channel."""
    form: Form | None = None
    replace_original: Message | None = None
    """The message whose button was pressed, redrawn in place for everyone who sees it."""
    errors: dict[str, str] = field(default_factory=dict)
    """Form submissions only: field id → message shown on the field; nothing was saved."""
    home_changed: frozenset[str] = frozenset()
    """User ids (as the adapter gave them) whose Home tab shows data this request changed (set
    by the runtime)."""
    request_id: int | None = None
    """The acknowledged request this answers (`storage.acknowledged`; set by the runtime)."""


# ---- storage form: the outbox keeps messages platform-neutral as JSON ----------------------

_BLOCKS: dict[str, type] = {
    "header": Header,
    "section": Section,
    "note": Note,
    "divider": Divider,
    "actions": Actions,
}
_NAMES = {cls: name for name, cls in _BLOCKS.items()}


def message_to_json(message: Message) -> dict[str, object]:
    return {"text": message.text, "blocks": [_block_to_json(b) for b in message.blocks]}


def answer_to_json(outcome: Outcome) -> dict[str, object]:
    """What an outcome owes the person once its request is done: a form cannot be opened
    later (its trigger lasts seconds), the rest can."""
    return {
        "reply": message_to_json(outcome.reply) if outcome.reply else None,
        "replace_original": (
            message_to_json(outcome.replace_original) if outcome.replace_original else None
        ),
        "home_changed": sorted(outcome.home_changed),
    }


def answer_from_json(data: dict[str, Any], request_id: int) -> Outcome:
    reply, replace = data.get("reply"), data.get("replace_original")
    return Outcome(
        reply=message_from_json(reply) if reply else None,
        replace_original=message_from_json(replace) if replace else None,
        home_changed=frozenset(data.get("home_changed") or ()),
        request_id=request_id,
    )


def message_from_json(data: dict[str, object]) -> Message:
    blocks = data.get("blocks") or []
    assert isinstance(blocks, list)
    return Message(
        text=str(data.get("text") or ""), blocks=tuple(_block_from_json(b) for b in blocks)
    )


def _block_to_json(block: Block) -> dict[str, object]:
    match block:
        case Header(text) | Note(text):
            return {"type": _NAMES[type(block)], "text": text}
        case Section(text, fields):
            return {"type": "section", "text": text, "fields": list(fields)}
        case Divider():
            return {"type": "divider"}
        case Actions(buttons, block_id):
            return {
                "type": "actions",
                "block_id": block_id,
                "buttons": [
                    {
                        "label": b.label,
                        "action_id": b.action_id,
                        "value": b.value,
                        "style": b.style.value if b.style else None,
                        **({"opens_form": True} if b.opens_form else {}),
                    }
                    for b in buttons
                ],
            }
    raise TypeError(f"not a block: {block!r}")


def _block_from_json(data: dict[str, object]) -> Block:
    kind = data["type"]
    if kind in ("header", "note"):
        return _BLOCKS[str(kind)](str(data["text"]))  # type: ignore[no-any-return]
    if kind == "section":
        fields = data.get("fields") or []
        assert isinstance(fields, list)
        return Section(str(data["text"]), tuple(str(f) for f in fields))
    if kind == "divider":
        return Divider()
    buttons = data.get("buttons") or []
    assert isinstance(buttons, list)
    return Actions(
        tuple(
            Button(
                label=b["label"],
                action_id=b["action_id"],
                value=b.get("value") or "",
                style=Style(b["style"]) if b.get("style") else None,
                opens_form=bool(b.get("opens_form")),
            )
            for b in buttons
        ),
        block_id=str(data["block_id"]) if data.get("block_id") else None,
    )
