"""The CRM sweep's storage and failures (PRODUCT §14): the migration keeps today's data, a CRM
that keeps failing ends in `kakehashi jobs failed`, what a CRM sends is shown as text, and the
owner reads the DM in their own language; the settings' one-line errors."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.crm_jobs import crm_from
from bot.jobs_main import list_failed
from bot.runtime import Runtime
from bot.settings import Settings, SettingsError, load_settings
from storage import crm_events
from storage.accounts import Account, fold_name
from storage.crm_events import CrmEvent, CrmSource
from storage.db import alembic_config, session_scope, upgrade
from storage.outbox import OutboxMessage
from testkit.crm_signing import WEBHOOK_SECRET, deal_won_body, stage_change
from testkit.fake_slack import FakeSlack
from tests.conftest import NOW, make_settings
from tests.handoff_data import texts


@pytest.fixture
def settings(database_url: str, slack: FakeSlack) -> Settings:
    slack.add_user(
        "USALES", name="kenji", tz="Asia/Tokyo", locale="ja-JP", email="kenji@example.com"
    )
    return make_settings(
        database_url,
        slack.api_url,
        HUBSPOT_ACCESS_TOKEN="pat-x",
        HUBSPOT_API_URL="http://127.0.0.1:9",  # nothing listens there
        KAKEHASHI_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )


def _store(engine: Engine, source: CrmSource, event_id: str, payload: dict[str, object]) -> None:
    with session_scope(engine) as session:
        crm_events.store(session=session, source=source, events=[(event_id, payload)], at=NOW)


def test_a_database_made_before_the_crm_upgrades_with_its_data(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "0012_reminders_without_row_locks")
    with session_scope(engine) as session:
        session.add(Account(name="ACME", name_key=fold_name("ACME"), external_id="201",
                            created_at=NOW, updated_at=NOW))  # fmt: skip
    upgrade(engine)
    _store(engine, CrmSource.HUBSPOT, "1", stage_change(1, 101, "closedwon"))
    with Session(engine) as session:
        assert session.exec(select(Account.external_id)).all() == ["201"]
        assert session.exec(select(CrmEvent.event_id)).all() == ["1"]


def test_a_crm_that_keeps_failing_ends_in_jobs_failed(
    runtime: Runtime, engine: Engine, settings: Settings
) -> None:
    _store(engine, CrmSource.HUBSPOT, "11", stage_change(11, 101, "closedwon"))
    crm = crm_from(runtime)
    assert crm is not None
    at = NOW
    for _ in range(8):
        [line] = crm.sweep(at)
        at += timedelta(hours=3)
    assert line == "crm hubspot 11: failed (HubSpot unreachable (ConnectError))"
    assert crm.sweep(at + timedelta(days=1)) == []  # not retried forever
    out = io.StringIO()
    list_failed(settings, out)
    assert "crm hubspot 11: HubSpot unreachable (ConnectError)" in out.getvalue()


def test_what_a_crm_sends_is_shown_as_text_in_the_owners_language(
    runtime: Runtime, engine: Engine
) -> None:
    body = deal_won_body()
    body["deal"]["name"] = "<!channel> 大型案件 & <@U0001> '; DROP TABLE accounts; --"
    body["account"]["name"] = "＊ＡＣＭＥ＊ 🎉"
    _store(engine, CrmSource.WEBHOOK, "msg_1", body)
    crm = crm_from(runtime)
    assert crm is not None and crm.sweep(NOW) == ["crm webhook msg_1: offered"]
    with Session(engine) as session:
        [dm] = session.exec(select(OutboxMessage)).all()
        account = session.exec(select(Account)).one()
    assert account.name == "＊ＡＣＭＥ＊ 🎉" and account.external_id == "GLOBEX-1"
    text = texts(dm.payload)
    assert "&lt;!channel&gt; 大型案件 &amp; &lt;@U0001&gt;" in text and "<!channel>" not in text
    assert "が受注になりました" in text and "引き継ぐ" in text  # kenji reads Japanese
    assert "$48,000.00" in text


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SALESFORCE_ORG_ID", "00Dabc", "SALESFORCE_ORG_ID must be a Salesforce organization ID"),
        (
            "KAKEHASHI_WEBHOOK_SECRET",
            "hunter2",
            "KAKEHASHI_WEBHOOK_SECRET must be a secret starting with whsec_",
        ),
        ("HUBSPOT_API_URL", "api.hubapi.com", "HUBSPOT_API_URL must be an http(s) URL"),
    ],
)
def test_malformed_crm_settings_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **{name: value})
    assert str(caught.value).startswith(message) and "hunter2" not in str(caught.value)


def test_empty_crm_settings_are_missing_ones() -> None:
    settings = load_settings(
        _env_file=None,
        HUBSPOT_CLIENT_SECRET=" ",
        HUBSPOT_ACCESS_TOKEN="",
        SALESFORCE_ORG_ID="",
        KAKEHASHI_WEBHOOK_SECRET="",
    )
    assert settings.hubspot_client_secret is None and settings.hubspot_access_token is None
    assert settings.salesforce_org_id is None and settings.webhook_secret is None
    assert settings.hubspot_api_url == "https://api.hubapi.com"
    assert load_settings(_env_file=None, SALESFORCE_ORG_ID="00D5g000004AbCd").salesforce_org_id
