"""/handoff through the runtime (the road every adapter takes): what is saved, what is refused,
what goes to the outbox, and how the cards read. Slack end to end: test_slack_handoff.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot import blockkit
from bot.runtime import Runtime
from bot.settings import Settings
from commands import ui
from commands.ui import Actions, message_from_json
from storage import handoffs
from storage.accounts import Account, fold_name
from storage.audit import AuditEntry
from storage.handoffs import AccountFacts, Contact, Handoff, HandoffMessage, HandoffNotes
from storage.people import Person
from storage.promises import Promise
from testkit.fake_slack import FakeSlack, block_errors, view_errors
from tests.conftest import make_settings
from tests.factories import make_account
from tests.handoff_data import (
    CHANNEL,
    HOSTILE,
    counts,
    form_values,
    outbox_rows,
    refusals,
    texts,
)
from tests.slack_text import slack


@pytest.fixture
def settings(database_url: str, slack: FakeSlack) -> Settings:
    return make_settings(database_url, slack.api_url, KAKEHASHI_HANDOFF_CHANNEL=CHANNEL)


def submit(runtime: Runtime, values: ui.FormValues, user: str = "USALES") -> ui.Outcome:
    return runtime.submit(user, "handoff_form", values, "", "C0001")


def add_account(engine: Engine, name: str, **values: object) -> int:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        account = make_account(session, name=name, at=now, **values)
        session.commit()
        assert account.id is not None
        return account.id


def person_id(session: Session, user_id: str) -> int | None:
    person = session.exec(select(Person).where(Person.user_id == user_id)).one()
    return person.id


def buttons(payload: dict[str, object]) -> list[ui.Button]:
    message = message_from_json(payload)
    return [b for block in message.blocks if isinstance(block, Actions) for b in block.buttons]


# ---- the form -------------------------------------------------------------------------------


def test_the_form_is_prefilled_from_the_arguments_and_the_account(
    runtime: Runtime, engine: Engine
) -> None:
    add_account(
        engine,
        "株式会社ACME",
        touch_model="low",
        plan="Standard",
        arr=Decimal(24000),
        currency="USD",
        contract_start=date(2026, 1, 1),
        renewal_date=date(2027, 1, 1),
    )
    outcome = runtime.run_command("USALES", "handoff", "acme \ue000UCS\ue001", "C0001")
    assert outcome.form is not None
    initial = {f.id: f.initial for f in outcome.form.fields}
    assert initial["account"] == "株式会社ACME"
    assert initial["cs_owner"] == "UCS"
    assert (initial["touch_model"], initial["plan"], initial["amount"]) == (
        "low",
        "Standard",
        "24000",
    )
    assert initial["currency"] == "USD"
    assert (initial["contract_start"], initial["renewal_date"]) == ("2026-01-01", "2027-01-01")
    assert "facts" in slack(outcome.form.intro) and "impressions" in slack(outcome.form.intro)
    assert view_errors(blockkit.modal(outcome.form)) == []


def test_a_new_account_defaults_the_currency_by_language_and_suggests_near_names(
    runtime: Runtime, engine: Engine
) -> None:
    add_account(engine, "Globex Inc.")
    english = runtime.run_command("USALES", "handoff", "Globx", "C0001").form
    japanese = runtime.run_command("UCS", "handoff", "", "C0001").form
    assert english is not None and japanese is not None
    assert {f.id: f.initial for f in english.fields}["currency"] == "USD"
    assert {f.id: f.initial for f in japanese.fields}["currency"] == "JPY"
    assert "No account is called “Globx” yet" in slack(english.intro)
    assert "Did you mean *Globex Inc.*?" in slack(english.intro)
    assert japanese.title == "顧客の引き継ぎ"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("help", "Usage: `/handoff [ACCOUNT] [@cs-owner]`"),
        ("ACME \ue000UCS\ue001 \ue000UCS2\ue001", "Name one CS owner"),
        ("x" * 10_000, "at most 200 characters"),
    ],
)
def test_bad_arguments_answer_with_the_usage(runtime: Runtime, text: str, expected: str) -> None:
    outcome = runtime.run_command("USALES", "handoff", text, "C0001")
    assert outcome.form is None and outcome.reply is not None
    assert expected in slack(outcome.reply.text)


def test_several_matching_accounts_are_listed_and_no_form_opens(
    runtime: Runtime, engine: Engine
) -> None:
    add_account(engine, "ACME Inc.", external_id="CRM-1")
    add_account(engine, "Acme LLC", external_id="CRM-2")
    outcome = runtime.run_command("USALES", "handoff", "acme", "C0001")
    assert outcome.form is None and outcome.reply is not None
    assert "Several accounts match “acme”" in slack(outcome.reply.text)
    assert "*ACME Inc.* (CRM-1)" in slack(outcome.reply.text)
    errors = submit(runtime, form_values(account="acme")).errors
    assert "Several accounts match" in errors["account"]


# ---- submitting ------------------------------------------------------------------------------


def test_a_handoff_saves_the_account_handoff_contacts_promises_and_audit(
    runtime: Runtime, engine: Engine
) -> None:
    outcome = submit(runtime, form_values())
    assert outcome.errors == {} and outcome.form is None
    with Session(engine) as session:
        account = session.exec(select(Account)).one()
        assert (account.name, account.name_key) == ("Initech K.K.", fold_name("Initech K.K."))
        assert (account.stage, account.touch_model, account.plan) == (
            "onboarding",
            "high",
            "Enterprise, 200 seats",
        )
        assert (account.arr, account.currency) == (Decimal("1200000.00"), "JPY")
        assert (account.contract_start, account.renewal_date) == (
            date(2026, 12, 1),
            date(2027, 11, 30),
        )
        sales, cs = person_id(session, "USALES"), person_id(session, "UCS")
        assert (account.sales_owner_id, account.cs_owner_id) == (sales, cs)
        handoff = session.exec(select(Handoff)).one()
        assert (handoff.status, handoff.sales_rep_id, handoff.cs_owner_id) == ("pending", sales, cs)
        assert handoff.created_at == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
        assert handoff.accepted_at is None and handoff.problems == "SSO failed in the trial"
        contacts = session.exec(select(Contact).order_by(col(Contact.id))).all()
        assert [(c.name, c.role, c.email) for c in contacts] == [
            ("Tanaka Yuki", "CTO", "tanaka@example.co.jp"),
            ("Sato Ken", "PM", "sato@example.co.jp"),
        ]
        promises = session.exec(select(Promise).order_by(col(Promise.id))).all()
        assert [(p.text, p.due_date, p.recurrence) for p in promises] == [
            ("Monthly usage report", date(2026, 12, 23), "month"),  # one month from today
            ("Admin training", date(2026, 12, 10), None),
        ]
        assert {
            (p.owner_id, p.promised_by_id, p.source, p.handoff_id, p.status) for p in promises
        } == {(cs, sales, "handoff", handoff.id, "open")}
        audit = session.exec(select(AuditEntry).where(AuditEntry.actor_id == sales)).all()
        assert sorted((a.entity, a.action) for a in audit) == [
            ("account", "create"),
            ("handoff", "create"),
            ("promise", "create"),
            ("promise", "create"),
        ]
        cs_person = session.exec(select(Person).where(Person.user_id == "UCS")).one()
        assert (cs_person.name, cs_person.locale) == ("aiko", "ja-JP")  # the picked person


def test_the_cs_owner_channel_and_rep_are_notified_through_the_outbox(
    runtime: Runtime, engine: Engine
) -> None:
    submit(runtime, form_values())
    rows = outbox_rows(engine)
    assert set(rows) == {"handoff:1:dm", "handoff:1:channel", "handoff:1:confirmation"}
    dm, channel, confirmation = (
        rows[k] for k in ("handoff:1:dm", "handoff:1:channel", "handoff:1:confirmation")
    )
    assert (dm.recipient, channel.recipient, confirmation.recipient) == ("UCS", CHANNEL, "USALES")
    # aiko reads Japanese: her card is in Japanese, with both buttons.
    assert [(b.label, b.action_id, b.value) for b in buttons(dm.payload)] == [
        ("引き受ける", "handoff_accept", "1:card"),
        ("質問する", "handoff_ask", "1"),
    ]
    card = texts(dm.payload)
    for expected in (
        "引き継ぎ: Initech K.K.",
        "<@USALES> さんから <@UCS> さんへ",
        "¥1,200,000",
        "ハイタッチ",
        "2027年11月30日",
        "Tanaka Yuki · CTO · tanaka@example.co.jp",
        "P-1 Monthly usage report · 期限 2026年12月23日 · 毎月",
        "SSO failed in the trial",
        "A competitor is also in the trial",
    ):
        assert expected in card, expected
    # The channel reads the default language (English); the rep (en-US) too.
    assert "New handoff H-1: <@USALES> handed *Initech K.K.* to <@UCS>" in texts(channel.payload)
    assert buttons(channel.payload) == []
    assert "You handed *Initech K.K.* to <@UCS> (H-1)" in texts(confirmation.payload)
    assert buttons(confirmation.payload) == []


def test_no_handoff_channel_no_announcement(runtime: Runtime, engine: Engine) -> None:
    runtime.settings = make_settings(
        str(engine.url.render_as_string(hide_password=False)), runtime.settings.slack_api_url
    )
    submit(runtime, form_values())
    assert set(outbox_rows(engine)) == {"handoff:1:dm", "handoff:1:confirmation"}


def test_an_existing_account_is_updated_and_the_change_audited(
    runtime: Runtime, engine: Engine
) -> None:
    account_id = add_account(
        engine,
        "株式会社ACME",
        external_id="CRM-001",
        stage="active",
        currency="USD",
        arr=Decimal(1000),
    )
    assert submit(runtime, form_values(account="ＡＣＭＥ", currency="JPY")).errors == {}
    with Session(engine) as session:
        account = session.exec(select(Account)).one()
        assert (account.id, account.name, account.stage) == (
            account_id,
            "株式会社ACME",
            "onboarding",
        )
        assert (account.arr, account.currency) == (Decimal("1200000.00"), "JPY")
        entry = session.exec(select(AuditEntry).where(AuditEntry.entity == "account")).one()
        assert entry.action == "update" and entry.note == "handoff"
        assert entry.changes["stage"] == ["active", "onboarding"]
        assert entry.changes["arr"] == ["1000", "1200000"]
        assert entry.changes["currency"] == ["USD", "JPY"]


# ---- validation ------------------------------------------------------------------------------

LINES = "Tanaka Yuki, CTO, tanaka@example.co.jp"


INVALID: list[tuple[dict[str, str | None], str, str]] = [
    ({"account": None}, "account", "Please fill this in."),
    ({"account": "   "}, "account", "Please fill this in."),
    ({"account": "x" * 201}, "account", "At most 200 characters"),
    ({"cs_owner": None}, "cs_owner", "Please fill this in."),
    ({"cs_owner": "UBOTUSER"}, "cs_owner", "otherbot is a bot"),
    ({"cs_owner": "USALES"}, "cs_owner", "not yourself"),
    ({"cs_owner": "UNOBODY"}, "cs_owner", "can't find “UNOBODY”"),
    ({"cs_owner": "<!channel>"}, "cs_owner", "can't find “&lt;!channel&gt;”"),
    ({"touch_model": None}, "touch_model", "Choose one of the options."),
    ({"touch_model": "premium"}, "touch_model", "Choose one of the options."),
    ({"currency": "XYZ"}, "currency", "Choose one of the options."),
    ({"amount": "-5"}, "amount", "cannot be negative"),
    ({"amount": "twelve"}, "amount", "“twelve” is not an amount"),
    ({"amount": "NaN"}, "amount", "“NaN” is not an amount"),
    ({"amount": "1e20"}, "amount", "“1e20” is not an amount"),
    ({"amount": "1,5"}, "amount", "“1,5” is not an amount"),
    ({"amount": "999,999,999,999,999"}, "amount", "too large"),
    (
        {"amount": "$5,000", "currency": "JPY"},
        "amount",
        "“$5,000” is in USD, but the currency is JPY",
    ),
    ({"contract_start": None}, "contract_start", "Please fill this in."),
    ({"contract_start": "soon"}, "contract_start", "“soon” is not a date"),
    ({"contract_start": "12/01"}, "contract_start", "“12/01” means different days"),
    ({"renewal_date": "2026-02-30"}, "renewal_date", "“2026-02-30” is not a real date"),
    (
        {"renewal_date": "2026-12-01"},
        "renewal_date",
        "The renewal date must be after the contract start (Dec 1, 2026).",
    ),
    ({"renewal_date": "2026-06-01"}, "renewal_date", "must be after the contract start"),
    ({"goals": None}, "goals", "Please fill this in."),
    ({"goals": "x" * 10_000}, "goals", "At most 3000 characters; this is 10000."),
    (
        {"contacts": f"{LINES}\nSato Ken, PM"},
        "contacts",
        "Line 2 “Sato Ken, PM”: write it as name, role, email",
    ),
    (
        {"contacts": "Sato Ken, PM, sato(at)example"},
        "contacts",
        "Line 1 “Sato Ken, PM, sato(at)example”: “sato(at)example” is not an email address.",
    ),
    ({"contacts": "\n".join([LINES] * 51)}, "contacts", "At most 50 lines; this has 51."),
    (
        {"promises": "Workshop\nTraining by 2026-13-01"},
        "promises",
        "Line 2 “Training by 2026-13-01”: “2026-13-01” is not a real date",
    ),
    (
        {"promises": "Training by 2026-11-22"},
        "promises",
        "Line 1 “Training by 2026-11-22”: 2026-11-22 is in the past",
    ),
    (
        {"promises": "by 2026-12-01"},
        "promises",
        "Line 1 “by 2026-12-01”: Say what was promised",
    ),
]


def test_each_invalid_field_is_refused_on_the_field_and_nothing_is_saved(
    runtime: Runtime, engine: Engine
) -> None:
    before = counts(engine)
    for changes, field, expected in INVALID:
        outcome = submit(runtime, form_values(**changes))
        assert list(outcome.errors) == [field], (changes, outcome.errors)
        assert expected in slack(outcome.errors[field]), (changes, outcome.errors)
    assert counts(engine) == before


def test_every_bad_line_is_quoted_and_the_list_stays_short(runtime: Runtime) -> None:
    bad = "\n".join(f"<@U0001> line {n}" for n in range(1, 6))
    error = slack(submit(runtime, form_values(contacts=bad)).errors["contacts"])
    assert error.count("Line ") == 3 and "…and 2 more" in error
    assert "“&lt;@U0001&gt; line 1”" in error and "<@U0001>" not in error


def test_errors_speak_the_submitters_language(runtime: Runtime) -> None:
    errors = submit(runtime, form_values(goals=None, renewal_date="2026-01-01"), user="UCS2").errors
    assert errors["goals"] == "Please fill this in."
    japanese = submit(runtime, form_values(goals=None, cs_owner="UCS2"), user="UMANAGER").errors
    assert japanese == {"goals": "入力してください。"}


def test_a_second_handoff_while_one_is_pending_is_refused_naming_it(
    runtime: Runtime, engine: Engine
) -> None:
    submit(runtime, form_values())
    before = counts(engine)
    again = submit(runtime, form_values(account="initech", cs_owner="UCS2"), user="UMANAGER")
    assert "H-1" in again.errors["account"] and "<@UCS>" in slack(again.errors["account"])
    assert counts(engine) == before
    reply = runtime.run_command("UCS2", "handoff", "INITECH", "C0001")
    assert reply.form is None and reply.reply is not None
    assert "*Initech K.K.* already has a pending handoff, H-1 to <@UCS>" in slack(reply.reply.text)
    # Once accepted, the account can be handed off again.
    runtime.press("UCS", "handoff_accept", "1:card")
    assert submit(runtime, form_values(account="initech", cs_owner="UCS2")).errors == {}


def test_a_handoff_saved_by_someone_else_meanwhile_is_refused_by_the_database(
    runtime: Runtime, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(runtime, form_values())
    before = counts(engine)
    # The other submission lands between this form's checks and its save.
    monkeypatch.setattr(handoffs, "pending_for_account", lambda **_: None)
    again = submit(runtime, form_values(account="initech", cs_owner="UCS2"), user="UMANAGER")
    assert again.errors["account"].startswith(
        "フォームを開いている間にこのアカウントが変更されました"
    )
    assert counts(engine) == before


# ---- Accept ----------------------------------------------------------------------------------


def test_the_cs_owner_accepts_on_the_card_and_it_is_replaced_in_place(
    runtime: Runtime, engine: Engine
) -> None:
    submit(runtime, form_values())
    outcome = runtime.press("UCS", "handoff_accept", "1:card", "DUCS")
    assert outcome.replace_original is not None and outcome.reply is None
    card = outcome.replace_original
    assert not [b for b in card.blocks if isinstance(b, Actions)]  # the buttons are gone
    assert "✅ <@UCS> さんが 2026年11月23日 10:00 に引き受けました" in texts(
        ui.message_to_json(card)
    )
    with Session(engine) as session:
        handoff = session.exec(select(Handoff)).one()
        assert (handoff.status, handoff.accepted_by_id) == ("accepted", person_id(session, "UCS"))
        assert handoff.accepted_at == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "accept")).one()
    rows = outbox_rows(engine)
    assert rows["handoff:1:accepted"].recipient == "USALES"
    assert "<@UCS> accepted your handoff of *Initech K.K.* (H-1)" in texts(
        rows["handoff:1:accepted"].payload
    )
    assert rows["handoff:1:channel:accepted"].update_of == "handoff:1:channel"
    assert "Accepted by <@UCS>" in texts(rows["handoff:1:channel:accepted"].payload)
    assert "handoff:1:dm:accepted" not in rows  # replaced through response_url instead


def test_accepting_twice_or_by_someone_else_changes_nothing_and_says_why(
    runtime: Runtime, engine: Engine
) -> None:
    submit(runtime, form_values())
    before = counts(engine)
    refused = runtime.press("UCS2", "handoff_accept", "1:card")
    assert refused.replace_original is None and refused.reply is not None
    assert "Only the handoff's CS owner or a manager can accept it" in slack(refused.reply.text)
    assert "<@UCS>" in slack(refused.reply.text) and "<@UMANAGER>" in slack(refused.reply.text)
    assert counts(engine) == before
    assert refusals(engine) == [{"permission": "accept_handoff", "about": "handoff:1"}]
    runtime.press("UCS", "handoff_accept", "1:card")
    after = counts(engine)
    twice = runtime.press("UCS", "handoff_accept", "1:card")
    assert twice.replace_original is None and twice.reply is not None
    assert "引き受け済み" in slack(twice.reply.text)
    assert counts(engine) == after
    for value in ("99", "x", "1" * 30, ""):
        reply = runtime.press("UCS2", "handoff_accept", value).reply
        assert reply is not None and "There is no handoff" in reply.text


def test_a_manager_accepts_from_elsewhere_and_the_card_is_updated_through_the_outbox(
    runtime: Runtime, engine: Engine
) -> None:
    submit(runtime, form_values())
    outcome = runtime.press("UMANAGER", "handoff_accept", "1", "DUMANAGER")
    assert outcome.replace_original is None and outcome.reply is not None
    assert "H-1(*Initech K.K.*)を引き受けました" in slack(outcome.reply.text)
    update = outbox_rows(engine)["handoff:1:dm:accepted"]
    assert (update.recipient, update.update_of) == ("UCS", "handoff:1:dm")
    assert buttons(update.payload) == []
    assert "✅ <@UMANAGER> さんが" in texts(update.payload)


def test_accepting_a_handoff_that_never_had_a_card_edits_nothing(
    runtime: Runtime, engine: Engine
) -> None:
    """The demo's handoffs (or any made before a card was sent) have no DM to edit."""
    with Session(engine) as session:
        rep, owner = Person(user_id="USALES"), Person(user_id="UCS")
        session.add_all([rep, owner])
        session.flush()
        facts = AccountFacts(
            "Umbrella", "tech", None, None, "USD", date(2026, 12, 1), date(2027, 12, 1)
        )
        handoffs.hand_off(
            session=session,
            account=None,
            facts=facts,
            notes=HandoffNotes(goals="Facts"),
            sales_rep=rep,
            cs_owner=owner,
            at=datetime(2026, 11, 20, tzinfo=UTC),
        )
        session.commit()
    outcome = runtime.press("UMANAGER", "handoff_accept", "1", "DUMANAGER")
    assert outcome.reply is not None and "を引き受けました" in slack(outcome.reply.text)
    assert set(outbox_rows(engine)) == {"handoff:1:accepted"}  # the rep is told; nothing to edit


