"""Who may do what (PRODUCT §11): the one place every command and button asks.

- `LISTENERS` names, for every slash command, button and form the adapters register, the
  permissions it exercises (tests/test_policy.py fails when one is missing); the runtime looks
  every request up in it and refuses a listener that is managers-only outright.
- `may` decides; handlers that need the data to decide (is this person the account's owner?)
  call it with `owners`. `refuse` words the refusal, naming who may, and records it in the audit
  trail.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlmodel import Session

from commands.i18n import Translator
from commands.text import Safe, mention
from storage.audit import record
from storage.people import Person, Role, managers, user_ids

if TYPE_CHECKING:
    from commands.context import Context


class Permission(StrEnum):
    LOOK_UP = "look_up"
    """Anyone: help, account cards and lists, promise lists, a channel's agenda schedule and
    preview, one's own Home tab."""
    RECORD = "record"
    """Anyone: log a touch, record a promise, hand a customer off, ask or answer about a
    handoff."""
    SET_ROLE = "set_role"
    VIEW_PORTFOLIO = "view_portfolio"
    """`/portfolio` and the Home tab's portfolio numbers."""
    REASSIGN_CS_OWNER = "reassign_cs_owner"
    CHANGE_ACCOUNT = "change_account"
    """An account's stage or renewal date."""
    ACCEPT_HANDOFF = "accept_handoff"
    """The handoff's CS owner, or a manager."""
    CLOSE_PROMISE = "close_promise"
    """Kept, broken, waived: the account's CS owner, who made the promise, or a manager."""
    ACT_ON_REMINDER = "act_on_reminder"
    """Done, snooze, kept on a reminder: the person it is for, or a manager."""
    MANAGE_SYNC = "manage_sync"
    """A channel's weekly agenda: anyone may set one up; then whoever did, or a manager."""


_MANAGERS_ONLY = {Permission.SET_ROLE, Permission.REASSIGN_CS_OWNER, Permission.VIEW_PORTFOLIO}
_OWNERS_OR_MANAGERS = {
    Permission.CHANGE_ACCOUNT,
    Permission.ACCEPT_HANDOFF,
    Permission.CLOSE_PROMISE,
    Permission.ACT_ON_REMINDER,
    Permission.MANAGE_SYNC,
}
"""Allowed to the people given as `owners` (person ids), and to managers."""
_ANYONE_UNTIL_OWNED = {Permission.MANAGE_SYNC}
"""Allowed to anyone while no one owns the thing (no `owners` given)."""


_ANYONE = {Permission.LOOK_UP, Permission.RECORD}

