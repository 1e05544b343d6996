"""`kakehashi import accounts FILE.csv [--dry-run]` and `kakehashi accounts export FILE.csv`
through the command line (`bot.cli.main`, and once as a real process), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bot.cli import main
from commands.accounts_csv import COLUMNS, EXPORT_COLUMNS
from commands.context import FixedClock
from storage.accounts import Account, fold_name
from storage.audit import AuditEntry
from storage.people import Person
from storage.promises import Promise
from storage.touches import Touch
from testkit.fake_slack import FakeSlack
from tests.conftest import NOW
from tests.factories import make_person

HEADER = ",".join(COLUMNS)


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    """Runs `kakehashi ARGS…` in-process against the test database, in an empty folder, without
    Slack; returns (exit status, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SLACK_", "KAKEHASHI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", database_url)

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args), clock=FixedClock(NOW))
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


def write(tmp_path: Path, text: str, name: str = "accounts.csv", *, bom: bool = False) -> str:
    path = tmp_path / name
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return str(path)


def accounts(engine: Engine) -> dict[str, Account]:
    with Session(engine) as session:
        return {a.name: a for a in session.exec(select(Account)).all()}


def account_audit(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        query = select(AuditEntry).where(AuditEntry.entity == "account")
        return list(session.exec(query.order_by(col(AuditEntry.id))).all())


def user_id_of(engine: Engine, person_id: int | None) -> str | None:
    with Session(engine) as session:
        person = session.get(Person, person_id) if person_id else None
        return person.user_id if person else None


def add_person(engine: Engine, user_id: str, email: str | None = None, **extra: Any) -> int:
    with Session(engine) as session:
        person = make_person(session, user_id=user_id, name="", email=email, **extra)
        session.commit()
        assert person.id is not None
        return person.id


GOOD = f"""{HEADER}
株式会社ACME,CRM-001,USALES,aiko@example.com,high,"1,200,000",JPY,2026/4/1,2027-04-01,active
Globex Inc.,CRM-002,,,low touch,24000.50,usd,2026-01-01,2027-01-01,
さくら商事,,,,テックタッチ,,,,,リスクあり
"""


def test_import_creates_accounts_and_audits_them(cli: Any, engine: Engine, tmp_path: Path) -> None:
    aiko = add_person(engine, "UCS", email="Aiko@Example.com")
    status, out, err = cli("import", "accounts", write(tmp_path, GOOD, bom=True))
    assert (status, err) == (0, "")
    assert out == "accounts: 3 created, 0 updated, 0 unchanged\n"
    found = accounts(engine)
    acme = found["株式会社ACME"]
    assert acme.name_key == fold_name("ACME") and acme.external_id == "CRM-001"
    assert user_id_of(engine, acme.sales_owner_id) == "USALES"  # met now, by user ID
    assert acme.cs_owner_id == aiko  # by email, case-insensitively
    assert (acme.touch_model, acme.arr, acme.currency, acme.stage) == (
        "high",
        Decimal("1200000.00"),
        "JPY",
        "active",
    )
    assert (acme.contract_start, acme.renewal_date) == (date(2026, 4, 1), date(2027, 4, 1))
    globex = found["Globex Inc."]
    assert (globex.touch_model, globex.arr, globex.currency, globex.stage) == (
        "low",
        Decimal("24000.50"),
        "USD",
        "onboarding",
    )
    sakura = found["さくら商事"]
    assert (sakura.touch_model, sakura.stage, sakura.currency) == ("tech", "at_risk", "USD")
    entries = account_audit(engine)
    assert [(e.action, e.actor_id, e.note) for e in entries] == [("create", None, "import")] * 3
    assert entries[0].changes["cs_owner"] == "UCS" and entries[0].changes["arr"] == "1200000"


def test_dates_and_amounts_are_read_as_the_forms_read_them(
    cli: Any, engine: Engine, tmp_path: Path
) -> None:
    text = f"""{HEADER}
株式会社ACME,,,,,"¥980,000",,2026年4月1日,２０２７／０４／０１,
Globex Inc.,,,,,$5000,USD,"Jan 1, 2026",1 Jan 2027,
Initech,,,,,1.2M,EUR,2026.01.01,2027-1-1,
"""
    status, _, err = cli("import", "accounts", write(tmp_path, text))
    assert (status, err) == (0, "")
    found = accounts(engine)
    acme, globex, initech = found["株式会社ACME"], found["Globex Inc."], found["Initech"]
    assert (acme.arr, acme.currency) == (Decimal("980000.00"), "JPY")  # from ¥, not the default
    assert (acme.contract_start, acme.renewal_date) == (date(2026, 4, 1), date(2027, 4, 1))
    assert (globex.arr, globex.currency) == (Decimal("5000.00"), "USD")
    assert (globex.contract_start, globex.renewal_date) == (date(2026, 1, 1), date(2027, 1, 1))
    assert (initech.arr, initech.currency) == (Decimal("1200000.00"), "EUR")
    assert (initech.contract_start, initech.renewal_date) == (date(2026, 1, 1), date(2027, 1, 1))


def test_importing_twice_changes_nothing_the_second_time(
    cli: Any, engine: Engine, tmp_path: Path
) -> None:
    add_person(engine, "UCS", email="aiko@example.com")
    path = write(tmp_path, GOOD)
    assert cli("import", "accounts", path)[0] == 0
    before = [(a.name, a.updated_at) for a in accounts(engine).values()]
    status, out, _ = cli("import", "accounts", path)
    assert (status, out) == (0, "accounts: 0 created, 0 updated, 3 unchanged\n")
    assert [(a.name, a.updated_at) for a in accounts(engine).values()] == before
    assert len(account_audit(engine)) == 3


def test_a_dry_run_reports_and_writes_nothing(cli: Any, engine: Engine, tmp_path: Path) -> None:
    add_person(engine, "UCS", email="aiko@example.com")
    status, out, err = cli("import", "accounts", write(tmp_path, GOOD), "--dry-run")
    assert (status, err) == (0, "")
    assert out == "dry run: 3 created, 0 updated, 0 unchanged; nothing was written\n"
    assert accounts(engine) == {} and account_audit(engine) == []


def test_rows_update_by_crm_id_else_by_matched_name(
    cli: Any, engine: Engine, tmp_path: Path
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        for name, external_id in (
            ("株式会社ACME", None),
            ("Globex Inc.", "CRM-002"),
            ("Initech", "CRM-777"),
        ):
            session.add(
                Account(
                    name=name,
                    name_key=fold_name(name),
                    external_id=external_id,
                    contract_start=date(2026, 1, 1),
                    created_at=now,
                    updated_at=now,
                )
            )
        session.commit()
    text = f"""{HEADER}
ACME,CRM-001,,,,,,,2027-01-01,
Globex Corporation,CRM-002,,,,,,,,renewed
Initech,CRM-888,,,,,,,,
"""
    status, out, err = cli("import", "accounts", write(tmp_path, text))
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "accounts: 1 created, 2 updated, 0 unchanged",
        "line 4: new account “Initech” is named like the existing “Initech” (CRM-777); "
        "commands naming it will ask which one is meant",
    ]
    found = accounts(engine)
    # ACME had no CRM id: the row adopts it by name, keeping the name as Kakehashi spells it;
    # its other values stay as they were.
    assert "ACME" not in found
    assert found["株式会社ACME"].external_id == "CRM-001"
    assert found["株式会社ACME"].contract_start == date(2026, 1, 1)
    # Globex is renamed through its CRM id; Initech with another CRM id is another company.
    assert found["Globex Corporation"].stage == "renewed"
    with Session(engine) as session:
        initechs = session.exec(select(Account.external_id).where(Account.name == "Initech"))
        assert set(initechs.all()) == {"CRM-777", "CRM-888"}
    update = next(e for e in account_audit(engine) if e.changes.get("stage"))
    assert update.changes == {
        "name": ["Globex Inc.", "Globex Corporation"],
        "stage": ["onboarding", "renewed"],
    }


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("ACME,,,,mid,,,,,", "unknown touch model “mid” (high, low or tech)"),
        ("ACME,,,,,,,2026-13-01,,", "contract_start: “2026-13-01” is not a real date"),
        (
            "ACME,,,,,,,soon,,",
            "contract_start: “soon” is not a date; write e.g. `2026-12-01`, `2026/12/01`",
        ),
        ("ACME,,,,,,,12/18/2026,,", "contract_start: “12/18/2026” means different days to"),
        ("ACME,,,,,,,Dec 1,,", "contract_start: “Dec 1” needs the full date here"),
        ("ACME,,,,,$5000,JPY,,,", "arr: “$5000” is in USD, but the currency is JPY"),
        ('ACME,,,,,"1,5",,,,', "arr: “1,5” is not an amount"),
        (
            "ACME,,,,,,,2026-01-01,2025-12-31,",
            "renewal_date 2025-12-31 is not after contract_start 2026-01-01",
        ),
        (
            "ACME,,,nobody@example.com,,,,,,",
            "unknown owner email nobody@example.com: no one has it among Kakehashi's people",
        ),
        ("ACME,,,aiko,,,,,,", "cs_owner “aiko” is neither a Slack user ID nor an email"),
        ("ACME,,,,,-5,,,,", "arr: An amount cannot be negative (“-5”)"),
        ("ACME,,,,,lots,,,,", "arr: “lots” is not an amount; write it like `1200000`"),
        ("ACME,,,,,,XYZ,,,", "unknown currency “XYZ”"),
        ("ACME,,,,,,,,,gone", "unknown stage “gone”"),
        (",CRM-9,,,,,,,,", "name is empty"),
        ("ACME,,,,,,,,,,extra", "more cells than the header has columns"),
        ("AC\x07ME,,,,,,,,,", "name contains control characters"),
        ("x" * 10_000 + ",,,,,,,,,", "name is longer than 200 characters"),
        ("Globex,,,,,,,,,", "duplicate row: same name as line 2"),
        ("Other,CRM-1,,,,,,,,", "duplicate row: same external_id CRM-1 as line 2"),
        ("ACME,,,UBOTUSER,,,,,,", "owner UBOTUSER is a bot, not a person"),
    ],
)
def test_one_bad_row_is_reported_and_nothing_is_written(
    cli: Any, engine: Engine, tmp_path: Path, row: str, reason: str
) -> None:
    add_person(engine, "UBOTUSER", is_bot=True)
    text = f"{HEADER}\nGLOBEX,CRM-1,,,,,,,,\n{row}\nSomething Else,,,,,,,,,\n"
    status, out, err = cli("import", "accounts", write(tmp_path, text))
    assert (status, out) == (2, "")
    lines = err.splitlines()
    assert lines[0].startswith("line 3: ") and reason in lines[0], lines[0][:300]
    assert lines[-1].endswith(": 1 bad row(s); nothing was written")
    assert len(lines) == 2
    assert accounts(engine) == {}


