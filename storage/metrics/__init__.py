"""The shared portfolio numbers (PRODUCT §8, §9): computed by the database with grouped queries,
so a portfolio of thousands of accounts costs a few rows per question, not thousands.

Used by `/portfolio`, the Home tab and the weekly sync agenda. Every function is keyword-only,
takes the `session`, and an optional `owners` filter:

- `owners=None`: the whole portfolio;
- `owners=[person ids]`: only the accounts whose **CS owner** is one of these people (and the
  promises, handoffs and touches of those accounts); an empty list selects nothing.

Conventions shared by every function:
- **Live accounts** are those not `churned`. Renewals, silence, open promises (overdue / due
  soon), handoffs and the per-owner lines count live accounts only; `by_stage` shows churned
  accounts in their own row; kept and broken promises count on every account (a broken promise
  that ended in churn is still broken).
- **Money** is summed per currency and never added across currencies: every value is a tuple
  of `Amount(currency, total)`, one per currency present, sorted by currency. Accounts without
  a contract value are counted but add nothing.
- `today` is the viewer's local date (date comparisons: due dates, renewal dates); `now` is the
  instant (touches, handoffs, the audit trail).
- **Silence** is measured like the reminders do (`storage.accounts.days_silent`): from the latest
  of the last touch, the latest handoff acceptance and the account's creation; an account is
  silent once that is `silence_days[touch_model]` days before `now`. Pass the reminder rules'
  thresholds (`ReminderRules.silence_days`), so there is one definition; 0 (or a touch model
  missing from the mapping) means never silent.
- **Kept and broken** are events in the audit trail within `[since, now)`: a one-off promise
  closed as kept or broken, and each kept occurrence of a recurring promise. Kept rate =
  kept / (kept + broken), None when there is neither.
"""

from storage.metrics.handoffs import (
    HandoffStats,
    PendingHandoff,
    handoff_details,
    handoff_stats,
    median_to_accept,
    oldest_first,
    pending_handoffs,
)
from storage.metrics.portfolio import OwnerLine, Portfolio, owner_lines, portfolio
from storage.metrics.promises import (
    BROKEN_ACTIONS,
    KEPT_ACTIONS,
    DuePromise,
    PromiseCounts,
    closed_counts,
    closed_events,
    due_promises,
    promise_counts,
    promise_events_of,
)
from storage.metrics.query import Amount, Group, Lister, Listing, Owners, first_rows
from storage.metrics.renewals import (
    Renewal,
    Renewals,
    renewals,
    upcoming_renewals,
)
from storage.metrics.silence import (
    SilentAccount,
    silent_accounts,
    silent_count,
)
from storage.metrics.stages import by_stage, by_touch_model

__all__ = [
    "BROKEN_ACTIONS",
    "KEPT_ACTIONS",
    "Amount",
    "DuePromise",
    "Group",
    "HandoffStats",
    "Lister",
    "Listing",
    "OwnerLine",
    "Owners",
    "PendingHandoff",
    "Portfolio",
    "PromiseCounts",
    "Renewal",
    "Renewals",
    "SilentAccount",
    "by_stage",
    "by_touch_model",
    "closed_counts",
    "closed_events",
    "due_promises",
    "first_rows",
    "handoff_details",
    "handoff_stats",
    "median_to_accept",
    "oldest_first",
    "owner_lines",
    "pending_handoffs",
    "portfolio",
    "promise_counts",
    "promise_events_of",
    "renewals",
    "silent_accounts",
    "silent_count",
    "upcoming_renewals",
]