# ---- questions and answers ------------------------------------------------------------------


def test_a_question_reaches_the_rep_and_the_answer_comes_back(
    runtime: Runtime, engine: Engine
) -> None:
    submit(runtime, form_values())
    form = runtime.press("UCS", "handoff_ask", "1").form
    assert form is not None and form.callback_id == "handoff_question" and form.metadata == "1"
    assert "<@USALES>" in slack(form.intro)
    asked = runtime.submit("UCS", "handoff_question", {"text": "Who signs the PO?"}, "1")
    assert asked.reply is not None and "<@USALES>" in slack(asked.reply.text)
    question_dm = outbox_rows(engine)["handoff:1:question:1"]
    assert question_dm.recipient == "USALES"
    assert ">Who signs the PO?" in texts(question_dm.payload)
    assert [(b.label, b.action_id, b.value) for b in buttons(question_dm.payload)] == [
        ("Reply", "handoff_reply", "1")
    ]

    reply_form = runtime.press("USALES", "handoff_reply", "1").form
    assert reply_form is not None and ">Who signs the PO?" in slack(reply_form.intro)
    answered = runtime.submit(
        "USALES", "handoff_answer", {"text": "Tanaka-san, the CTO."}, reply_form.metadata
    )
    assert answered.reply is not None and "<@UCS>" in slack(answered.reply.text)
    answer_dm = outbox_rows(engine)["handoff:1:answer:2"]
    assert answer_dm.recipient == "UCS"
    assert "<@USALES> さんが" in texts(answer_dm.payload)
    assert "Tanaka-san, the CTO." in texts(answer_dm.payload)
    with Session(engine) as session:
        thread = session.exec(select(HandoffMessage).order_by(col(HandoffMessage.id))).all()
        assert [(m.kind, m.text, m.reply_to_id) for m in thread] == [
            ("question", "Who signs the PO?", None),
            ("answer", "Tanaka-san, the CTO.", 1),
        ]
    # The thread stays on the handoff: the card shows it once accepted.
    card = runtime.press("UCS", "handoff_accept", "1:card").replace_original
    assert card is not None and "Who signs the PO?" in str(ui.message_to_json(card))