def test_every_bad_row_is_reported_with_its_line(cli: Any, engine: Engine, tmp_path: Path) -> None:
    text = (
        f'{HEADER}\n"Multi\nline Co",,,,bogus,,,,,\n\nGood,,,,,,,,,\n'
        "Bad Date,,,,,,,,tomorrow,\n'; DROP TABLE accounts; --,,,,,,,,,\n"
        "<!channel> 🎉 ＡＣＭＥ,,,,high,,,,,\n"
    )
    status, _, err = cli("import", "accounts", write(tmp_path, text))
    assert status == 2
    assert err.splitlines()[:2] == [
        "line 2: name contains control characters; unknown touch model “bogus” (high, low or tech)",
        "line 6: renewal_date: “tomorrow” needs the full date here (year, month and day), e.g. "
        "`2026-12-01`.",
    ]
    assert accounts(engine) == {}
    # Without the bad rows, hostile names are just names.
    text = f"{HEADER}\n'; DROP TABLE accounts; --,,,,,,,,,\n<!channel> 🎉 ＡＣＭＥ,,,,high,,,,,\n"
    assert cli("import", "accounts", write(tmp_path, text))[0] == 0
    assert set(accounts(engine)) == {"'; DROP TABLE accounts; --", "<!channel> 🎉 ＡＣＭＥ"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"company,arr\nACME,1\n", "must name the columns, including “name”"),
        (b"name,renewal\nACME,2027-01-01\n", "unknown column “renewal”"),
        (b"name,name\nACME,ACME\n", "column “name” appears twice"),
        ("name\n株式会社ACME\n".encode("cp932"), "not UTF-8"),
        (b'name,stage\n"ACME"x,active\n', "line 2:"),
    ],
)
def test_a_file_that_cannot_be_read_is_one_clear_line(
    cli: Any, engine: Engine, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    status, out, err = cli("import", "accounts", str(path))
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("kakehashi: ") and message in err, err
    assert accounts(engine) == {}


def test_missing_file_and_bad_usage(cli: Any, tmp_path: Path) -> None:
    status, _, err = cli("import", "accounts", str(tmp_path / "nope.csv"))
    assert status == 2 and err == f"kakehashi: {tmp_path / 'nope.csv'}: no such file\n"
    with pytest.raises(SystemExit) as exited:
        cli("import", "accounts")
    assert exited.value.code == 2


def test_ten_thousand_rows(cli: Any, engine: Engine, tmp_path: Path) -> None:
    add_person(engine, "UCS", email="aiko@example.com")
    rows = [
        f"Customer {i:05},CRM-{i:05},USALES,{'aiko@example.com' if i % 2 else 'UCS2'},"
        f"{('high', 'low', 'tech')[i % 3]},{i * 1000},JPY,2026-01-01,2027-01-{i % 28 + 1:02},"
        for i in range(10_000)
    ]
    path = write(tmp_path, HEADER + "\n" + "\n".join(rows) + "\n")
    status, out, err = cli("import", "accounts", path)
    assert (status, err) == (0, "")
    assert out == "accounts: 10000 created, 0 updated, 0 unchanged\n"
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Account)).one() == 10_000
        row = session.exec(select(Account).where(Account.external_id == "CRM-09999")).one()
        assert (row.name, row.touch_model, row.arr) == (
            "Customer 09999",
            "high",
            Decimal("9999000.00"),
        )
        assert user_id_of(engine, row.sales_owner_id) == "USALES"
        people = session.exec(select(func.count()).select_from(Person)).one()
        assert people == 3  # aiko, and USALES and UCS2 met once each
    assert cli("import", "accounts", path)[1] == "accounts: 0 created, 0 updated, 10000 unchanged\n"
    # The same file with one bad row writes nothing.
    rows[5000] = rows[5000].replace("2027-01-", "2027-02-3")
    rows = [r.replace("JPY", "USD") for r in rows]
    status, _, err = cli("import", "accounts", write(tmp_path, HEADER + "\n" + "\n".join(rows)))
    assert status == 2 and err.startswith("line 5002: renewal_date: “2027-02-317” is not a date")
    with Session(engine) as session:
        currencies = session.exec(select(Account.currency).distinct()).all()
    assert currencies == ["JPY"]


