"""Who may do what (PRODUCT §11): the one place every command and button asks."""

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


def may(actor: Person, permission: Permission, *, owners: Collection[int | None] = ()) -> bool:
    if permission in _MANAGERS_ONLY:
        return actor.role == Role.MANAGER
    if permission in _ANYONE_UNTIL_OWNED and not any(o is not None for o in owners):
        return True
    if permission in _OWNERS_OR_MANAGERS:
        return actor.role == Role.MANAGER or actor.id in owners
    return True


def refusal(
    *,
    session: Session,
    t: Translator,
    permission: Permission,
    owners: Collection[int | None] = (),
) -> Safe:
    """Says who may do it, naming the managers (and owners) so the person knows whom to ask."""
    names = ", ".join(mention(m.user_id) for m in managers(session=session))
    who = t("policy.managers", names=Safe(names)) if names else t("policy.no_managers")
    owner_ids = user_ids(session=session, person_ids=set(owners))
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
