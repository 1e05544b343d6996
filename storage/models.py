"""Every table, imported in one place so `SQLModel.metadata` and Alembic see them all."""

from storage.accounts import Account
from storage.acknowledged import AcknowledgedRequest
from storage.agenda.subscriptions import SyncSubscription
from storage.audit import AuditEntry
from storage.crm_events import CrmEvent
from storage.handoffs import Contact, Handoff, HandoffMessage
from storage.outbox import OutboxMessage
from storage.people import Person
from storage.promises import Promise
from storage.reminders import Reminder, ReminderItem
from storage.touches import Touch

__all__ = [
    "Account",
    "AcknowledgedRequest",
    "AuditEntry",
    "Contact",
    "CrmEvent",
    "Handoff",
    "HandoffMessage",
    "OutboxMessage",
    "Person",
    "Promise",
    "Reminder",
    "ReminderItem",
    "SyncSubscription",
    "Touch",
]