def test_owner_emails_are_looked_up_in_slack_when_it_is_connected(
    cli: Any, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeSlack() as slack:
        slack.add_user("UKENJI", name="kenji", email="kenji@example.com")
        slack.add_user("UGONE", name="gone", email="gone@example.com", deleted=True)
        slack.add_user("UROBOT", name="robot", is_bot=True)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        text = f"{HEADER}\nACME,,kenji@example.com,UKENJI,,,,,,\n"
        assert cli("import", "accounts", write(tmp_path, text)) == (
            0,
            "accounts: 1 created, 0 updated, 0 unchanged\n",
            "",
        )
        acme = accounts(engine)["ACME"]
        assert acme.sales_owner_id == acme.cs_owner_id
        with Session(engine) as session:
            kenji = session.get(Person, acme.sales_owner_id)
            assert kenji is not None and (kenji.user_id, kenji.email) == (
                "UKENJI",
                "kenji@example.com",
            )
        bad = (
            f"{HEADER}\nA,,who@example.com,,,,,,,\nB,,gone@example.com,,,,,,,\n"
            "C,,UNOBODY,,,,,,,\nD,,UROBOT,,,,,,,\n"
        )
        status, _, err = cli("import", "accounts", write(tmp_path, bad))
        assert status == 2
        assert err.splitlines()[:4] == [
            "line 2: unknown owner email who@example.com: no one has it in Slack",
            "line 3: unknown owner email gone@example.com: no one has it in Slack",
            "line 4: unknown owner UNOBODY: no such Slack user",
            "line 5: owner UROBOT is a bot or deactivated, not a person",
        ]
        assert "xoxb" not in err
        assert slack.rejections == []
        slack.fail_next("users.lookupByEmail", error="invalid_auth")
        status, _, err = cli(
            "import", "accounts", write(tmp_path, f"{HEADER}\nE,,e@example.com,,,,,,,\n")
        )
        assert (status, err) == (1, "kakehashi: Slack users.lookupByEmail failed: invalid_auth\n")
    assert set(accounts(engine)) == {"ACME"}


# ---- export ---------------------------------------------------------------------------------


def test_export_writes_every_account_with_promise_counts_and_last_touch(
    cli: Any, engine: Engine, tmp_path: Path
) -> None:
    add_person(engine, "UCS", email="aiko@example.com")
    assert cli("import", "accounts", write(tmp_path, GOOD))[0] == 0
    today = NOW.date()
    with Session(engine) as session:
        acme = session.exec(select(Account).where(Account.external_id == "CRM-001")).one()
        aiko = session.exec(select(Person).where(Person.user_id == "UCS")).one()
        for due, status in (
            (today - timedelta(days=2), "open"),
            (today + timedelta(days=2), "open"),
            (None, "open"),
            (today - timedelta(days=9), "kept"),
        ):
            session.add(
                Promise(
                    account_id=acme.id or 0,
                    text="p",
                    due_date=due,
                    status=status,
                    created_at=NOW,
                )
            )
        for days, channel in ((3, "email"), (1, "call"), (7, "chat")):
            session.add(
                Touch(
                    account_id=acme.id or 0,
                    person_id=aiko.id,
                    channel=channel,
                    note="n",
                    at=datetime(2026, 11, 20 - days, 5, tzinfo=UTC),
                )
            )
        session.commit()
    out_path = tmp_path / "export.csv"
    status, out, err = cli("accounts", "export", str(out_path))
    assert (status, out, err) == (0, f"3 accounts written to {out_path}\n", "")
    raw = out_path.read_bytes()
    assert raw.startswith("\ufeff".encode())  # Excel reads UTF-8 Japanese with the BOM
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    by_name = {r["name"]: r for r in rows}
    assert by_name["株式会社ACME"] == {
        "name": "株式会社ACME",
        "external_id": "CRM-001",
        "sales_owner": "USALES",
        "cs_owner": "UCS",
        "touch_model": "high",
        "arr": "1200000",
        "currency": "JPY",
        "contract_start": "2026-04-01",
        "renewal_date": "2027-04-01",
        "stage": "active",
        "open_promises": "3",
        "overdue_promises": "1",
        "last_touch_at": "2026-11-19T05:00:00+00:00",
        "last_touch_by": "UCS",
        "last_touch_channel": "call",
    }
    assert by_name["Globex Inc."]["arr"] == "24000.50"
    assert (
        by_name["さくら商事"]["open_promises"] == "0"
        and by_name["さくら商事"]["last_touch_at"] == ""
    )
    # The export re-imports as it is: nothing changes.
    assert cli("import", "accounts", str(out_path))[1] == (
        "accounts: 0 created, 0 updated, 3 unchanged\n"
    )


def test_export_to_a_place_that_cannot_be_written(cli: Any, tmp_path: Path) -> None:
    status, _, err = cli("accounts", "export", str(tmp_path / "no" / "such" / "dir.csv"))
    assert status == 2 and err.startswith("kakehashi: ") and "cannot write" in err


def test_the_real_command_line(database_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "KAKEHASHI_"))}
    env["DATABASE_URL"] = database_url
    path = write(tmp_path, f"{HEADER}\nACME,,,,high,,,,,\nBad,,,,mid,,,,,\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "import", "accounts", path],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "line 3: unknown touch model “mid” (high, low or tech)",
        f"kakehashi: {path}: 1 bad row(s); nothing was written",
    ]


