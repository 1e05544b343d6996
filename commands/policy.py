"""Who may do what (PRODUCT §11): the one place every command and button asks."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Session

from commands.i18n import Translator
from commands.text import Safe, mention
from storage.people import Person, Role, managers


class Permission(StrEnum):
    SET_ROLE = "set_role"


_MANAGERS_ONLY = {Permission.SET_ROLE}


def may(actor: Person, permission: Permission) -> bool:
    if permission in _MANAGERS_ONLY:
        return actor.role == Role.MANAGER
    return True


def refusal(*, session: Session, t: Translator, permission: Permission) -> Safe:
    """Says who may do it, naming the managers so the person knows whom to ask."""
    names = ", ".join(mention(m.user_id) for m in managers(session=session))
    who = t("policy.managers", names=Safe(names)) if names else t("policy.no_managers")
    return t(f"policy.refused.{permission.value}", who=who)
