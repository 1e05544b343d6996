"""Who may do what (PRODUCT §11): the one place every command and button asks."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

from sqlmodel import Session

from commands.i18n import Translator
from commands.text import Safe, mention
from storage.people import Person, Role, managers, user_ids


class Permission(StrEnum):
    SET_ROLE = "set_role"
    REASSIGN_CS_OWNER = "reassign_cs_owner"
    CHANGE_ACCOUNT = "change_account"
    """An account's stage or renewal date."""
    ACCEPT_HANDOFF = "accept_handoff"
    """The handoff's CS owner, or a manager."""


_MANAGERS_ONLY = {Permission.SET_ROLE, Permission.REASSIGN_CS_OWNER}
_OWNERS_OR_MANAGERS = {Permission.CHANGE_ACCOUNT, Permission.ACCEPT_HANDOFF}
"""Allowed to the people given as `owners` (person ids), and to managers."""


def may(actor: Person, permission: Permission, *, owners: Collection[int | None] = ()) -> bool:
    if permission in _MANAGERS_ONLY:
        return actor.role == Role.MANAGER
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