def test_every_reason_of_every_bad_row_is_reported_in_one_pass(
    cli: Any, engine: Engine, tmp_path: Path
) -> None:
    text = (
        f"{HEADER}\n"
        "ACME,,,nobody@example.com,mid,,,,,\n"  # a bad cell and an unknown owner
        "Globex,,ghost@example.com,,,,,,,\n"  # an unknown owner alone
        "ＧＬＯＢＥＸ,,,ghost@example.com,,,,,,\n"  # a duplicate with an unknown owner
    )
    status, out, err = cli("import", "accounts", write(tmp_path, text))
    assert (status, out) == (2, "")
    unknown = "unknown owner email {}: no one has it among Kakehashi's people"
    assert err.splitlines()[:3] == [
        "line 2: unknown touch model “mid” (high, low or tech); "
        + unknown.format("nobody@example.com")
        + " (Slack is not connected)",
        "line 3: " + unknown.format("ghost@example.com") + " (Slack is not connected)",
        "line 4: duplicate row: same name as line 3; "
        + unknown.format("ghost@example.com")
        + " (Slack is not connected)",
    ]
    assert accounts(engine) == {}


def test_a_row_found_by_its_folded_name_keeps_the_accounts_spelling(
    cli: Any, engine: Engine, tmp_path: Path
) -> None:
    text = f"{HEADER}\n株式会社ACME,,,,high,,,,,\nGlobex Inc.,CRM-2,,,,,,,,\n"
    assert cli("import", "accounts", write(tmp_path, text))[0] == 0
    text = f"{HEADER}\nＡＣＭＥ,,,,low,,,,,\nglobex,CRM-2,,,,,,,,\nGlobex Corp.,CRM-2,,,,,,,,\n"
    status, out, err = cli("import", "accounts", write(tmp_path, text))
    assert status == 2 and "line 4: duplicate row: same external_id CRM-2" in err
    text = f"{HEADER}\nＡＣＭＥ,,,,low,,,,,\nGlobex Corp.,CRM-2,,,,,,,,\n"
    status, out, err = cli("import", "accounts", write(tmp_path, text))
    assert (status, err) == (0, "") and out == "accounts: 0 created, 2 updated, 0 unchanged\n"
    found = accounts(engine)
    assert found["株式会社ACME"].touch_model == "low"  # found by name: its spelling stays
    assert "Globex Corp." in found  # found by its CRM id: renamed, as the CRM spells it
    names = [e.changes.get("name") for e in account_audit(engine)]
    assert [n for n in names if isinstance(n, list)] == [["Globex Inc.", "Globex Corp."]]


