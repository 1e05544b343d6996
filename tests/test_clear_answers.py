"""Clear, consistent answers (issue 18 items 10-12), through the shell: an exact full name wins
over the names it folds like; a promise without its text says so; a refusal names each person
once and never tells someone to look at their own card."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from storage.accounts import Account, fold_name
from tests.conftest import ShellSession


def add_account(shell: ShellSession, name: str) -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    with Session(shell.shell.runtime.engine) as session:
        session.add(Account(name=name, name_key=fold_name(name), created_at=at, updated_at=at))
        session.commit()


def test_the_full_name_finds_the_account_when_several_fold_alike(shell: ShellSession) -> None:
    add_account(shell, "ACME Inc.")  # folds like the demo's 株式会社ACME
    printed = shell.run("/account ACME")
    assert "株式会社ACME" in printed and "ACME Inc." in printed  # several: listed
    for typed in ("株式会社ACME", "株式会社ＡＣＭＥ", "acme inc."):
        printed = shell.run(f"/account {typed}")
        assert "several" not in printed and "Stage" in printed, (typed, printed)
    assert "== ACME Inc. ==" in shell.run("/account ACME Inc.")
    assert "*株式会社ACME*" in shell.run("/promise list 株式会社ACME")


def test_a_refusal_names_an_owner_who_is_a_manager_once(shell: ShellSession) -> None:
    printed = shell.run("/promise Globex: Send the 2027 roadmap by 2026-12-20")
    number = printed.split("*P-", 1)[1].split("*", 1)[0]
    printed = shell.run(":as sara", f"/promise kept P-{number}")
    assert "Ask @ben or a manager (" in printed and "@mika)." in printed
    assert printed.count("@mika") == 1


def test_accepting_your_own_handoff_does_not_point_you_at_your_own_card(
    shell: ShellSession,
) -> None:
    home = shell.run(":as ben", ":home")
    accept = home.split("H-2", 1)[1].split("] Accept", 1)[0].rsplit("[", 1)[1]
    printed = shell.run(accept)
    assert "You accepted H-2 (*Initech LLC*). Your handoff card shows it" in printed
    assert "@ben's card" not in printed


def test_a_promise_without_its_text_asks_for_the_text_not_for_something_before_a_date(
    shell: ShellSession,
) -> None:
    for typed in ("ネオテック:", "ACME:", "ACME:   ", "ＡＣＭＥ："):
        printed = shell.run(f"/promise {typed}")
        assert "Say what was promised, e.g." in printed and "before the date" not in printed
    printed = shell.run("/promise ACME: by 2026-12-20")
    assert "Say what was promised before the date" in printed


def test_the_promise_forms_fields_say_what_they_hold(shell: ShellSession) -> None:
    printed = shell.run("/promise", "ACME", "", "by 2026-12-01", "", ":cancel")
    assert "✗ What was promised: Say what was promised, e.g." in printed
    assert "✗ Due date: “by 2026-12-01” is not a date. This field holds just the date" in printed
    assert "`by 2026-12-01`" not in printed