LISTENERS: dict[str, frozenset[Permission]] = {
    # slash commands
    "/kakehashi": frozenset({Permission.LOOK_UP, Permission.SET_ROLE}),
    "/account": frozenset(
        {Permission.LOOK_UP, Permission.REASSIGN_CS_OWNER, Permission.CHANGE_ACCOUNT}
    ),
    "/handoff": frozenset({Permission.RECORD}),
    "/promise": frozenset({Permission.LOOK_UP, Permission.RECORD, Permission.CLOSE_PROMISE}),
    "/touch": frozenset({Permission.RECORD}),
    "/sync": frozenset({Permission.LOOK_UP, Permission.MANAGE_SYNC}),
    "/portfolio": frozenset({Permission.VIEW_PORTFOLIO}),
    # buttons
    "account.log_touch": frozenset({Permission.RECORD}),
    "account.add_promise": frozenset({Permission.RECORD}),
    "handoff_accept": frozenset({Permission.ACCEPT_HANDOFF}),
    "handoff_ask": frozenset({Permission.RECORD}),
    "handoff_reply": frozenset({Permission.RECORD}),
    "reminders.done": frozenset({Permission.ACT_ON_REMINDER}),
    "reminders.snooze": frozenset({Permission.ACT_ON_REMINDER}),
    "reminders.snooze.today": frozenset({Permission.ACT_ON_REMINDER}),
    "reminders.snooze.tomorrow": frozenset({Permission.ACT_ON_REMINDER}),
    "reminders.snooze.week": frozenset({Permission.ACT_ON_REMINDER}),
    "reminders.back": frozenset({Permission.ACT_ON_REMINDER}),
    "reminders.log_touch": frozenset({Permission.ACT_ON_REMINDER, Permission.RECORD}),
    "reminders.kept": frozenset({Permission.ACT_ON_REMINDER, Permission.CLOSE_PROMISE}),
    "crm.hand_off": frozenset({Permission.RECORD}),
    "crm.record_promise": frozenset({Permission.RECORD}),
    "crm.log_touch": frozenset({Permission.RECORD}),
    "reminders.accept": frozenset({Permission.ACT_ON_REMINDER, Permission.ACCEPT_HANDOFF}),
    # forms
    "handoff_form": frozenset({Permission.RECORD}),
    "handoff_question": frozenset({Permission.RECORD}),
    "handoff_answer": frozenset({Permission.RECORD}),
    "promise.add": frozenset({Permission.RECORD}),
    "touch.log": frozenset({Permission.RECORD}),
    # message shortcuts
    "message.record_promise": frozenset({Permission.RECORD}),
    "message.log_touch": frozenset({Permission.RECORD}),
    # events
    "app_home_opened": frozenset({Permission.LOOK_UP, Permission.VIEW_PORTFOLIO}),
}
"""Listener (`/command`, action id, form callback id, event type) → what it may do."""


def may(actor: Person, permission: Permission, *, owners: Collection[int | None] = ()) -> bool:
    if permission in _MANAGERS_ONLY:
        return actor.role == Role.MANAGER
    if permission in _ANYONE_UNTIL_OWNED and not any(o is not None for o in owners):
        return True
    if permission in _OWNERS_OR_MANAGERS:
        return actor.role == Role.MANAGER or actor.id in owners
    assert permission in _ANYONE, f"{permission} is not in a policy set"
    return True


def guard(ctx: Context, listener: str) -> Safe | None:
    """Before a listener runs: its refusal when everything it does is managers-only and the
    actor is not a manager (recorded), else None and the handler decides with the data."""
    permissions = LISTENERS.get(listener, frozenset())  # tests/test_policy.py: none is missing
    managers_only = bool(permissions) and permissions <= _MANAGERS_ONLY
    if managers_only and not any(may(ctx.actor, p) for p in permissions):
        return refuse(ctx, min(permissions))
    return None


def refusal(
    *,
    session: Session,
    t: Translator,
    permission: Permission,
    owners: Collection[int | None] = (),
) -> Safe:
    """Says who may do it, naming the managers (and owners) so the person knows whom to ask."""
    found = managers(session=session)
    names = ", ".join(mention(m.user_id) for m in found)
    who = t("policy.managers", names=Safe(names)) if names else t("policy.no_managers")
    # An owner who is also a manager is named once, among the managers.
    others = set(owners) - {m.id for m in found}
    owner_ids = user_ids(session=session, person_ids=others)
    if permission in _OWNERS_OR_MANAGERS and owner_ids:
        named = ", ".join(mention(owner_ids[i]) for i in sorted(owner_ids))
        who = t("policy.owners_or", owners=Safe(named), managers=who)
    return t(f"policy.refused.{permission.value}", who=who)


def refuse(
    ctx: Context, permission: Permission, *, owners: Collection[int | None] = (), about: str = ""
) -> Safe:
    """The refusal `refusal` words, recorded in the audit trail: who tried what, and when
    (`about` names the thing, e.g. `handoff:12`)."""
    changes = {"permission": permission.value, **({"about": about} if about else {})}
    record(
        session=ctx.session,
        actor=ctx.actor,
        at=ctx.now,
        entity="permission",
        entity_id=None,
        action="refused",
        changes=changes,
    )
    return refusal(session=ctx.session, t=ctx.t, permission=permission, owners=owners)
