"""Every table, imported in one place so `SQLModel.metadata` and Alembic see them all."""

from storage.accounts import Account
from storage.audit import AuditEntry
from storage.people import Person

__all__ = ["Account", "AuditEntry", "Person"]
