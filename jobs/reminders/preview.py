"""What a reminder sweep would send, as an operator reads it (`kakehashi jobs preview`)."""

from __future__ import annotations

from jobs.reminders.due import Occurrence
from storage.people import Person
from storage.reminders import Reminder


def who(person: Person) -> str:
    return f"@{person.name} ({person.user_id})" if person.name else person.user_id


def previewed(item: Occurrence | Reminder, names: dict[int | None, str]) -> str:
    """A reminder as an operator reads it: which kind and occurrence, about which account."""
    parts = [f"{item.kind} {item.detail}".strip(), names.get(item.account_id, "")]
    if item.promise_id is not None:
        parts.append(f"P-{item.promise_id}")
    return " · ".join(part for part in parts if part)
