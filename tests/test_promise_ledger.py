"""The promise ledger in storage: recorded with an audit entry, listed due first, closed once."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session, select

from storage import promises, touches
from storage.accounts import Account, fold_name
from storage.audit import AuditEntry
from storage.people import Person
from storage.promises import PromiseStatus, Recurrence
from storage.touches import Touch, TouchChannel

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def account(session: Session, name: str) -> Account:
    row = Account(name=name, name_key=fold_name(name), created_at=NOW, updated_at=NOW)
    session.add(row)
    session.flush()
    return row


def person(session: Session, user_id: str) -> Person:
    row = Person(user_id=user_id, name=user_id.lower())
    session.add(row)
    session.flush()
    return row


def test_promises_are_listed_due_first_and_narrowed(session: Session) -> None:
    acme, globex = account(session, "ACME"), account(session, "Globex")
    aiko, kenji = person(session, "UCS"), person(session, "USALES")

    def add(acct: Account, text: str, due: date | None, owner: Person) -> int:
        made = promises.add(
            session=session,
            account_id=acct.id or 0,
            text=text,
            due_date=due,
            recurrence=None,
            owner_id=owner.id,
            promised_by_id=kenji.id,
            actor=kenji,
            at=NOW,
        )
        assert made.id is not None
        return made.id

    undated = add(acme, "Undated", None, aiko)
    late = add(acme, "Late", date(2026, 11, 1), aiko)
    soon = add(globex, "Soon", date(2026, 12, 1), kenji)
    texts = [p.text for p in promises.open_promises(session=session)]
    assert texts == ["Late", "Soon", "Undated"]
    assert [p.id for p in promises.open_promises(session=session, account_id=acme.id)] == [
        late,
        undated,
    ]
    assert [p.id for p in promises.open_promises(session=session, person_id=kenji.id)] == [
        late,
        soon,
        undated,
    ]  # kenji made them all
    assert [p.id for p in promises.open_promises(session=session, person_id=aiko.id)] == [
        late,
        undated,
    ]
    assert [p.id for p in promises.open_promises(session=session, due_before=NOW.date())] == [late]
    assert promises.count_open(session=session, due_before=NOW.date()) == 1
    assert promises.count_open(session=session, account_id=acme.id) == 2
    entry = session.exec(select(AuditEntry).where(AuditEntry.entity_id == soon)).one()
    assert entry.action == "create" and entry.changes["due_date"] == "2026-12-01"


def test_closing_and_keeping_occurrences_are_audited(session: Session) -> None:
    acme, aiko = account(session, "ACME"), person(session, "UCS")
    once = promises.add(
        session=session,
        account_id=acme.id or 0,
        text="Workshop",
        due_date=date(2026, 12, 1),
        recurrence=None,
        owner_id=aiko.id,
        promised_by_id=aiko.id,
        actor=aiko,
        at=NOW,
    )
    monthly = promises.add(
        session=session,
        account_id=acme.id or 0,
        text="Report",
        due_date=date(2027, 1, 31),
        recurrence=Recurrence.MONTH,
        owner_id=aiko.id,
        promised_by_id=aiko.id,
        actor=aiko,
        at=NOW,
    )
    promises.close(
        session=session,
        promise=once,
        status=PromiseStatus.BROKEN,
        note="trainer ill",
        actor=aiko,
        at=NOW,
    )
    promises.keep_occurrence(
        session=session, promise=monthly, next_due=date(2027, 2, 28), note=None, actor=aiko, at=NOW
    )
    session.flush()
    assert (once.status, once.close_note, once.closed_by_id) == ("broken", "trainer ill", aiko.id)
    assert (monthly.status, monthly.kept_count, monthly.due_date) == ("open", 1, date(2027, 2, 28))
    assert promises.first_due_date(session=session, promise=monthly) == date(2027, 1, 31)
    actions = session.exec(
        select(AuditEntry.action).where(AuditEntry.entity == "promise").order_by(AuditEntry.id)
    ).all()  # type: ignore[arg-type]
    assert actions == ["create", "create", "broken", "kept_occurrence"]


def test_a_touch_is_stored_with_who_how_and_when(session: Session) -> None:
    acme, aiko = account(session, "ACME"), person(session, "UCS")
    touches.log(
        session=session,
        account_id=acme.id or 0,
        person_id=aiko.id,
        channel=TouchChannel.CALL,
        note="Kickoff call",
        at=NOW,
    )
    stored = session.exec(select(Touch)).one()
    assert (stored.channel, stored.note, stored.at, stored.person_id) == (
        "call",
        "Kickoff call",
        NOW,
        aiko.id,
    )