def test_a_new_account_named_like_an_existing_one_is_reported(
    cli: Any, engine: Engine, tmp_path: Path
) -> None:
    text = f"{HEADER}\n株式会社ACME,CRM-1,,,,,,,,\n"
    assert cli("import", "accounts", write(tmp_path, text))[0] == 0
    text = f"{HEADER}\nACME Inc.,CRM-2,,,,,,,,\n<!channel> 🎉,,,,,,,,,\n"
    status, out, err = cli("import", "accounts", write(tmp_path, text, "more.csv"), "--dry-run")
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "dry run: 2 created, 0 updated, 0 unchanged; nothing was written",
        "line 2: new account “ACME Inc.” is named like the existing “株式会社ACME” (CRM-1); "
        "commands naming it will ask which one is meant",
    ]


def test_a_dry_run_creates_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SLACK_", "KAKEHASHI_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    path = tmp_path / "accounts.csv"
    path.write_text(f"{HEADER}\n株式会社ACME,CRM-001,,,high,,,,,\n", encoding="utf-8")
    assert main(["import", "accounts", str(path), "--dry-run"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.csv"]
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert main(["import", "accounts", str(path), "--dry-run"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.csv"]
    assert main(["import", "accounts", str(path)]) == 0  # a real import makes one, of course
    assert "elsewhere.db" in {p.name for p in tmp_path.iterdir()}
