"""Reminders clear themselves (PRODUCT §9): doing what a reminder asks, by its button or any
other way, resolves it everywhere it is shown (its DM updated in place, the Home tab drops it);
one subject is one reminder, however many DMs named it. A scripted shell session of the demo
week shows it as a person would."""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlmodel import Session, col, select

from storage.db import alembic_config, make_engine, upgrade
from storage.reminders import Reminder, ReminderStatus
from tests.conftest import ShellSession


def button(printed: str, after: str, label: str) -> str:
    """The number of the first button labelled `label` printed after the line holding `after`."""
    tail = printed[printed.rindex(after) :]
    found = re.search(rf"\[(\d+)\] {re.escape(label)}", tail)
    assert found, f"no {label} after {after}"
    return found[1]


def reminders_section(home: str) -> str:
    """The Home tab's reminders, up to the next section."""
    start = home.index("*リマインダー*") if "*リマインダー*" in home else home.index("*Reminders*")
    return home[start : home.index("-" * 40, start)]


def demo_week(shell: ShellSession) -> str:
    """aiko's week: the shell's clock moves a day at a time from Monday to the next Tuesday."""
    printed = shell.run(":as aiko")
    for _ in range(8):
        printed += shell.run(":time +1d")
    return printed


def test_the_home_tab_lists_each_subject_once_however_many_dms_named_it(
    shell: ShellSession,
) -> None:
    week = demo_week(shell)
    assert week.count("P-4 管理者向けトレーニングを実施") == 2  # reminded on Tuesday and Thursday
    assert week.count("接触がありません* · さくら商事株式会社") == 2
    reminders = reminders_section(shell.run(":home"))
    # P-4, さくら's silence and overdue renewal, P-3, P-1
    assert "*リマインダー* (5件)" in reminders
    assert reminders.count("P-4 管理者向けトレーニングを実施") == 1
    assert reminders.count("接触がありません") == 1
    assert reminders.count("P-3 SSO") == 1


def test_snoozing_a_subject_snoozes_it_whatever_dm_named_it(shell: ShellSession) -> None:
    demo_week(shell)
    home = shell.run(":home")
    printed = shell.run(button(home, "P-4 管理者向け", "来週"))
    reminders = reminders_section(shell.run(":home"))
    assert "*リマインダー* (5件)" in reminders  # still five subjects, P-4 snoozed
    assert reminders.count("P-4 管理者向けトレーニングを実施") == 1
    assert "スヌーズ中" in reminders or "まで" in reminders, printed
    with Session(shell.shell.runtime.engine) as session:
        about_p4 = session.exec(select(Reminder).where(col(Reminder.promise_id) == 4)).all()
        assert {r.status for r in about_p4} <= {ReminderStatus.SNOOZED, ReminderStatus.DROPPED}
    # The snooze holds: Wednesday's sweep does not remind P-4 again, though it is overdue.
    assert "P-4" not in shell.run(":time +1d")


def test_keeping_the_promise_by_command_resolves_its_reminder_everywhere(
    shell: ShellSession,
) -> None:
    week = demo_week(shell)
    printed = shell.run("/promise kept P-4")
    assert "(メッセージを更新しました)" in printed  # the reminder DMs, updated in place
    assert "✓ @aiko さんが対応しました" in printed
    reminders = reminders_section(shell.run(":home"))
    assert "P-4" not in reminders and "*リマインダー* (4件)" in reminders
    # Kept pressed on an earlier DM about P-4: it says so, and keeps nothing twice.
    printed = shell.run(button(week, "P-4 管理者向け", "約束を履行"))
    assert "✓ @aiko さんが対応しました" in printed
    assert "約束を履行" not in printed.split("P-4 管理者向け", 1)[1].split("\n")[1]


def test_logging_a_touch_from_the_silence_reminder_resolves_it(shell: ShellSession) -> None:
    week = demo_week(shell)
    log_touch = button(week, "接触がありません* · さくら", "接触を記録")
    printed = shell.run(log_touch, "", "電話で近況を確認しました", ".")
    assert "さくら商事株式会社" in printed  # the touch form, for that account
    assert "(メッセージを更新しました)" in printed
    reminders = reminders_section(shell.run(":home"))
    assert "接触がありません" not in reminders and "*リマインダー* (4件)" in reminders


def test_a_touch_by_command_resolves_the_silence_reminder_too(shell: ShellSession) -> None:
    demo_week(shell)
    shell.run("/touch さくら商事 電話: 更新について相談")
    assert "接触がありません" not in reminders_section(shell.run(":home"))


