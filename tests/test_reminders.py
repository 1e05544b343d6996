"""Reminders (PRODUCT §9): what comes due for whom, in their working time, sent once, following
the data; the DM's buttons through signed Slack requests; `kakehashi jobs run-due | preview`;
the shell's clock."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.cli import main
from bot.delivery import SlackTransport, slack_delivery
from bot.jobs_main import run_due
from bot.reminder_jobs import recompose
from bot.runtime import Runtime
from commands.context import FixedClock
from commands.reminders.rules import ReminderRules
from commands.ui import Room
from commands.worktime import WorkWeek
from jobs.delivery import Delivery, unpaced
from jobs.reminders.snapshot import LATE_LIMIT, Recipient, Snapshot
from jobs.reminders.sweep import Reminders
from storage import promises, touches
from storage.accounts import Account, Stage, TouchModel
from storage.audit import AuditEntry
from storage.db import session_scope
from storage.handoffs import Handoff, HandoffStatus
from storage.outbox import OutboxMessage
from storage.people import Person, Role
from storage.promises import Promise, PromiseStatus
from storage.reminders import Reminder, ReminderItem, ReminderStatus
from storage.touches import TouchChannel
from testkit.fake_slack import FakeSlack
from testkit.signing import block_actions_body, slash_command_body
from tests.conftest import NOW, TOKEN, ShellSession, SlackServer, make_settings
from tests.factories import make_account, make_handoff, make_person

JSON = dict[str, Any]
NO_SILENCE = ReminderRules(silence_days={"high": 0, "low": 0, "tech": 0})
HOSTILE = "<!channel> <@U0001> & '; DROP TABLE promises; -- \x07 ＡＣＭＥ 🎉"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# ---- data ----------------------------------------------------------------------------------


def person(
    engine: Engine,
    user_id: str,
    *,
    tz: str = "Asia/Tokyo",
    locale: str = "ja-JP",
    role: Role | None = None,
) -> int:
    with session_scope(engine) as session:
        row = make_person(
            session,
            user_id=user_id,
            role=role,
            tz=tz,
            locale=locale,
            profile_fetched_at=NOW + timedelta(days=400),
        )
        assert row.id is not None
        return row.id


def account(
    engine: Engine,
    cs_owner: int | None,
    *,
    name: str = "株式会社ACME",
    touch: TouchModel = TouchModel.HIGH,
    renewal: date | None = None,
    created: datetime = NOW,
    stage: Stage = Stage.ACTIVE,
) -> int:
    with session_scope(engine) as session:
        row = make_account(
            session,
            name=name,
            at=created,
            cs_owner_id=cs_owner,
            touch_model=touch.value,
            renewal_date=renewal,
            arr=Decimal(1_200_000),
            currency="JPY",
            stage=stage.value,
        )
        assert row.id is not None
        return row.id


def promise(
    engine: Engine, account_id: int, owner: int, due: date, text: str = "導入研修を実施"
) -> int:
    with session_scope(engine) as session:
        row = promises.add(
            session=session,
            account_id=account_id,
            text=text,
            due_date=due,
            recurrence=None,
            owner_id=owner,
            promised_by_id=None,
            actor=None,
            at=NOW - timedelta(days=30),
        )
        assert row.id is not None
        return row.id


def touch(engine: Engine, account_id: int, when: datetime) -> None:
    with session_scope(engine) as session:
        touches.log(
            session=session,
            account_id=account_id,
            person_id=None,
            channel=TouchChannel.CALL,
            note="called",
            at=when,
        )


def handoff(
    engine: Engine,
    account_id: int,
    sales: int,
    cs: int,
    created: datetime,
    accepted: datetime | None = None,
) -> int:
    with session_scope(engine) as session:
        row = make_handoff(
            session,
            account=session.get_one(Account, account_id),
            sales_rep=session.get_one(Person, sales),
            cs_owner=session.get_one(Person, cs),
            at=created,
            goals="Goals",
        )
        assert row.id is not None
    if accepted is not None:
        accept(engine, row.id, cs, accepted)
    return row.id


def accept(engine: Engine, handoff_id: int, by: int, when: datetime) -> None:
    with session_scope(engine) as session:
        row = session.get(Handoff, handoff_id)
        assert row is not None
        row.status, row.accepted_at, row.accepted_by_id = HandoffStatus.ACCEPTED, when, by
        session.add(row)


def sweeper(engine: Engine, rules: ReminderRules = NO_SILENCE, holidays: str = "") -> Reminders:
    return Reminders(
        engine=engine,
        rules=rules,
        work=WorkWeek(holidays=holidays),
        default_zone=ZoneInfo("UTC"),
        default_locale="en",
    )


def sweep(reminders: Reminders, when: str) -> dict[str, list[str]]:
    """Runs a sweep; each DM it wrote, by recipient, with the reminder keys in it."""
    with Session(reminders.engine) as session:
        before = set(session.exec(select(OutboxMessage.key)).all())
    reminders.sweep(at(when))
    written: dict[str, list[str]] = {}
    with Session(reminders.engine) as session:
        for row in session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all():
            if row.key in before:
                continue
            assert row.recipient not in written, "one DM per person per sweep"
            keys = session.exec(
                select(Reminder.key)
                .where(ReminderItem.message_key == row.key, ReminderItem.reminder_id == Reminder.id)
                .order_by(col(ReminderItem.position))
            ).all()
            written[row.recipient] = list(keys)
    return written


# ---- what comes due, for whom, when ----------------------------------------------------------


def test_a_promise_is_reminded_before_on_the_day_and_weekly_while_overdue(engine: Engine) -> None:
    rep = person(engine, "UCS")
    acme = account(engine, rep)
    pid = promise(engine, acme, rep, date(2026, 12, 2))  # a Wednesday
    r = sweeper(engine)
    assert sweep(r, "2026-11-27T09:05+09:00") == {}  # 5 days before
    assert sweep(r, "2026-11-29T09:05+09:00") == {}  # 3 days before, but a Sunday
    assert sweep(r, "2026-11-30T09:05+09:00") == {"UCS": [f"promise:{pid}:2026-12-02:before"]}
    assert sweep(r, "2026-11-30T15:00+09:00") == {}
    assert sweep(r, "2026-12-02T09:00+09:00") == {"UCS": [f"promise:{pid}:2026-12-02:due"]}
    assert sweep(r, "2026-12-08T09:00+09:00") == {}
    assert sweep(r, "2026-12-09T09:00+09:00") == {"UCS": [f"promise:{pid}:2026-12-02:overdue-1"]}
    # After three weeks of downtime, the latest occurrence only, once.
    assert sweep(r, "2026-12-31T10:00+09:00") == {"UCS": [f"promise:{pid}:2026-12-02:overdue-4"]}
    assert sweep(r, "2026-12-31T11:00+09:00") == {}


def test_renewal_runway_at_120_90_60_30_days(engine: Engine) -> None:
    rep = person(engine, "UCS")
    acme = account(engine, rep, renewal=date(2027, 4, 1))
    r = sweeper(engine)
    assert sweep(r, "2026-12-01T10:00+09:00") == {}  # 121 days before
    assert sweep(r, "2026-12-02T10:00+09:00") == {"UCS": [f"renewal:{acme}:2027-04-01:120"]}
    assert sweep(r, "2027-01-01T10:00+09:00") == {"UCS": [f"renewal:{acme}:2027-04-01:90"]}
    # 60 days before fell while nobody swept; at 30 days, only the 30-day reminder goes.
    assert sweep(r, "2027-03-02T10:00+09:00") == {"UCS": [f"renewal:{acme}:2027-04-01:30"]}
    assert sweep(r, "2027-03-03T10:00+09:00") == {}


def test_a_written_dm_holds_its_summary_in_the_persons_language_until_it_is_composed(
    engine: Engine,
) -> None:
    """The sweep writes the DM's reminders and a summary line; the delivery engine composes the
    DM from the data when it sends it (the tests of delivery check what arrives)."""
    rep = person(engine, "UCS")  # ja-JP
    acme = account(engine, rep)
    promise(engine, acme, rep, date(2026, 12, 1))
    promise(engine, acme, rep, date(2026, 12, 1))
    sweep(sweeper(engine), "2026-12-01T09:05+09:00")
    with Session(engine) as session:
        (row,) = session.exec(select(OutboxMessage)).all()
    assert row.payload["text"] == "Kakehashi のリマインダー: 未対応 2件"


def test_silent_accounts_by_touch_model_and_weekly_while_silent(engine: Engine) -> None:
    rep, other = person(engine, "UCS"), person(engine, "UCS3")
    high = account(engine, rep, created=at("2026-11-02T10:00+09:00"))
    tech = account(
        engine,
        other,
        name="さくら商事",
        touch=TouchModel.TECH,
        created=at("2026-11-02T10:00+09:00"),
    )
    r = sweeper(engine, ReminderRules())
    assert sweep(r, "2026-11-13T10:00+09:00") == {}
    assert sweep(r, "2026-11-16T10:00+09:00") == {"UCS": [f"silent:{high}:20261102T010000:0"]}
    assert sweep(r, "2026-11-20T10:00+09:00") == {}
    assert sweep(r, "2026-11-23T10:00+09:00") == {"UCS": [f"silent:{high}:20261102T010000:1"]}
    touch(engine, high, at("2026-11-24T11:00+09:00"))  # the timer restarts
    assert sweep(r, "2026-11-30T10:00+09:00") == {}
    # Silence is counted in whole days from the touch (one rule with the agenda and the DM):
    # 14 days after 11:00, not at the start of that day.
    assert sweep(r, "2026-12-08T10:59+09:00") == {}
    assert sweep(r, "2026-12-08T11:00+09:00") == {"UCS": [f"silent:{high}:20261124T020000:0"]}
    # Tech touch: 90 days (2027-01-31 is a Sunday, so Monday morning).
    assert "UCS3" not in sweep(r, "2027-01-29T10:00+09:00")
    assert sweep(r, "2027-02-01T10:00+09:00")["UCS3"] == [f"silent:{tech}:20261102T010000:0"]
    # A touch logged with an earlier date (an import) still counts from when it happened.
    touch(engine, tech, at("2026-12-01T10:00+09:00"))
    assert "UCS3" not in sweep(r, "2027-02-26T10:00+09:00")
    assert sweep(r, "2027-03-01T10:00+09:00")["UCS3"] == [f"silent:{tech}:20261201T010000:0"]


def test_onboarding_checkins_follow_acceptance_and_the_touch_model(engine: Engine) -> None:
    rep, sales = person(engine, "UCS"), person(engine, "USALES")
    high = account(engine, rep)
    low = account(engine, rep, name="Globex", touch=TouchModel.LOW)
    accepted = at("2026-11-02T10:00+09:00")
    h_high = handoff(engine, high, sales, rep, accepted - timedelta(days=1), accepted)
    h_low = handoff(engine, low, sales, rep, accepted - timedelta(days=1), accepted)
    r = sweeper(engine)
    assert sweep(r, "2026-11-06T10:00+09:00") == {}
    assert sweep(r, "2026-11-09T10:00+09:00") == {"UCS": [f"checkin:{h_high}:7"]}
    touch(engine, low, at("2026-11-14T10:00+09:00"))  # 2 days before day 14: that is the check-in
    assert sweep(r, "2026-11-16T10:00+09:00") == {"UCS": [f"checkin:{h_high}:14"]}
    assert sweep(r, "2026-12-02T10:00+09:00") == {"UCS": [f"checkin:{h_high}:30"]}
    assert sweep(r, "2026-12-17T10:00+09:00") == {"UCS": [f"checkin:{h_low}:45"]}


def test_a_pending_handoff_reminds_its_cs_owner_then_the_managers(engine: Engine) -> None:
    rep, sales = person(engine, "UCS"), person(engine, "USALES")
    person(engine, "UMANAGER", role=Role.MANAGER)
    person(engine, "UBOSS2", tz="America/New_York", locale="en-US", role=Role.MANAGER)
    acme = account(engine, rep)
    hid = handoff(engine, acme, sales, rep, at("2026-11-27T15:00+09:00"))  # Friday afternoon
    r = sweeper(engine)
    assert sweep(r, "2026-11-30T14:59+09:00") == {}
    assert sweep(r, "2026-11-30T15:00+09:00") == {"UCS": [f"handoff:{hid}:cs"]}
    manager = _person_id(engine, "UMANAGER")
    boss2 = _person_id(engine, "UBOSS2")
    assert sweep(r, "2026-12-01T15:00+09:00") == {"UMANAGER": [f"handoff:{hid}:manager:{manager}"]}
    # The handoff came at 01:00 on Friday in New York: its two working days start at 09:00.
    assert sweep(r, "2026-12-01T09:00-05:00") == {"UBOSS2": [f"handoff:{hid}:manager:{boss2}"]}


def test_a_manager_who_owns_the_handoff_is_reminded_not_escalated_to(engine: Engine) -> None:
    boss, sales = person(engine, "UMANAGER", role=Role.MANAGER), person(engine, "USALES")
    person(engine, "UTOKYO2", role=Role.MANAGER)  # shares the owner's calendar
    tokyo2 = _person_id(engine, "UTOKYO2")
    hid = handoff(engine, account(engine, boss), sales, boss, at("2026-11-27T15:00+09:00"))
    r = sweeper(engine)
    assert sweep(r, "2026-11-30T15:00+09:00") == {"UMANAGER": [f"handoff:{hid}:cs"]}
    assert sweep(r, "2026-12-01T15:00+09:00") == {"UTOKYO2": [f"handoff:{hid}:manager:{tokyo2}"]}


def test_accepting_the_handoff_stops_its_reminders(engine: Engine) -> None:
    rep, sales = person(engine, "UCS"), person(engine, "USALES")
    person(engine, "UMANAGER", role=Role.MANAGER)
    acme = account(engine, rep)
    hid = handoff(engine, acme, sales, rep, at("2026-11-27T15:00+09:00"))
    r = sweeper(engine)
    assert sweep(r, "2026-11-30T15:00+09:00") == {"UCS": [f"handoff:{hid}:cs"]}
    accept(engine, hid, rep, at("2026-12-01T10:00+09:00"))
    assert sweep(r, "2026-12-01T15:00+09:00") == {}  # the managers are not told
    assert sweep(r, "2026-12-07T15:00+09:00") == {}
    assert sweep(r, "2026-12-08T15:00+09:00") == {"UCS": [f"checkin:{hid}:7"]}  # onboarding now


def test_one_dm_per_person_gathers_everything_due(engine: Engine) -> None:
    rep, other = (
        person(engine, "UCS"),
        person(engine, "UCS2", tz="America/New_York", locale="en-US"),
    )
    acme = account(engine, rep, renewal=date(2027, 3, 1))
    globex = account(engine, other, name="Globex", renewal=date(2027, 3, 1))
    p1 = promise(engine, acme, rep, date(2026, 12, 1))
    p2 = promise(engine, acme, rep, date(2026, 11, 20))
    promise(engine, globex, other, date(2026, 12, 1))
    r = sweeper(engine)
    written = sweep(r, "2026-12-01T09:30+09:00")  # New York is asleep: only Tokyo
    assert written == {
        "UCS": [
            f"promise:{p2}:2026-11-20:overdue-1",
            f"promise:{p1}:2026-12-01:due",
            f"renewal:{acme}:2027-03-01:90",
        ]
    }
    assert set(sweep(r, "2026-12-01T09:30-05:00")) == {"UCS2"}


def test_the_same_due_date_comes_due_by_each_recipients_own_calendar(engine: Engine) -> None:
    """One sweep works out a due date's moment once per clock (zone's today, first day in time):
    in Tokyo it is already Tuesday, in Honolulu still Monday, so the same two due dates give
    each their own reminder."""
    tokyo = person(engine, "UCS")
    honolulu = person(engine, "UCS2", tz="Pacific/Honolulu", locale="en-US")
    found = {}
    for rep in (tokyo, honolulu):
        acme = account(engine, rep)
        found[rep] = [promise(engine, acme, rep, date(2026, 12, d)) for d in (1, 8)]
        found[rep].append(promise(engine, acme, rep, date(2026, 11, 24)))
    # 09:30 on Tuesday in Tokyo is 14:30 on Monday in Honolulu: both windows are open. The
    # promises due on 8 December are not due anywhere yet.
    written = sweep(sweeper(engine), "2026-12-01T09:30+09:00")
    [t1, _, t3], [h1, _, h3] = found[tokyo], found[honolulu]
    assert written == {
        "UCS": [f"promise:{t1}:2026-12-01:due", f"promise:{t3}:2026-11-24:overdue-1"],
        "UCS2": [f"promise:{h3}:2026-11-24:due", f"promise:{h1}:2026-12-01:before"],
    }


def test_what_comes_due_outside_the_window_waits_for_the_recipients_morning(
    engine: Engine,
) -> None:
    rep = person(engine, "UCS")
    acme = account(engine, rep)
    pid = promise(engine, acme, rep, date(2026, 11, 24))  # 3 days before: Saturday, so Monday
    r = sweeper(engine)
    assert sweep(r, "2026-11-23T20:00+09:00") == {}  # Monday evening: the window has closed
    assert sweep(r, "2026-11-24T07:00+09:00") == {}
    # Tuesday morning: the day itself has come; the "3 days before" reminder is not sent late.
    assert sweep(r, "2026-11-24T09:00+09:00") == {"UCS": [f"promise:{pid}:2026-11-24:due"]}


def test_daylight_saving_time_moves_a_new_york_reps_morning(engine: Engine) -> None:
    rep = person(engine, "UCS2", tz="America/New_York", locale="en-US")
    globex = account(engine, rep, name="Globex")
    autumn = promise(engine, globex, rep, date(2026, 11, 2))  # the Monday after DST ends
    spring = promise(engine, globex, rep, date(2027, 3, 15))  # the Monday after DST starts
    r = sweeper(engine, ReminderRules(promise_lead_days=0, silence_days={"high": 0}))
    assert sweep(r, "2026-11-02T13:30+00:00") == {}  # 08:30 EST (09:30 had it still been EDT)
    assert sweep(r, "2026-11-02T14:05+00:00") == {"UCS2": [f"promise:{autumn}:2026-11-02:due"]}
    with session_scope(engine) as session:
        kept = session.get(Promise, autumn)
        assert kept is not None
        promises.close(session=session, promise=kept, status=PromiseStatus.KEPT, note=None,
                       actor=None, at=at("2026-11-03T10:00-05:00"))  # fmt: skip
    assert sweep(r, "2027-03-15T12:55+00:00") == {}  # 08:55 EDT
    assert sweep(r, "2027-03-15T13:05+00:00") == {  # 09:05 EDT (08:05 had it still been EST)
        "UCS2": [f"promise:{spring}:2027-03-15:due"]
    }


def _person_id(engine: Engine, user_id: str) -> int:
    with Session(engine) as session:
        row = session.exec(select(Person).where(Person.user_id == user_id)).one()
        assert row.id is not None
        return row.id


# ---- sent once, and nothing stale ------------------------------------------------------------


def test_two_sweeps_racing_write_each_reminder_once(engine: Engine) -> None:
    rep = person(engine, "UCS")
    acme = account(engine, rep)
    promise(engine, acme, rep, date(2026, 11, 30))
    first, second = sweeper(engine), sweeper(engine)
    now = at("2026-11-30T09:05+09:00")
    with Session(engine) as session:  # both found the same work before either wrote it
        batches = first.due(session, now, write=False) + second.due(session, now, write=False)
    for index, batch in enumerate(batches):
        (first if index == 0 else second)._send(batch, now)
    with Session(engine) as session:
        assert len(session.exec(select(OutboxMessage)).all()) == 1
        assert len(session.exec(select(Reminder)).all()) == 1


def test_a_sweep_that_loses_one_dm_to_another_still_writes_the_others(engine: Engine) -> None:
    a, b = person(engine, "UCSA"), person(engine, "UCSB")
    first = promise(engine, account(engine, a, name="Acme"), a, date(2026, 11, 30))
    second = promise(engine, account(engine, b, name="Globex"), b, date(2026, 11, 30))
    now = at("2026-11-30T09:05+09:00")
    other = sweeper(engine)
    with Session(engine) as session:
        (to_a,) = [x for x in other.due(session, now, write=False) if x.person.user_id == "UCSA"]
    other._send(to_a, now)  # another process wrote A's DM first

    assert sweep(sweeper(engine), "2026-11-30T09:05+09:00") == {
        "UCSB": [f"promise:{second}:2026-11-30:due"]
    }
    with Session(engine) as session:
        keys = sorted(session.exec(select(Reminder.key)).all())
        assert keys == sorted(
            [f"promise:{first}:2026-11-30:due", f"promise:{second}:2026-11-30:due"]
        )
        assert len(session.exec(select(OutboxMessage)).all()) == 2


def test_a_sweep_writes_its_dms_a_few_at_a_time_each_whole(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jobs.reminders.sweep.WRITE_BATCH", 2)
    reps = {f"UCS{i}": person(engine, f"UCS{i}") for i in range(5)}
    due = {
        user: promise(engine, account(engine, rep, name=f"Acme {user}"), rep, date(2026, 11, 30))
        for user, rep in reps.items()
    }
    now = at("2026-11-30T09:05+09:00")
    other = sweeper(engine)
    with Session(engine) as session:
        (to_c,) = [x for x in other.due(session, now, write=False) if x.person.user_id == "UCS2"]
    other._send(to_c, now)  # another process wrote one of the DMs first
    parts: list[list[str]] = []
    write = Reminders._write

    def noted(self: Reminders, session: Session, batches: list[Any], when: datetime) -> None:
        parts.append([b.person.user_id for b in batches])
        write(self, session, batches, when)

    monkeypatch.setattr(Reminders, "_write", noted)
    written = sweep(sweeper(engine), "2026-11-30T09:05+09:00")
    assert written == {
        user: [f"promise:{due[user]}:2026-11-30:due"] for user in reps if user != "UCS2"
    }
    assert [len(part) for part in parts] == [2, 2]  # the DM written already is not again
    assert sorted(user for part in parts for user in part) == ["UCS0", "UCS1", "UCS3", "UCS4"]
    with Session(engine) as session:
        assert len(session.exec(select(OutboxMessage)).all()) == 5
        assert len(session.exec(select(Reminder)).all()) == 5


def test_a_snoozed_reminder_returns_however_late_its_occurrence_is_by_then(
    engine: Engine,
) -> None:
    rep = person(engine, "UCS")
    acme = account(engine, rep, renewal=date(2027, 4, 1))
    r = sweeper(engine)
    key = f"renewal:{acme}:2027-04-01:90"
    assert sweep(r, "2027-01-01T10:00+09:00") == {"UCS": [key]}
    with session_scope(engine) as session:  # snoozed for three weeks
        reminder = session.exec(select(Reminder).where(Reminder.key == key)).one()
        reminder.status = ReminderStatus.SNOOZED
        reminder.snoozed_until = at("2027-01-22T10:00+09:00")
        session.add(reminder)
    # Twenty-one days after it came due, too late to send it a first time, but it was snoozed.
    assert sweep(r, "2027-01-22T10:00+09:00") == {"UCS": [key]}


def test_data_changed_before_delivery_is_not_sent(engine: Engine, slack: FakeSlack) -> None:
    rep = person(engine, "UCS")
    acme = account(engine, rep, renewal=date(2027, 3, 1))
    kept = promise(engine, acme, rep, date(2026, 12, 1))
    r = sweeper(engine)
    assert sweep(r, "2026-12-01T09:05+09:00") == {
        "UCS": [f"promise:{kept}:2026-12-01:due", f"renewal:{acme}:2027-03-01:90"]
    }
    with session_scope(engine) as session:  # the promise is kept before Slack took the DM
        row = session.get(Promise, kept)
        assert row is not None
        promises.close(
            session=session,
            promise=row,
            status=PromiseStatus.KEPT,
            note=None,
            actor=None,
            at=at("2026-12-01T09:06+09:00"),
        )
    delivery = _delivery(engine, slack)
    delivery.sweep(at("2026-12-01T09:07+09:00"))
    [posted] = slack.calls_to("chat.postMessage")
    assert "Renewal" in posted["text"] or "更新" in json.dumps(posted, ensure_ascii=False)
    assert "導入研修" not in json.dumps(posted, ensure_ascii=False)
    # The renewal date moves before the next DM goes out: nothing is sent at all.
    rep2 = person(engine, "UCS2", tz="America/New_York", locale="en-US")
    globex = account(engine, rep2, name="Globex", renewal=date(2027, 3, 1))
    assert sweep(r, "2026-12-01T09:05-05:00") == {"UCS2": [f"renewal:{globex}:2027-03-01:90"]}
    with session_scope(engine) as session:
        row2 = session.get(Account, globex)
        assert row2 is not None
        row2.renewal_date = date(2027, 9, 1)
        session.add(row2)
    delivery.sweep(at("2026-12-01T09:06-05:00"))
    assert len(slack.calls_to("chat.postMessage")) == 1
    with Session(engine) as session:
        skipped = session.exec(select(OutboxMessage).where(OutboxMessage.recipient == "UCS2")).one()
        assert skipped.status == "skipped" and skipped.last_error == "no longer due"
        statuses = {r.key: r.status for r in session.exec(select(Reminder)).all()}
    assert statuses[f"promise:{kept}:2026-12-01:due"] == "dropped"
    assert statuses[f"renewal:{globex}:2027-03-01:90"] == "dropped"
    assert statuses[f"renewal:{acme}:2027-03-01:90"] == "sent"
    assert slack.rejections == []


def test_a_crowded_dm_stays_within_block_kit_limits_and_the_rest_follows(
    engine: Engine, slack: FakeSlack
) -> None:
    rep = person(engine, "UCS")
    acme = account(engine, rep, name=HOSTILE * 3)
    for n in range(25):
        promise(engine, acme, rep, date(2026, 12, 1), text=f"{HOSTILE} {n} " + "長" * 3000)
    r = sweeper(engine)
    assert len(sweep(r, "2026-12-01T09:05+09:00")["UCS"]) == 20
    assert len(sweep(r, "2026-12-01T09:06+09:00")["UCS"]) == 5
    _delivery(engine, slack).sweep(at("2026-12-01T09:07+09:00"))
    posted = slack.calls_to("chat.postMessage")
    assert len(posted) == 2 and slack.rejections == []
    text = json.dumps(posted, ensure_ascii=False)
    assert "<!channel>" not in text and "<@U0001>" not in text and "\\u0007" not in text
    assert "&lt;!channel&gt; &lt;@U0001&gt; &amp;" in text


def test_a_platform_whose_messages_hold_fewer_blocks_gets_fewer_reminders_a_dm(
    engine: Engine,
) -> None:
    rep = person(engine, "UCS")
    acme = account(engine, rep)
    for n in range(7):
        promise(engine, acme, rep, date(2026, 12, 1), text=f"Report {n}")
    r = replace(sweeper(engine), room=Room(blocks=12))  # a header, a note, two blocks each
    assert r.max_items == 5
    assert len(sweep(r, "2026-12-01T09:05+09:00")["UCS"]) == 5
    assert len(sweep(r, "2026-12-01T09:06+09:00")["UCS"]) == 2


@pytest.mark.parametrize(
    "oldest",
    [
        "2026-11-30T08:00+09:00",  # a Monday before opening: the weekend before is in time
        "2026-11-30T10:00+09:00",
        "2026-11-28T12:00+09:00",  # a Saturday
        "2027-05-06T08:59+09:00",  # the morning after Golden Week
        "2027-01-04T23:00+09:00",
    ],
)
def test_a_day_is_in_time_exactly_when_its_reminders_come_due_after_the_limit(
    oldest: str,
) -> None:
    calendar = WorkWeek(holidays="JP").calendar(ZoneInfo("Asia/Tokyo"))
    recipient = Recipient.at(Person(id=1, user_id="UCS"), calendar, at(oldest) + LATE_LIMIT)
    snap = Snapshot(
        session=cast(Session, None),
        rules=ReminderRules(),
        now=at(oldest) + LATE_LIMIT,
        recipients={1: recipient},
        oldest_due=at(oldest),
    )
    start = at(oldest).date() - timedelta(days=20)
    for day in (start + timedelta(days=n) for n in range(40)):
        expected = calendar.start_of(day) >= at(oldest)
        assert snap.on_day_in_time(1, day) == expected, day


def test_a_full_dm_holds_the_most_pressing_kinds_and_the_others_follow(engine: Engine) -> None:
    """A DM full of promises leaves renewals and silence for the next sweep, however old they
    are (the sweep does not even look at them for a person whose DM is full)."""
    rep = person(engine, "UCS")
    acme = account(engine, rep, renewal=date(2027, 3, 1), created=at("2026-10-01T10:00+09:00"))
    promises = [promise(engine, acme, rep, date(2026, 12, 1)) for _ in range(21)]
    r = sweeper(engine, rules=ReminderRules(silence_days={"high": 14, "low": 0, "tech": 0}))
    keys = sorted(f"promise:{p}:2026-12-01:due" for p in promises)  # the key breaks ties
    assert sweep(r, "2026-12-01T09:05+09:00") == {"UCS": keys[:20]}
    assert sweep(r, "2026-12-01T09:06+09:00") == {
        "UCS": [keys[20], f"renewal:{acme}:2027-03-01:90", f"silent:{acme}:20261001T010000:6"]
    }
    assert sweep(r, "2026-12-01T09:07+09:00") == {}


def _delivery(engine: Engine, slack: FakeSlack) -> Delivery:
    settings = make_settings(engine.url.render_as_string(hide_password=False), slack.api_url)
    return Delivery(
        engine=engine,
        transport=SlackTransport(WebClient(token=TOKEN, base_url=slack.api_url)),
        clock=FixedClock(NOW),
        pacer=unpaced(),
        recompose=recompose(settings, engine),
    )


# ---- kakehashi jobs run-due | preview ----------------------------------------------------------


def tokyo_rep_with_a_promise(engine: Engine, due: date) -> int:
    """aiko (UCS: Asia/Tokyo, ja-JP in the fake Slack) owns a promise; her profile is not cached
    yet, so the sweep looks her time zone up."""
    with session_scope(engine) as session:
        rep = Person(user_id="UCS")
        session.add(rep)
        session.flush()
        assert rep.id is not None
    acme = account(engine, rep.id, touch=TouchModel.TECH)
    return promise(engine, acme, rep.id, due)


def run(capsys: pytest.CaptureFixture[str], command: str, when: str) -> list[str]:
    assert main(["jobs", command, "--at", when]) == 0
    return capsys.readouterr().out.splitlines()


def test_run_due_sends_a_tokyo_reps_monday_promise_once_in_her_morning(
    cli_env: None, engine: Engine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = tokyo_rep_with_a_promise(engine, date(2026, 11, 30))  # a Monday
    assert run(capsys, "run-due", "2026-11-29T23:00+09:00") == []  # Sunday night
    assert slack.calls_to("chat.postMessage") == []
    lines = run(capsys, "run-due", "2026-11-30T09:05+09:00")
    assert len(lines) == 1 and lines[0].startswith("reminder reminder:UCS:20261130T0005Z:")
    assert lines[0].endswith("→ UCS")
    with Session(engine) as session:  # her Slack profile was looked up and cached
        rep = session.exec(select(Person).where(Person.user_id == "UCS")).one()
        assert (rep.tz, rep.locale) == ("Asia/Tokyo", "ja-JP")
    assert run(capsys, "run-due", "2026-11-30T09:06+09:00") == []
    assert run(capsys, "run-due", "2026-11-30T14:00+09:00") == []
    [posted] = slack.calls_to("chat.postMessage")
    assert posted["channel"] == "UCS" and "リマインダー" in posted["text"]
    shown = json.dumps(posted["blocks"], ensure_ascii=False)
    assert f"P-{pid} 導入研修を実施" in shown and "約束の期限は今日です" in shown
    assert slack.rejections == []


def test_no_reminders_on_a_japanese_public_holiday(
    cli_env: None,
    engine: Engine,
    slack: FakeSlack,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAKEHASHI_HOLIDAYS", "JP")
    tokyo_rep_with_a_promise(engine, date(2026, 11, 23))  # Labour Thanksgiving Day, a Monday
    assert run(capsys, "run-due", "2026-11-23T09:05+09:00") == []
    assert run(capsys, "run-due", "2026-11-23T15:00+09:00") == []
    assert len(run(capsys, "run-due", "2026-11-24T09:05+09:00")) == 1
    assert run(capsys, "run-due", "2026-11-24T09:30+09:00") == []
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_preview_says_what_would_be_sent_and_writes_nothing(
    cli_env: None, engine: Engine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = tokyo_rep_with_a_promise(engine, date(2026, 11, 30))
    with Session(engine) as session:  # cached so the preview needs no lookup
        rep = session.exec(select(Person).where(Person.user_id == "UCS")).one()
        rep.tz, rep.locale, rep.profile_fetched_at = "Asia/Tokyo", "ja-JP", NOW
        session.add(rep)
        session.commit()
    assert run(capsys, "preview", "2026-11-29T23:00+09:00") == []
    lines = run(capsys, "preview", "2026-11-30T09:05+09:00")
    assert lines == [f"reminder → UCS: promise due · 株式会社ACME · P-{pid}"]
    with Session(engine) as session:
        assert session.exec(select(Reminder)).all() == []
        assert session.exec(select(OutboxMessage)).all() == []
    assert slack.calls_to("chat.postMessage") == []
    assert len(run(capsys, "run-due", "2026-11-30T09:05+09:00")) == 1


def test_bad_reminder_settings_stop_start_up_with_one_line(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = {
        "KAKEHASHI_REMIND_RENEWAL": ("90,soon", "KAKEHASHI_REMIND_RENEWAL must be numbers of days"),
        "KAKEHASHI_REMIND_HANDOFF": ("2,1", "KAKEHASHI_REMIND_HANDOFF must be two numbers"),
        "KAKEHASHI_REMIND_CHECKINS": ("vip=7", "KAKEHASHI_REMIND_CHECKINS must look like high="),
        "KAKEHASHI_REMIND_SILENCE": ("high=7,14", "KAKEHASHI_REMIND_SILENCE must give one number"),
        "KAKEHASHI_REMIND_PROMISE": ("-3", "KAKEHASHI_REMIND_PROMISE must be a number of days"),
    }
    for name, (value, message) in cases.items():
        monkeypatch.setenv(name, value)
        assert main(["jobs", "preview"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"kakehashi: {message}") and err.count("\n") == 1, err
        monkeypatch.delenv(name)


def test_reminder_timing_is_configurable(engine: Engine) -> None:
    settings = make_settings(
        engine.url.render_as_string(hide_password=False),
        KAKEHASHI_REMIND_PROMISE="7",
        KAKEHASHI_REMIND_RENEWAL="45",
        KAKEHASHI_REMIND_CHECKINS="high=3",
        KAKEHASHI_REMIND_SILENCE="tech=0; low=20",
        KAKEHASHI_REMIND_HANDOFF="2,5",
        KAKEHASHI_WORK_HOURS="10:00-16:00",
        KAKEHASHI_HOLIDAYS="jp",
    )
    rules = settings.reminder_rules
    assert rules.promise_lead_days == 7 and rules.renewal_days == (45,)
    assert rules.checkin_days == {"high": (3,), "low": (14, 45, 90), "tech": (30, 90)}
    assert rules.silence_days == {"high": 14, "low": 20, "tech": 0}
    assert rules.handoff_days == (2, 5)
    assert settings.work_week == WorkWeek(
        start=datetime(1, 1, 1, 10).time(), end=datetime(1, 1, 1, 16).time(), holidays="JP"
    )


# ---- the buttons, through signed Slack requests ----------------------------------------------


def buttons(message: JSON) -> dict[str, list[str]]:
    """action id → the values of the buttons with it, in the order shown."""
    found: dict[str, list[str]] = {}
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("type") == "button":
                found.setdefault(element["action_id"], []).append(element.get("value", ""))
    return found


def shown(message: JSON) -> str:
    return json.dumps(message.get("blocks") or [], ensure_ascii=False)


async def press(server: SlackServer, user_id: str, action_id: str, value: str) -> JSON:
    url = server.slack.new_response_url()
    body = block_actions_body(user_id, action_id, value, channel_id="DUCS", response_url=url)
    assert (await server.post(body)).status_code == 200
    return await server.reply_to(url)


def deliver_due(runtime: Runtime, when: str) -> int:
    """One scheduler tick (reminders, then delivery); how many messages it sent."""
    return len(_tick(runtime, at(when)))


def _tick(runtime: Runtime, now: datetime) -> list[str]:
    out = StringIO()
    run_due(runtime, slack_delivery(runtime.settings, runtime.engine), now, out=out)
    return out.getvalue().splitlines()


async def test_done_updates_the_dm_in_place_and_is_audited(
    server: SlackServer, runtime: Runtime, engine: Engine, clock: FixedClock
) -> None:
    tokyo_rep_with_a_promise(engine, date(2026, 11, 30))
    assert deliver_due(runtime, "2026-11-30T09:05+09:00") == 1
    [dm] = server.slack.calls_to("chat.postMessage")
    assert set(buttons(dm)) == {
        "reminders.done",
        "reminders.snooze",
        "reminders.log_touch",
        "reminders.kept",
    }
    item = buttons(dm)["reminders.done"][0]

    refused = await press(server, "USALES", "reminders.done", item)  # not hers: refused
    assert "Ask <@UCS> or a manager (<@UMANAGER>)" in shown(refused)
    assert refused.get("replace_original") is not True

    clock.at = at("2026-11-30T09:20+09:00")
    updated = await press(server, "UCS", "reminders.done", item)
    assert updated["replace_original"] is True
    assert "✓ <@UCS> さんが完了にしました(2026年11月30日 9:20)" in shown(updated)
    assert "すべて対応済みです" in shown(updated) and buttons(updated) == {}
    with Session(engine) as session:
        reminder = session.exec(select(Reminder)).one()
        assert reminder.status == "done" and reminder.handled_at == clock.at
        entry = session.exec(select(AuditEntry).where(AuditEntry.entity == "reminder")).one()
        assert entry.action == "done" and entry.changes == {"status": ["sent", "done"]}
    assert deliver_due(runtime, "2026-12-01T09:05+09:00") == 0
    assert server.slack.rejections == []


async def test_a_snoozed_reminder_returns_at_the_chosen_working_time_and_not_before(
    server: SlackServer, runtime: Runtime, engine: Engine, clock: FixedClock
) -> None:
    tokyo_rep_with_a_promise(engine, date(2026, 11, 27))  # a Friday
    assert deliver_due(runtime, "2026-11-27T17:30+09:00") == 1
    [dm] = server.slack.calls_to("chat.postMessage")
    item = buttons(dm)["reminders.snooze"][0]
    clock.at = at("2026-11-27T17:40+09:00")

    choices = await press(server, "UCS", "reminders.snooze", item)
    assert choices["replace_original"] is True
    assert set(buttons(choices)) == {
        "reminders.snooze.today",
        "reminders.snooze.tomorrow",
        "reminders.snooze.week",
        "reminders.back",
    }
    back = await press(server, "UCS", "reminders.back", item)
    assert "reminders.done" in buttons(back)

    snoozed = await press(server, "UCS", "reminders.snooze.tomorrow", item)
    # Friday evening's "tomorrow" is Monday morning, when her window opens.
    assert "2026年11月30日 9:00までスヌーズしました" in shown(snoozed)
    for when in ("2026-11-28T10:00+09:00", "2026-11-30T08:59+09:00"):
        assert deliver_due(runtime, when) == 0, when
    assert deliver_due(runtime, "2026-11-30T09:00+09:00") == 1
    assert deliver_due(runtime, "2026-11-30T10:00+09:00") == 0
    again = server.slack.calls_to("chat.postMessage")[-1]
    assert "約束の期限を3日過ぎています" in shown(again) and "reminders.done" in buttons(again)
    with Session(engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "snoozed")).one()
        assert entry.changes["snoozed_until"] == "2026-11-30T00:00:00+00:00"


async def test_kept_closes_the_promise_from_the_reminder(
    server: SlackServer, runtime: Runtime, engine: Engine, clock: FixedClock
) -> None:
    pid = tokyo_rep_with_a_promise(engine, date(2026, 11, 30))
    deliver_due(runtime, "2026-11-30T09:05+09:00")
    [dm] = server.slack.calls_to("chat.postMessage")
    clock.at = at("2026-11-30T11:00+09:00")
    url = server.slack.new_response_url()
    body = block_actions_body(
        "UCS",
        "reminders.kept",
        buttons(dm)["reminders.kept"][0],
        channel_id="DUCS",
        response_url=url,
    )
    assert (await server.post(body)).status_code == 200
    replies = await server.slack.await_for("response_url", count=2)
    updated = next(r for r in replies if r.get("replace_original") is True)
    told = next(r for r in replies if r.get("replace_original") is not True)
    assert "約束を履行済みにしました" in shown(updated)
    assert f"P-{pid}" in shown(told)
    with Session(engine) as session:
        row = session.get(Promise, pid)
        assert row is not None and row.status == "kept"
        assert session.exec(select(Reminder)).one().status == "kept"
    assert deliver_due(runtime, "2026-12-07T09:05+09:00") == 0  # no overdue reminder follows


async def test_log_touch_opens_the_touch_form_for_the_account(
    server: SlackServer, runtime: Runtime, engine: Engine
) -> None:
    tokyo_rep_with_a_promise(engine, date(2026, 11, 30))
    deliver_due(runtime, "2026-11-30T09:05+09:00")
    [dm] = server.slack.calls_to("chat.postMessage")
    body = block_actions_body(
        "UCS",
        "reminders.log_touch",
        buttons(dm)["reminders.log_touch"][0],
        channel_id="DUCS",
        response_url=server.slack.new_response_url(),
    )
    assert (await server.post(body)).status_code == 200
    [opened] = await server.slack.await_for("views.open")
    assert opened["view"]["callback_id"] == "touch.log"
    assert "株式会社ACME" in json.dumps(opened["view"], ensure_ascii=False)


async def test_a_button_naming_no_reminder_says_so(server: SlackServer) -> None:
    for value in ("999", "", "<!channel>", "1; DROP TABLE reminders"):
        reply = await press(server, "UCS", "reminders.done", value)
        assert "見つかりません" in shown(reply), value


# ---- the shell -------------------------------------------------------------------------------


def test_the_shell_moves_its_clock_and_shows_reminders_as_they_come_due(
    shell: ShellSession,
) -> None:
    # The demo's ben (New York) promised Globex security answers for 2026-11-25.
    printed = shell.run(":time 2026-11-23T08:00-05:00")
    assert "Nov 23, 2026 10:00 PM" in printed  # the shell speaks as mika, in Tokyo
    assert "→ to @ben" not in printed  # 08:00 in New York: not yet
    printed = shell.run(":time +1h")
    assert "→ to @ben:" in printed and "*Promise due in 2 days* · Globex Inc." in printed
    assert shell.run(":time +1m").count("→ to @ben") == 0  # nothing twice
    assert "is not a time" in shell.run(":time someday")
    numbers = [n for n, b in shell.shell.buttons.items() if b.action_id == "reminders.done"]
    printed = shell.run(":as ben", str(numbers[-1]))
    assert "(message updated)" in printed and "✓ Done by @ben" in printed
    printed = shell.run(":time 2026-11-25T09:00-05:00")
    assert "*Promise due today* · Globex Inc." in printed


async def test_keeping_the_promise_by_command_updates_its_reminder_dm_in_place(
    server: SlackServer, runtime: Runtime, engine: Engine, clock: FixedClock
) -> None:
    pid = tokyo_rep_with_a_promise(engine, date(2026, 11, 30))
    deliver_due(runtime, "2026-11-30T09:05+09:00")
    [dm] = server.slack.calls_to("chat.postMessage")
    assert "reminders.kept" in buttons(dm)
    clock.at = at("2026-11-30T11:00+09:00")
    url = server.slack.new_response_url()
    body = slash_command_body("/promise", f"kept P-{pid}", "UCS", response_url=url)
    assert (await server.post(body)).status_code == 200
    await server.reply_to(url)
    assert deliver_due(runtime, "2026-11-30T11:00+09:00") == 1  # the update, through the outbox
    [update] = server.slack.calls_to("chat.update")
    assert "✓ <@UCS> さんが対応しました(2026年11月30日 11:00)" in shown(update)
    assert buttons(update) == {} and "すべて対応済みです" in shown(update)
    with Session(engine) as session:
        assert session.exec(select(Reminder)).one().status == ReminderStatus.RESOLVED
    assert server.slack.rejections == []


async def test_the_handoff_waiting_reminder_accepts_the_handoff_in_place(
    server: SlackServer, runtime: Runtime, engine: Engine, clock: FixedClock
) -> None:
    rep, sales = person(engine, "UCS"), person(engine, "USALES")
    account_id = account(engine, rep)
    handoff_id = handoff(engine, account_id, sales, rep, at("2026-11-26T10:00+09:00"))
    assert deliver_due(runtime, "2026-11-27T10:05+09:00") == 1
    [dm] = server.slack.calls_to("chat.postMessage")
    accept = buttons(dm)["reminders.accept"][0]
    refused = await press(server, "USALES", "reminders.accept", accept)
    assert "<@UCS> または マネージャー" in shown(refused)
    clock.at = at("2026-11-27T10:30+09:00")
    updated = await press(server, "UCS", "reminders.accept", accept)
    assert updated["replace_original"] is True and buttons(updated) == {}
    assert "✓ <@UCS> さんが対応しました" in shown(updated)
    with Session(engine) as session:
        row = session.get(Handoff, handoff_id)
        assert row is not None and row.status == HandoffStatus.ACCEPTED
