"""The CRM without a CRM (PRODUCT §14): the demo's won deal waiting for kenji, and `:crm
deal-won FILE.json` replaying a won deal in `kakehashi shell`."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from storage.crm_events import CrmEvent
from testkit.crm_signing import deal_won_body
from tests.conftest import ShellSession
from tests.test_shell_handoff import button


def _events(shell: ShellSession) -> int:
    with Session(shell.shell.runtime.engine) as session:
        return int(session.exec(select(func.count()).select_from(CrmEvent)).one())


def test_the_demos_won_deal_asks_kenji_to_hand_it_off(shell: ShellSession) -> None:
    printed = shell.run(":time +1h")
    assert "→ to @kenji:" in printed  # mika, at the keyboard, reads English
    assert "*Pied Piper 年間契約* が受注になりました" in printed  # kenji reads Japanese
    hand_off = button(printed, "引き継ぐ")
    # The form, prefilled: Enter keeps what the CRM said.
    answers = ["", "@aiko", "1", "", "", "", "", "", "Go live in January", "."]
    printed = shell.run(":as kenji", hand_off, *answers, ".", "", ".", ".")  # contacts kept
    assert "既定値: Pied Piper株式会社" in printed and "既定値: 2027-01-01" in printed
    assert "Richard Hendricks, CEO, richard@piedpiper.example" in printed
    assert "SSO setup call in the first week" in printed
    assert "*Pied Piper株式会社* を @aiko さんに引き継ぎました(H-3)" in printed


def test_a_won_deal_file_is_replayed_once(shell: ShellSession, tmp_path: Path) -> None:
    file = tmp_path / "won.json"
    body = deal_won_body()
    body["deal"]["owner_email"] = "ben@example.com"
    file.write_text(json.dumps(body), encoding="utf-8")
    before = _events(shell)
    printed = shell.run(f":crm deal-won {file}")
    assert "Won deal *Globex renewal* (Globex Inc.) received, as from the CRM." in printed
    assert "→ to @ben:" in printed and "Hand it off" in printed
    printed = shell.run(f":crm deal-won {file}")
    assert "Hand it off" not in printed
    assert _events(shell) == before + 1


def test_a_bad_won_deal_file_is_refused_and_changes_nothing(
    shell: ShellSession, tmp_path: Path
) -> None:
    before = _events(shell)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "deal.won", "deal": {"id": "1"}}), encoding="utf-8")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("<!channel> '; DROP TABLE crm_events; --", encoding="utf-8")
    printed = shell.run(
        f":crm deal-won {bad}",
        f":crm deal-won {garbage}",
        f":crm deal-won {tmp_path}/none.json",
        ":crm",
    )
    assert "deal.name" in printed and "account" in printed
    assert "JSON" in printed and "none.json" in printed and "deal-won FILE.json" in printed
    assert _events(shell) == before
