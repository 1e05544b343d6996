"""`/sync` in `kakehashi shell`: the shell's pretend channel (#CSHELL) is subscribed, the agenda
is previewed, and when the shell's clock reaches the slot it is posted there, once."""

from __future__ import annotations

from sqlmodel import Session, select

from storage.outbox import OutboxMessage
from tests.conftest import ShellSession


def test_the_shell_subscribes_its_channel_and_shows_the_agenda(shell: ShellSession) -> None:
    printed = shell.run("/sync weekly mon 09:00 Asia/Tokyo team @aiko @ben", "/sync")
    assert "every *Monday at 09:00* (Asia/Tokyo), for the accounts whose CS owner is " in printed
    assert "@aiko, @ben" in printed and "Next post: *Nov 30, 2026 9:00 AM*." in printed

    preview = shell.run("/sync preview")
    assert "(Preview, only you can see it." in preview
    assert "== Weekly Sales × CS sync · Nov 16, 2026 – Nov 23, 2026 ==" in preview
    assert "*Renewals in the next 90 days*" in preview and "@ben" in preview
    assert "→ to #CSHELL" not in preview


def test_the_agenda_is_posted_to_the_pretend_channel_once_when_its_time_comes(
    shell: ShellSession,
) -> None:
    shell.run("/sync weekly mon 09:00 Asia/Tokyo")
    before = shell.run(":time 2026-11-30T08:59+09:00")
    assert "#CSHELL" not in before
    posted = shell.run(":time 2026-11-30T09:00+09:00")
    assert "→ to #CSHELL:" in posted
    assert "== Weekly Sales × CS sync · Nov 23, 2026 – Nov 30, 2026 ==" in posted
    again = shell.run(":time +2h")
    assert "#CSHELL" not in again
    with Session(shell.shell.runtime.engine) as session:
        agendas = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "agenda")).all()
        assert [(a.key, a.status) for a in agendas] == [("agenda:CSHELL:2026-11-30", "sent")]
