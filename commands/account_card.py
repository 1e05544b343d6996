"""The account card (PRODUCT §7) and the one-line account summary, as neutral messages.

However long an account's history, the card stays within chat limits: each list shows its newest
(or most urgent) items and ends with "and N more"; every text is clipped to its block's size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from commands.context import Context
from commands.i18n import catalog
from commands.text import Safe, clip, escape, mention
from commands.ui import Actions, Block, Button, Divider, Header, Message, Section, Style
from storage import handoffs, promises
from storage.account_summary import last_touch, recent_changes
from storage.accounts import Account
from storage.audit import AuditEntry
from storage.handoffs import Contact, Handoff, HandoffMessage, MessageKind
from storage.people import user_ids
from storage.promises import Promise
from storage.touches import Touch

PROMISES_SHOWN, CONTACTS_SHOWN, THREAD_SHOWN, CHANGES_SHOWN = 10, 10, 6, 6


LINE_LIMIT = 280
"""Longest single item (a promise, a question…) on the card."""


FACT_LIMIT = 1500
"""Longest handoff fact (goals, problems, risks) on the card."""


LOG_TOUCH = "account.log_touch"


ADD_PROMISE = "account.add_promise"
"""Button action ids; the value is the account id."""


def today(ctx: Context) -> date:
    """Today where the person is."""
    return ctx.now.astimezone(ctx.t.zone).date()


@dataclass(frozen=True)
class _Read:
    """Everything the card shows, read before anyone on it is named: then the people it mentions
    are looked up in one statement."""

    touch: tuple[Touch, str | None] | None
    promises: list[Promise]
    open_count: int
    overdue_count: int
    handoff: Handoff | None
    contacts: list[Contact]
    thread: list[HandoffMessage]
    """The newest questions and answers, newest first."""
    thread_count: int
    changes: list[tuple[AuditEntry, str | None]]
    change_count: int

    @classmethod
    def of(cls, session: Session, account_id: int, day: date) -> _Read:
        touch = last_touch(session=session, account_id=account_id)
        shown, total, overdue = promises.first_open(
            session=session, account_id=account_id, day=day, limit=PROMISES_SHOWN
        )
        handoff = handoffs.latest_for_account(session=session, account_id=account_id)
        contacts = handoffs.contacts_of(session=session, handoff_id=handoff.id) if handoff else []
        thread = handoffs.thread_of(session=session, handoff_id=handoff.id) if handoff else []
        changes, change_count = recent_changes(
            session=session, account_id=account_id, limit=CHANGES_SHOWN
        )
        return cls(
            touch=touch,
            promises=shown,
            open_count=total,
            overdue_count=overdue,
            handoff=handoff,
            contacts=contacts,
            thread=thread[: -THREAD_SHOWN - 1 : -1],
            thread_count=len(thread),
            changes=changes,
            change_count=change_count,
        )

    def person_ids(self, account: Account) -> set[int | None]:
        found = {account.cs_owner_id, account.sales_owner_id}
        found.update(p.owner_id for p in self.promises)
        if self.handoff is not None:
            h = self.handoff
            found.update((h.sales_rep_id, h.cs_owner_id, h.accepted_by_id))
        found.update(m.author_id for m in self.thread)
        return found | _person_ids(e for e, _ in self.changes)


def card(ctx: Context, account: Account) -> Message:
    assert account.id is not None
    day = today(ctx)
    read = _Read.of(ctx.session, account.id, day)
    people = user_ids(session=ctx.session, person_ids=read.person_ids(account))
    blocks: list[Block] = [
        Header(escape(clip(account.name, 150))),
        Section("", fields=_facts(ctx, account, day, people)),
        Section(_last_touch(ctx, read.touch)),
        Divider(),
        Section(_promises(ctx, read, day, people)),
        Divider(),
        *_handoff(ctx, read, people),
        Divider(),
        Section(_changes(ctx, read, people)),
        Actions(
            (
                Button(
                    ctx.t("account.button.log_touch"),
                    LOG_TOUCH,
                    str(account.id),
                    Style.PRIMARY,
                    opens_form=True,
                ),
                Button(
                    ctx.t("account.button.add_promise"),
                    ADD_PROMISE,
                    str(account.id),
                    opens_form=True,
                ),
            ),
            block_id=f"account-{account.id}",
        ),
    ]
    return Message(text=ctx.t("account.card.text", account=account.name), blocks=tuple(blocks))


def _someone(ctx: Context, people: dict[int, str], person_id: int | None) -> Safe:
    """A person as a mention, or "nobody"."""
    user_id = people.get(person_id or 0)
    return mention(user_id) if user_id else ctx.t("account.nobody")


def _facts(ctx: Context, account: Account, day: date, people: dict[int, str]) -> tuple[str, ...]:
    t = ctx.t
    values = {
        "stage": t(f"account.card.stage.{account.stage}"),
        "touch_model": t(f"account.card.touch_model.{account.touch_model}"),
        "cs_owner": _someone(ctx, people, account.cs_owner_id),
        "sales_owner": _someone(ctx, people, account.sales_owner_id),
        "plan": escape(clip(account.plan, 500)) if account.plan else t("account.nobody"),
        "value": t.money(account.arr, account.currency),
        "start": _date(ctx, account.contract_start),
        "renewal": renewal(ctx, account.renewal_date, day),
        "crm_id": escape(account.external_id) if account.external_id else t("account.nobody"),
    }
    return tuple(t(f"account.field.{name}", value=value) for name, value in values.items())


def renewal(ctx: Context, when: date | None, day: date) -> Safe:
    """The renewal date with the days left (or past) until it."""
    if when is None:
        return ctx.t("account.nobody")
    days = (when - day).days
    key = (
        "account.renewal.today"
        if days == 0
        else ("account.renewal.days_left" if days > 0 else "account.renewal.days_ago")
    )
    return ctx.t(key, date=ctx.t.date(when), days=abs(days))


def _date(ctx: Context, value: date | None) -> Safe:
    return ctx.t.date(value) if value else ctx.t("account.nobody")


def _last_touch(ctx: Context, found: tuple[Touch, str | None] | None) -> Safe:
    if found is None:
        return ctx.t("account.last_touch.none")
    touch, by = found
    return ctx.t(
        "account.last_touch",
        when=ctx.t.datetime(touch.at),
        who=mention(by) if by else ctx.t("account.nobody"),
        how=_word(ctx, f"touch.channel.{touch.channel}", touch.channel),
        note=clip(touch.note, LINE_LIMIT),
    )


def _promises(ctx: Context, read: _Read, day: date, people: dict[int, str]) -> Safe:
    title = ctx.t("account.promises.title", count=read.open_count, overdue=read.overdue_count)
    if not read.promises:
        return Safe(title + "\n" + ctx.t("account.promises.none"))
    lines = [_promise(ctx, p, people, day) for p in read.promises]
    return bounded(ctx, title, lines, read.open_count)


def _promise(ctx: Context, promise: Promise, people: dict[int, str], day: date) -> Safe:
    """Due first, so the overdue ones lead the list; each is marked."""
    due = (
        ctx.t("account.promise.due", date=ctx.t.date(promise.due_date))
        if promise.due_date
        else ctx.t("account.promise.no_due")
    )
    if promise.recurrence:
        every = _word(ctx, f"promise.every.{promise.recurrence}", promise.recurrence)
        due = Safe(f"{due} ({every})")
    overdue = promise.due_date is not None and promise.due_date < day
    return ctx.t(
        "account.promise.overdue_line" if overdue else "account.promise.line",
        id=promise.id,
        text=clip(promise.text, LINE_LIMIT),
        due=due,
        owner=_someone(ctx, people, promise.owner_id),
    )


def _handoff(ctx: Context, read: _Read, people: dict[int, str]) -> list[Block]:
    handoff = read.handoff
    if handoff is None:
        return [Section(ctx.t("account.handoff.none"))]
    blocks: list[Block] = [Section(_handoff_status(ctx, handoff, people))]
    for name, text in (
        ("goals", handoff.goals),
        ("problems", handoff.problems),
        ("risks", handoff.risks),
    ):
        if text:
            blocks.append(Section(ctx.t(f"account.handoff.{name}", text=clip(text, FACT_LIMIT))))
    blocks.extend(_contacts(ctx, read.contacts))
    blocks.extend(_thread(ctx, read, people))
    return blocks


def _handoff_status(ctx: Context, handoff: Handoff, people: dict[int, str]) -> Safe:
    if handoff.accepted_at is not None:
        status = ctx.t(
            "account.handoff.accepted",
            who=_someone(ctx, people, handoff.accepted_by_id),
            when=ctx.t.datetime(handoff.accepted_at),
        )
    else:
        status = ctx.t("account.handoff.pending", since=ctx.t.datetime(handoff.created_at))
    return ctx.t(
        "account.handoff.title",
        id=handoff.id,
        status=status,
        sales=_someone(ctx, people, handoff.sales_rep_id),
        cs=_someone(ctx, people, handoff.cs_owner_id),
    )


def _contacts(ctx: Context, found: list[Contact]) -> list[Block]:
    if not found:
        return []
    lines = [
        ctx.t(
            "account.contact",
            name=clip(c.name, 100),
            role=clip(c.role, 100) or "—",
            email=clip(c.email, 120) or "—",
        )
        for c in found[:CONTACTS_SHOWN]
    ]
    return [Section(bounded(ctx, ctx.t("account.handoff.contacts"), lines, len(found)))]


def _thread(ctx: Context, read: _Read, people: dict[int, str]) -> list[Block]:
    """Questions and answers, newest first."""
    if not read.thread:
        return []
    lines = [
        ctx.t(
            "account.thread.answer" if m.kind == MessageKind.ANSWER else "account.thread.question",
            who=_someone(ctx, people, m.author_id),
            when=ctx.t.datetime(m.at),
            text=clip(m.text, LINE_LIMIT),
        )
        for m in read.thread
    ]
    return [Section(bounded(ctx, ctx.t("account.handoff.thread"), lines, read.thread_count))]


_PERSON_FIELDS = {"cs_owner_id", "sales_owner_id"}
"""Audit fields that hold a person id: shown as a mention."""


_USER_FIELDS = {"cs_owner", "sales_owner"}
"""Audit fields that hold a platform user id."""


_HIDDEN_FIELDS = {"account_id", "message_id"}


_DATE_FIELDS = {"due_date", "renewal_date", "contract_start"}
"""Stored in the audit trail as ISO text, shown as the person reads dates."""


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
"""Audit fields that say nothing to a reader of this card."""


def _changes(ctx: Context, read: _Read, people: dict[int, str]) -> Safe:
    title = ctx.t("account.changes.title")
    if not read.changes:
        return Safe(title + "\n" + ctx.t("account.changes.none"))
    lines = [_change(ctx, entry, who, people) for entry, who in read.changes]
    return bounded(ctx, title, lines, read.change_count)


def _person_ids(entries: Iterable[AuditEntry]) -> set[int | None]:
    found: set[int | None] = set()
    for entry in entries:
        for name, value in entry.changes.items():
            if name in _PERSON_FIELDS:
                found.update(
                    v for v in (value if isinstance(value, list) else [value]) if isinstance(v, int)
                )
    return found


def _change(ctx: Context, entry: AuditEntry, who: str | None, people: dict[int, str]) -> Safe:
    """`Nov 20 · @mika · P-12 kept: status: open → kept · note`."""
    subject = {"promise": f"`P-{entry.entity_id}`", "handoff": f"`H-{entry.entity_id}`"}
    action = _word(ctx, f"account.action.{entry.action}", entry.action)
    what = " ".join(p for p in (subject.get(entry.entity, ""), action) if p)
    details = ", ".join(
        _change_detail(ctx, name, value, people)
        for name, value in entry.changes.items()
        if name not in _HIDDEN_FIELDS
    )
    if details:
        what += ": " + details
    if entry.note:
        what += " · " + escape(entry.note)
    return ctx.t(
        "account.change",
        when=ctx.t.datetime(entry.at),
        who=mention(who) if who else ctx.t("account.system"),
        what=Safe(clip(what, LINE_LIMIT)),
    )


def _change_detail(ctx: Context, name: str, value: object, people: dict[int, str]) -> str:
    label = _word(ctx, f"account.field_name.{name}", name)

    def shown(v: object) -> Safe:
        if name in _PERSON_FIELDS and isinstance(v, int) and v in people:
            return mention(people[v])
        if name in _USER_FIELDS and isinstance(v, str):
            return mention(v)
        if name in ("stage", "touch_model", "status") and isinstance(v, str):
            return _word(ctx, f"account.{name}.{v}", v)
        if name == "recurrence" and isinstance(v, str):
            return _word(ctx, f"promise.every.{v}", v)
        if name in _DATE_FIELDS and isinstance(v, str) and _ISO_DATE.fullmatch(v):
            return ctx.t.date(date.fromisoformat(v))
        return _value(ctx, v)

    if isinstance(value, list) and len(value) == 2:
        return f"{label}: {shown(value[0])} → {shown(value[1])}"
    return f"{label}: {shown(value)}"


def _value(ctx: Context, value: object) -> Safe:
    if value is None or value == "":
        return ctx.t("account.nobody")
    return escape(clip(str(value), 60))


def bounded(ctx: Context, title: str, lines: list[Safe], total: int) -> Safe:
    """Title and lines in one section's worth of text; what does not fit, or was not fetched,
    is counted in "and N more"."""
    kept: list[str] = []
    size = ctx.room.measure(title) + 60  # room for the "and N more" line
    for line in lines:
        if size + ctx.room.measure(line) + 1 > ctx.room.section:
            break
        kept.append(line)
        size += ctx.room.measure(line) + 1
    more = [ctx.t("account.more", count=total - len(kept))] if total > len(kept) else []
    return Safe("\n".join([title, *kept, *more]))


def _word(ctx: Context, key: str, fallback: str) -> Safe:
    """A translated word when the catalog has one, else the stored value, escaped."""
    return ctx.t(key) if key in catalog("en") else escape(fallback)
