"""/handoff in `kakehashi shell`: the form as prompts, the DMs as they are delivered, the buttons
by number (with the demo company)."""

from __future__ import annotations

import re
from datetime import date

from sqlmodel import Session, select

from storage.accounts import Account
from storage.handoffs import Handoff
from tests.conftest import ShellSession

FORM = [
    "Hooli K.K.",  # account name
    "@aiko",  # CS owner
    "1",  # high touch
    "Enterprise, 200 seats",
    "1,200,000",
    "",  # currency: kenji reads Japanese, so the default is JPY
    "2026-12-01",
    "2027-11-30",
    "Cut onboarding from 3 months to 1",
    ".",
    "SSO failed in the trial",
    ".",
    "Tanaka Yuki, CTO, tanaka@example.co.jp",
    ".",
    "Monthly usage report every month",
    ".",
    ".",  # no risks
]


def button(printed: str, label: str) -> str:
    found = re.findall(rf"\[(\d+)\] {label}", printed)
    assert found, printed
    return str(found[-1])


def test_hand_off_ask_reply_and_accept_in_the_shell(shell: ShellSession) -> None:
    printed = shell.run(":as kenji", "/handoff Hooli @aiko", *FORM)
    assert "顧客の引き継ぎ" in printed and "事実" in printed
    assert "→ @aiko 宛て:" in printed and "== 引き継ぎ: Hooli K.K. ==" in printed
    assert "¥1,200,000" in printed and "→ @kenji 宛て:" in printed

    ask = button(printed, "質問する")
    printed = shell.run(":as aiko", ask, "Who signs the PO?", ".")
    assert "@kenji さんに送りました" in printed
    assert "→ @kenji 宛て:" in printed and ">Who signs the PO?" in printed

    reply = button(printed, "返信する")
    printed = shell.run(":as kenji", reply, "Tanaka-san, the CTO.", ".")
    assert "→ @aiko 宛て:" in printed and "Tanaka-san, the CTO." in printed

    accept = button(shell.out.getvalue(), "引き受ける")
    printed = shell.run(":as ben", accept)
    assert "引き継ぎを引き受けられるのは" not in printed  # ben reads English
    assert "Only the handoff's CS owner or a manager can accept it. Ask @aiko or" in printed
    printed = shell.run(":as aiko", accept)
    assert "(メッセージを更新しました)" in printed and "✅ @aiko さんが" in printed
    assert "❓ @aiko" in printed and "↳ @kenji" in printed  # the thread stays on the handoff
    assert "→ @kenji 宛て:" in printed and "引き受けました" in printed
    with Session(shell.shell.runtime.engine) as session:
        hooli = session.exec(select(Account).where(Account.name == "Hooli K.K.")).one()
        handoff = session.exec(select(Handoff).where(Handoff.account_id == hooli.id)).one()
        assert (hooli.currency, handoff.status) == ("JPY", "accepted")


def test_the_form_asks_again_for_what_was_wrong(shell: ShellSession) -> None:
    form = list(FORM)
    form[6], form[7] = "2026-12-01", "2026-11-01"  # renewal before start
    # Asked again, the renewal date offers what was typed: Enter keeps it (the same error),
    # then a later date goes through.
    printed = shell.run(":as kenji", "/handoff Hooli @aiko", *form, "", "2027-11-30")
    error = "✗ 更新日: 更新日は契約開始日(2026年12月1日)より後の日付にしてください。"
    assert printed.count(error) == 2
    assert printed.count("既定値: 2026-11-01") == 2
    assert "→ @aiko 宛て:" in printed


def test_the_demo_company_has_a_pending_and_an_accepted_handoff(shell: ShellSession) -> None:
    printed = shell.run(":as ben", "/handoff initech")
    assert "*Initech LLC* already has a pending handoff" in printed and "to @ben" in printed
    printed = shell.run("/handoff ACME", ":cancel")
    assert "*株式会社ACME* is already an account" in printed and "Cancelled" in printed
    with Session(shell.shell.runtime.engine) as session:
        statuses = sorted(h.status for h in session.exec(select(Handoff)).all())
    assert statuses == ["accepted", "pending"]


def test_amounts_and_dates_are_read_as_people_write_them(shell: ShellSession) -> None:
    form = list(FORM)
    form[4], form[5] = "$5,000", ""  # a dollar amount, but the currency left at JPY
    form[6], form[7] = "2026/12/01", "2027年11月30日"
    printed = shell.run(":as kenji", "/handoff Hooli @aiko", *form, "¥980,000")
    assert "✗ 年間契約金額: 「$5,000」は USD の金額ですが、通貨は JPY になっています。" in printed
    assert "→ @aiko 宛て:" in printed and "¥980,000" in printed
    with Session(shell.shell.runtime.engine) as session:
        hooli = session.exec(select(Account).where(Account.name == "Hooli K.K.")).one()
        assert (hooli.arr, hooli.currency) == (980000, "JPY")
        assert (hooli.contract_start, hooli.renewal_date) == (date(2026, 12, 1), date(2027, 11, 30))


def test_a_dollar_amount_in_dollars_and_ambiguous_dates_asked_about(shell: ShellSession) -> None:
    form = list(FORM)
    form[4], form[5] = "$5,000", "2"  # USD
    form[6], form[7] = "12/01", "Nov 30, 2027"
    printed = shell.run(":as kenji", "/handoff Hooli @aiko", *form, "2026-12-01")
    assert "✗ 契約開始日: 「12/01」は読む人によって別の日になります。" in printed
    assert "$5,000.00" in printed
    with Session(shell.shell.runtime.engine) as session:
        hooli = session.exec(select(Account).where(Account.name == "Hooli K.K.")).one()
        assert (hooli.arr, hooli.currency) == (5000, "USD")
        assert (hooli.contract_start, hooli.renewal_date) == (date(2026, 12, 1), date(2027, 11, 30))


def test_form_defaults_are_shown_as_the_form_names_them(shell: ShellSession) -> None:
    printed = shell.run(":as kenji", "/handoff Globex", "", "", ":cancel")
    assert "既定値: ロータッチ" in printed and "既定値: @ben" in printed, printed
    assert "既定値: low" not in printed and "既定値: U" not in printed
    printed = shell.run("/touch", "Globex", ":cancel")
    assert "既定値: チャット" in printed and "既定値: chat" not in printed, printed


def test_a_message_of_several_lines_stays_under_its_field(shell: ShellSession) -> None:
    form = list(FORM)
    form[14] = "Training by 2026-02-30\nReport by 12/18"
    printed = shell.run(":as kenji", "/handoff Hooli @aiko", *form, ":cancel")
    [error] = [line for line in printed.splitlines() if "✗" in line]
    after = printed.splitlines()[printed.splitlines().index(error) + 1]
    assert error.startswith("  ✗ ") and after.startswith("    "), (error, after)
