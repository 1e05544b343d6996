"""Migration 0017: messages stored in Slack's mrkdwn by the previous release, still waiting to be
sent or answered, read the same in Slack after the upgrade; history stays as it was."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import Engine, text

from bot.slack_markup import mrkdwn
from commands.markup import as_text
from storage.db import alembic_config, upgrade
from tests.test_migration_0016 import WHEN, empty  # noqa: F401  (the fixture)

OLD = (
    "<@U0AIKO> promised &lt;b&gt; &amp; *Acme* a call · "
    "<https://acme.slack.com/archives/C1/p1|the message> <@W0KEN|ken>"
)
SLACK_SHOWS = (
    "<@U0AIKO> promised &lt;b&gt; &amp; *Acme* a call · "
    "<https://acme.slack.com/archives/C1/p1|the message> <@W0KEN>"
)


def _payload(body: str) -> str:
    return json.dumps({"text": body, "blocks": [{"type": "section", "text": body, "fields": []}]})


def test_waiting_messages_and_answers_are_rewritten_in_the_neutral_markup(empty: Engine) -> None:  # noqa: F811
    command.upgrade(alembic_config(empty), "0016_platform_identity")
    with empty.begin() as connection:
        for key, status in (("waiting", "pending"), ("history", "sent")):
            connection.execute(
                text(
                    "INSERT INTO outbox (key, kind, recipient, payload, status, attempts,"
                    f" not_before, created_at) VALUES (:key, 'dm', 'U0AIKO', :payload,"
                    f" :status, 0, {WHEN}, {WHEN})"
                ),
                {"key": key, "payload": _payload(OLD), "status": status},
            )
        connection.execute(
            text(
                "INSERT INTO acknowledged_requests (request, received_at, answer, attempts)"
                f" VALUES ('{{}}', {WHEN}, :answer, 1)"
            ),
            {"answer": json.dumps({"reply": {"text": OLD}})},
        )

    upgrade(empty)

    with empty.connect() as connection:
        payloads = dict(connection.execute(text("SELECT key, payload FROM outbox")).all())
        (answer,) = connection.execute(text("SELECT answer FROM acknowledged_requests")).one()
    load = lambda v: json.loads(v) if isinstance(v, str) else v  # noqa: E731
    waiting, history, answer = load(payloads["waiting"]), load(payloads["history"]), load(answer)
    assert mrkdwn(waiting["text"], 3000) == SLACK_SHOWS
    assert mrkdwn(waiting["blocks"][0]["text"], 3000) == SLACK_SHOWS
    assert mrkdwn(answer["reply"]["text"], 3000) == SLACK_SHOWS
    assert as_text(waiting["text"]).startswith("@U0AIKO promised <b> & *Acme*")
    assert history["text"] == OLD
