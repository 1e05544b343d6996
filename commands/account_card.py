"""The account card (PRODUCT §7) and the one-line account summary, as neutral messages.

However long an account's history, the card stays within chat limits: each list shows its newest
(or most urgent) items and ends with "and N more"; every text is clipped to its block's size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session

from commands.context import Context
from commands.i18n import catalog
from commands.text import Safe, clip, escape, mention
from commands.ui import Actions, Block, Button, Divider, Header, Message, Section, Style
from storage import handoffs, promises
from storage.account_summary import AccountSummary, last_touch, recent_changes
from storage.accounts import Account
from storage.audit import AuditEntry
from storage.handoffs import Handoff, MessageKind
from storage.people import user_ids
from storage.promises import Promise

SECTION_LIMIT = 3000
"""Longest section text (Slack's limit)."""
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


@dataclass
class _People:
    """The Slack user IDs of the people a card mentions, each looked up once: most are the
    account's owners, whom the card's facts look up first."""

    session: Session
    found: dict[int, str] = field(default_factory=dict)
    asked: set[int | None] = field(default_factory=set)

    def __call__(self, person_ids: Iterable[int | None]) -> dict[int, str]:
        wanted = set(person_ids) - self.asked
        if wanted:
            self.found |= user_ids(session=self.session, person_ids=wanted)
            self.asked |= wanted
        return self.found


def card(ctx: Context, account: Account) -> Message:
    assert account.id is not None
    day = today(ctx)
    people = _People(ctx.session)
    blocks: list[Block] = [
        Header(escape(clip(account.name, 150))),
        Section("", fields=_facts(ctx, account, day, people)),
        Section(_last_touch(ctx, account.id)),
        Divider(),
        Section(_promises(ctx, account.id, day, people)),
        Divider(),
        *_handoff(ctx, account.id, people),
        Divider(),
        Section(_changes(ctx, account.id, people)),
        Actions(
            (
                Button(
                    ctx.t("account.button.log_touch"), LOG_TOUCH, str(account.id), Style.PRIMARY
                ),
                Button(ctx.t("account.button.add_promise"), ADD_PROMISE, str(account.id)),
            ),
            block_id=f"account-{account.id}",
        ),
    ]
    return Message(text=ctx.t("account.card.text", account=account.name), blocks=tuple(blocks))


def _facts(ctx: Context, account: Account, day: date, people: _People) -> tuple[str, ...]:
    t = ctx.t
    owners = people((account.cs_owner_id, account.sales_owner_id))

    def person(person_id: int | None) -> Safe:
        user_id = owners.get(person_id or 0)
        return mention(user_id) if user_id else t("account.nobody")

    values = {
        "stage": t(f"account.stage.{account.stage}"),
        "touch_model": t(f"account.touch_model.{account.touch_model}"),
        "cs_owner": person(account.cs_owner_id),
        "sales_owner": person(account.sales_owner_id),
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


def _last_touch(ctx: Context, account_id: int) -> Safe:
    found = last_touch(session=ctx.session, account_id=account_id)
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


# ---- promises -------------------------------------------------------------------------------


def _promises(ctx: Context, account_id: int, day: date, people: _People) -> Safe:
    shown, total, overdue = promises.first_open(
        session=ctx.session, account_id=account_id, day=day, limit=PROMISES_SHOWN
    )
    title = ctx.t("account.promises.title", count=total, overdue=overdue)
    if not shown:
        return Safe(title + "\n" + ctx.t("account.promises.none"))
    owners = people(p.owner_id for p in shown)
    lines = [_promise(ctx, p, owners.get(p.owner_id or 0), day) for p in shown]
    return bounded(ctx, title, lines, total)


def _promise(ctx: Context, promise: Promise, owner: str | None, day: date) -> Safe:
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
        owner=mention(owner) if owner else ctx.t("account.nobody"),
    )


# ---- the handoff ----------------------------------------------------------------------------


def _handoff(ctx: Context, account_id: int, people: _People) -> list[Block]:
    handoff = handoffs.latest_for_account(session=ctx.session, account_id=account_id)
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
    blocks.extend(_contacts(ctx, handoff))
    blocks.extend(_thread(ctx, handoff, people))
    return blocks


def _handoff_status(ctx: Context, handoff: Handoff, people: _People) -> Safe:
    who = people((handoff.sales_rep_id, handoff.cs_owner_id, handoff.accepted_by_id))

    def person(person_id: int | None) -> Safe:
        user_id = who.get(person_id or 0)
        return mention(user_id) if user_id else ctx.t("account.nobody")

    if handoff.accepted_at is not None:
        status = ctx.t(
            "account.handoff.accepted",
            who=person(handoff.accepted_by_id),
            when=ctx.t.datetime(handoff.accepted_at),
        )
    else:
        status = ctx.t("account.handoff.pending", since=ctx.t.datetime(handoff.created_at))
    return ctx.t(
        "account.handoff.title",
        id=handoff.id,
        status=status,
        sales=person(handoff.sales_rep_id),
        cs=person(handoff.cs_owner_id),
    )


def _contacts(ctx: Context, handoff: Handoff) -> list[Block]:
    found = handoffs.contacts_of(session=ctx.session, handoff_id=handoff.id)
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


def _thread(ctx: Context, handoff: Handoff, people: _People) -> list[Block]:
    """Questions and answers, newest first."""
    thread = handoffs.thread_of(session=ctx.session, handoff_id=handoff.id)
    if not thread:
        return []
    newest = thread[: -THREAD_SHOWN - 1 : -1]
    authors = people(m.author_id for m in newest)
    lines = [
        ctx.t(
            "account.thread.answer" if m.kind == MessageKind.ANSWER else "account.thread.question",
            who=mention(authors[m.author_id])
            if m.author_id in authors
            else ctx.t("account.nobody"),
            when=ctx.t.datetime(m.at),
            text=clip(m.text, LINE_LIMIT),
        )
        for m in newest
    ]
    return [Section(bounded(ctx, ctx.t("account.handoff.thread"), lines, len(thread)))]


# ---- the audit trail ------------------------------------------------------------------------


_PERSON_FIELDS = {"cs_owner_id", "sales_owner_id"}
"""Audit fields that hold a person id: shown as a mention."""
_USER_FIELDS = {"cs_owner", "sales_owner"}
"""Audit fields that hold a Slack user ID."""
_HIDDEN_FIELDS = {"account_id", "message_id"}
"""Audit fields that say nothing to a reader of this card."""


def _changes(ctx: Context, account_id: int, people: _People) -> Safe:
    shown, total = recent_changes(session=ctx.session, account_id=account_id, limit=CHANGES_SHOWN)
    title = ctx.t("account.changes.title")
    if not shown:
        return Safe(title + "\n" + ctx.t("account.changes.none"))
    mentioned = people(_person_ids(e for e, _ in shown))
    lines = [_change(ctx, entry, who, mentioned) for entry, who in shown]
    return bounded(ctx, title, lines, total)


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
        if name in ("stage", "touch_model") and isinstance(v, str):
            return _word(ctx, f"account.{name}.{v}", v)
        return _value(ctx, v)

    if isinstance(value, list) and len(value) == 2:
        return f"{label}: {shown(value[0])} → {shown(value[1])}"
    return f"{label}: {shown(value)}"


def _value(ctx: Context, value: object) -> Safe:
    if value is None or value == "":
        return ctx.t("account.nobody")
    return escape(clip(str(value), 60))


# ---- helpers shared with the account list ---------------------------------------------------


def summary_line(ctx: Context, summary: AccountSummary, day: date) -> Safe:
    """One account on a line: stage, renewal, open and overdue promises, last touch."""
    account = summary.account
    touched = summary.last_touch
    return ctx.t(
        "account.summary",
        name=clip(account.name, 80),
        stage=ctx.t(f"account.stage.{account.stage}"),
        renewal=renewal(ctx, account.renewal_date, day),
        open=summary.open_promises,
        overdue=summary.overdue_promises,
        touched=ctx.t.date(_local(ctx, touched.at)) if touched else ctx.t("account.never"),
    )


def _local(ctx: Context, at: datetime) -> date:
    return at.astimezone(ctx.t.zone).date()


def listing(ctx: Context, title: str, lines: list[Safe], total: int) -> Message:
    """A titled list in as many sections as it needs (up to the 3,000-character limit each),
    ending with "and N more" when not every item is shown."""
    sections: list[list[str]] = [[title]]
    size = len(title)
    for line in lines:
        if size + len(line) + 1 > SECTION_LIMIT - 100:
            sections.append([])
            size = 0
        sections[-1].append(line)
        size += len(line) + 1
    if total > len(lines):
        sections[-1].append(ctx.t("account.more", count=total - len(lines)))
    blocks = tuple(Section("\n".join(s)) for s in sections)
    return Message(text=title, blocks=blocks)


def bounded(ctx: Context, title: str, lines: list[Safe], total: int) -> Safe:
    """Title and lines in one section's worth of text; what does not fit, or was not fetched,
    is counted in "and N more"."""
    kept: list[str] = []
    size = len(title) + 60  # room for the "and N more" line
    for line in lines:
        if size + len(line) + 1 > SECTION_LIMIT:
            break
        kept.append(line)
        size += len(line) + 1
    more = [ctx.t("account.more", count=total - len(kept))] if total > len(kept) else []
    return Safe("\n".join([title, *kept, *more]))


def _word(ctx: Context, key: str, fallback: str) -> Safe:
    """A translated word when the catalog has one, else the stored value, escaped."""
    return ctx.t(key) if key in catalog("en") else escape(fallback)
