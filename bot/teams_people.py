"""Teams people as the handlers meet them: who sent an activity, their name, language and time
zone as their Teams client says, their conversation reference, and names for mentions."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot import adaptivecards as cards
from bot.runtime import Runtime
from bot.teams_markup import Names
from bot.teams_text import locale_of, zone_of
from commands.i18n import Translator
from storage import people
from storage.people import Person


def user_id_of(activity: dict[str, Any]) -> str:
    sender = activity.get("from") or {}
    return str(sender.get("aadObjectId") or sender.get("id") or "")


def channel_of(activity: dict[str, Any]) -> str | None:
    """The conversation, without a channel thread's `;messageid=`."""
    conversation = str((activity.get("conversation") or {}).get("id") or "")
    return conversation.split(";")[0] or None


def reference_of(activity: dict[str, Any]) -> dict[str, Any]:
    """Enough to answer again later (a request taken up again after a crash)."""
    conversation = activity.get("conversation") or {}
    return {
        "serviceUrl": activity.get("serviceUrl"),
        "conversation": {k: conversation.get(k) for k in ("id", "conversationType", "tenantId")},
        "user": {k: (activity.get("from") or {}).get(k) for k in ("id", "aadObjectId", "name")},
    }


def remember_sender(runtime: Runtime, activity: dict[str, Any]) -> str:
    """The person's name, language and time zone as their Teams client says (so the
    directory is asked only about someone new), and their conversation reference."""
    user_id = user_id_of(activity)
    sender = activity.get("from") or {}
    with runtime.session() as session:
        person = runtime.person(session, user_id)  # on the runtime's platform: Teams
        person.name = str(sender.get("name") or person.name or "")[:200]
        person.locale = locale_of(activity, person.locale or runtime.settings.locale)
        person.tz = zone_of(activity) or person.tz
        person.profile_fetched_at = runtime.clock.now()
        session.add(person)
        remember(session, user_id, reference_of(activity), runtime.directory.platform)
    return user_id


TEAMS = "teams"
"""The platform of Teams people (`people.platform`)."""


def teams_person(session: Session, user_id: str, platform: str = TEAMS) -> Person | None:
    """A Teams person's row (the Teams runtime's directory says `platform = "teams"`, so
    `Runtime.person` creates Teams rows)."""
    return people.get_by_user_id(session=session, user_id=user_id, platform=platform)


def remember(
    session: Session, platform_user_id: str, reference: dict[str, Any], platform: str = TEAMS
) -> None:
    """Keeps the person's conversation reference (`Person.delivery_ref`) for the outbox: a
    personal chat's replaces the one kept; a channel's keeps the personal chat already known,
    or names none (`id` None: the outbox opens one with the person), never the channel itself.
    """
    person = teams_person(session, platform_user_id, platform)
    if person is None:
        return
    kept = dict(person.delivery_ref or {}).get("conversation") or {}
    conversation = reference.get("conversation") or {}
    if conversation.get("conversationType") != "personal":
        conversation = (
            kept
            if kept.get("conversationType") == "personal"
            else {
                "id": None,
                "conversationType": None,
                "tenantId": conversation.get("tenantId"),
            }
        )
    person.delivery_ref = {**reference, "conversation": conversation}
    session.add(person)


def translator(runtime: Runtime, user_id: str) -> Translator:
    with runtime.session() as session:
        person = teams_person(session, user_id, runtime.directory.platform)
        if person is None:
            return Translator(runtime.settings.locale)
        return runtime.translator_for(person)


def more_line(t: Translator) -> cards.More:
    return lambda count: t("teams.more", count=count)


def names_for(runtime: Runtime) -> Names:
    """A mention token's key → (Entra object id, name), for the Teams people Kakehashi knows
    (their key is the `aadObjectId` Teams gave)."""
    found: dict[str, tuple[str, str] | None] = {}

    def lookup(key: str) -> tuple[str, str] | None:
        if key not in found:
            with runtime.session() as session:
                person = teams_person(session, key)
                found[key] = (key, person.name or key) if person is not None else None
        return found[key]

    return lookup