def test_empty_or_oversized_questions_are_refused_on_the_field(
    runtime: Runtime, engine: Engine
) -> None:
    submit(runtime, form_values())
    before = counts(engine)
    for text, expected in ((None, "Please fill this in."), ("x" * 3001, "At most 3000")):
        errors = runtime.submit("UCS2", "handoff_question", {"text": text}, "1").errors
        assert expected in errors["text"]
    assert (
        "no handoff H-7"
        in runtime.submit("UCS2", "handoff_question", {"text": "?"}, "7").errors["text"]
    )
    assert (
        "no longer there"
        in runtime.submit("UCS2", "handoff_answer", {"text": "?"}, "1").errors["text"]
    )
    assert counts(engine) == before


# ---- hostile text ----------------------------------------------------------------------------


def mrkdwn(node: object) -> list[str]:
    """Every mrkdwn text in rendered Block Kit: what Slack parses for mentions and links
    (plain_text, as in headers and buttons, is shown as typed and can ping no one)."""
    if isinstance(node, list):
        return [text for item in node for text in mrkdwn(item)]
    if not isinstance(node, dict):
        return []
    found = [node["text"]] if node.get("type") == "mrkdwn" else []
    return found + [text for value in node.values() for text in mrkdwn(value)]


def test_hostile_text_in_every_field_is_escaped_and_within_block_kit_limits(
    runtime: Runtime, engine: Engine
) -> None:
    long = (HOSTILE + " ") * 60
    values = form_values(
        account=HOSTILE,
        plan=HOSTILE * 5,
        goals=long[:3000],
        problems=long[:3000],
        risks=long[:3000],
        contacts="\n".join(f"<@U0001> & <b>{n}</b>, <CTO>, a{n}@example.jp" for n in range(50)),
        promises="\n".join(f"{HOSTILE} {n}" for n in range(45)),
    )
    assert submit(runtime, values).errors == {}
    runtime.submit("UCS", "handoff_question", {"text": long[:3000]}, "1")
    runtime.submit("USALES", "handoff_answer", {"text": long[:3000]}, "1")
    runtime.press("UMANAGER", "handoff_accept", "1")
    rows = outbox_rows(engine)
    assert len(rows) == 8
    for row in rows.values():
        message = message_from_json(row.payload)
        rendered = blockkit.message_kwargs(message)
        assert block_errors(rendered["blocks"]) == [], row.key
        parsed = "\n".join([rendered["text"], *mrkdwn(rendered["blocks"])])
        assert "<!channel>" not in parsed and "<@U0001>" not in parsed, row.key
        assert "\x07" not in str(rendered) and "DROP TABLE" in parsed
    card = texts(rows["handoff:1:dm"].payload)
    assert "&lt;!channel&gt; &lt;@U0001&gt;" in card and "ＡＣＭＥ全角 🎉 &amp; co" in card
    assert "…ほか" in card  # 50 contacts and 45 promises do not all fit in one section
    with Session(engine) as session:
        # stored as typed, but for its control character (issue 19 item 11)
        assert session.exec(select(Account)).one().name == HOSTILE.replace("\x07", "")