def test_the_handoff_waiting_reminder_offers_accept_to_its_cs_owner_and_managers(
    shell: ShellSession,
) -> None:
    # H-2 (Initech, kenji → ben) waits; mika the manager hears about it on Tuesday.
    printed = shell.run(":time +1d")
    assert "*Handoff not accepted yet* · Initech LLC" in printed
    accept = button(printed, "*Handoff not accepted yet* · Initech LLC", "Accept")
    printed = shell.run(accept)
    assert "(message updated)" in printed and "✓ Taken care of by @mika" in printed
    assert "Accept" not in printed.split("Taken care of", 1)[1]
    home = shell.run(":as ben", ":home")
    assert "Handoff not accepted yet" not in home  # ben's own reminder about H-2 went too
    printed = shell.run(":as mika", accept)
    assert "Taken care of" in printed  # pressed again: nothing changes, it says so


def test_accept_on_a_reminder_is_refused_to_someone_else(shell: ShellSession) -> None:
    printed = shell.run(":time +1d")
    accept = button(printed, "*Handoff not accepted yet* · Initech LLC", "Accept")
    printed = shell.run(":as sara", accept)
    assert "@mika" in printed  # told whom to ask
    with Session(shell.shell.runtime.engine) as session:
        assert (
            session.exec(
                select(Reminder).where(col(Reminder.status) == ReminderStatus.RESOLVED)
            ).first()
            is None
        )


def test_a_silence_counts_the_same_days_in_the_dm_the_home_tab_and_the_agenda(
    shell: ShellSession,
) -> None:
    # さくら商事's last touch was 100 days before the demo's Monday 10:00 (Tokyo), at 10:00.
    # At 09:00 Tokyo a week later, 106 whole days have passed, though it is day 107 locally.
    printed = shell.run(":as aiko", ":time 2026-11-30T09:00+09:00")
    assert "*106日間接触がありません* · さくら商事株式会社" in printed
    assert "*106日間接触がありません*" in reminders_section(shell.run(":home"))
    agenda = shell.run(":as mika", "/sync preview")  # mika reads English
    assert "*さくら商事株式会社* · no touch for 106 days (tech touch)" in agenda


def test_an_overdue_renewal_is_shown_until_the_stage_or_date_changes(shell: ShellSession) -> None:
    # The demo's さくら商事 was to renew 2025-12-23 and is not marked renewed.
    printed = shell.run(":as aiko", ":time 2026-11-24T09:00+09:00")
    assert "*更新日を336日過ぎています* · さくら商事株式会社" in printed
    assert "更新日は2025年12月23日(年間 ¥360,000)で、" in printed  # the value once, per year
    assert "更新日を336日過ぎています" in reminders_section(shell.run(":home"))
    agenda = shell.run(":as mika", "/sync preview")
    assert "*さくら商事株式会社* · renewal date Dec 23, 2025 passed (336 days ago)" in agenda
    assert "1 past their date, not renewed" in shell.run("/portfolio")
    printed = shell.run(":as aiko", "/account さくら商事 stage renewed")
    assert "(メッセージを更新しました)" in printed  # marked renewed: the reminder is resolved
    assert "更新日を" not in reminders_section(shell.run(":home"))
    assert "past their date" not in shell.run(":as mika", "/portfolio")
    assert "passed" not in shell.run("/sync preview").split("*Renewals", 1)[1].split("---")[0]


def test_an_upgrade_leaves_one_open_reminder_per_subject(tmp_path: Path) -> None:
    """What earlier versions left: two open copies of one promise's reminder (the Home tab listed
    both), and another subject's. After the upgrade only the newest copy is open."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0014_crm_events")
    sent = "'2026-11-30 00:05:00'"
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO people (id, user_id, name, is_bot) VALUES (1, 'UCS', 'aiko', false)")
        )
        for rid, kind, detail, promise in [
            (1, "promise", "overdue-1", 4),
            (2, "promise", "overdue-2", 4),
            (3, "promise", "due", 3),
            (4, "silent", "14", None),
        ]:
            connection.execute(
                text(
                    "INSERT INTO reminders (id, key, kind, detail, person_id, account_id,"
                    f" promise_id, status, sent_at) VALUES ({rid}, 'k{rid}', '{kind}',"
                    f" '{detail}', 1, 1, :promise, 'sent', {sent})"
                ),
                {"promise": promise},
            )

    upgrade(engine)

    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, status FROM reminders ORDER BY id")).all()
    assert [tuple(row) for row in rows] == [
        (1, "dropped"),
        (2, "sent"),
        (3, "sent"),
        (4, "sent"),
    ]
    engine.dispose()
