"""The real `kakehashi run` (HTTP mode, in its own process) with the CRMs (issue 20, "Done
when"): a signed HubSpot, Salesforce and generic event each becomes one DM with **Hand it off**
in the fake Slack, delivered three times still one; a forged request gets 401 and stores
nothing; the button, pressed through a signed Slack request, opens the prefilled form."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from storage.crm_events import CrmEvent
from storage.db import make_engine, upgrade
from testkit.crm_signing import (
    HUBSPOT_SECRET,
    ORG_ID,
    WEBHOOK_SECRET,
    as_json,
    deal_won_body,
    hubspot_headers,
    outbound_message,
    stage_change,
    webhook_headers,
    won_opportunity,
)
from testkit.fake_hubspot import TOKEN as HUBSPOT_TOKEN
from testkit.fake_hubspot import FakeHubSpot
from testkit.fake_slack import FakeSlack
from testkit.signing import block_actions_body, signed_headers
from tests.conftest import SECRET, TOKEN, free_port

JSON = dict[str, Any]


@pytest.fixture
def process(
    database_url: str, slack: FakeSlack, tmp_path: Path
) -> Iterator[tuple[str, FakeHubSpot, Engine]]:
    slack.add_user("USALES", name="kenji", locale="en-US", email="kenji@example.com")
    port = free_port()
    with FakeHubSpot() as hubspot:
        hubspot.add_won_deal(deal_id=101, company_id=201)
        ours = ("SLACK_", "KAKEHASHI_", "HUBSPOT_", "SALESFORCE_", "DATABASE_URL")
        env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
        env.update(
            DATABASE_URL=database_url,
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=slack.api_url,
            HUBSPOT_CLIENT_SECRET=HUBSPOT_SECRET,
            HUBSPOT_ACCESS_TOKEN=HUBSPOT_TOKEN,
            HUBSPOT_API_URL=hubspot.url,
            SALESFORCE_ORG_ID=ORG_ID,
            KAKEHASHI_WEBHOOK_SECRET=WEBHOOK_SECRET,
            KAKEHASHI_TICK_SECONDS="1",
            PYTHONPATH=str(Path(__file__).parent.parent),
        )
        log = (tmp_path / "run.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        engine = make_engine(database_url)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(lambda: _up(url), "the server to start", proc, tmp_path)
            yield url, hubspot, engine
        finally:
            proc.terminate()
            proc.wait(15)
            engine.dispose()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(condition: Any, what: str, proc: subprocess.Popen[bytes], workdir: Path) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError(
                f"{what} did not happen\n{(workdir / 'run.log').read_text()[-3000:]}"
            )
        time.sleep(0.1)


def _dms(slack: FakeSlack, user_id: str) -> list[JSON]:
    return [b for b in slack.calls_to("chat.postMessage") if b.get("channel") == user_id]


def _stored(engine: Engine) -> int:
    upgrade(engine)
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(CrmEvent)).one())


@pytest.mark.system_clock_process
def test_signed_crm_events_into_kakehashi_run_become_one_dm_each(
    process: tuple[str, FakeHubSpot, Engine], slack: FakeSlack, tmp_path: Path
) -> None:
    url, _hubspot, engine = process
    now = int(time.time())  # the process runs on the system clock
    hubspot_body = as_json([stage_change(1, 101, "closedwon")])
    generic_body = as_json(deal_won_body())
    salesforce_body = outbound_message([("04l5g00000AAA1AAA", won_opportunity())])
    with httpx.Client(base_url=url, timeout=10) as http:
        headers = webhook_headers("msg_x", now, generic_body, b"wrong")
        forged = http.post("/crm/events", content=generic_body, headers=headers)
        assert forged.status_code == 401 and _stored(engine) == 0
        for _ in range(3):
            uri = f"{url}/crm/hubspot"
            headers = hubspot_headers(uri, hubspot_body, now * 1000)
            assert (
                http.post("/crm/hubspot", content=hubspot_body, headers=headers).status_code == 200
            )
            headers = webhook_headers("msg_1", now, generic_body)
            assert (
                http.post("/crm/events", content=generic_body, headers=headers).status_code == 202
            )
            answer = http.post("/crm/salesforce", content=salesforce_body,
                               headers={"Content-Type": "text/xml"})  # fmt: skip
            assert answer.status_code == 200 and "<Ack>true</Ack>" in answer.text
        assert _stored(engine) == 3

        proc_dir = tmp_path
        deadline = time.monotonic() + 30
        while len(_dms(slack, "USALES")) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # another tick or two: still three
        dms = _dms(slack, "USALES")
        assert len(dms) == 3, (proc_dir / "run.log").read_text()[-3000:]
        texts = sorted(dm["text"] for dm in dms)
        assert texts == [
            "ACME annual plan was won: hand ACME Corp off",
            "Globex renewal was won: hand Globex Inc. off",
            "Initrode expansion was won: hand イニトロード株式会社 off",
        ]

        button = next(e for dm in dms if dm["text"].startswith("ACME") for b in dm["blocks"]
                      if b["type"] == "actions" for e in b["elements"])  # fmt: skip
        body = block_actions_body("USALES", button["action_id"], button["value"],
                                  channel_id="DUSALES", trigger_id="t-run",
                                  response_url=slack.new_response_url())  # fmt: skip
        assert (
            http.post(
                "/slack/events", content=body, headers=signed_headers(body, SECRET)
            ).status_code
            == 200
        )
        opened = slack.wait_for("views.open", predicate=lambda b: b.get("trigger_id") == "t-run")
        assert "Hanako Sato, CTO, hanako@acme.example" in str(opened[0]["view"])
