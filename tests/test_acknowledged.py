"""Nothing acknowledged is lost: a burst of signed `/promise` commands into the real `kakehashi
run` process, which is then stopped (SIGTERM) or killed (SIGKILL) and started again; every
command Slack got a 200 for is done exactly once and answered."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.after_ack import AfterAck
from bot.runtime import Runtime
from bot.slack_answers import SETTLE, WriteDown, finish_acknowledged
from commands.context import FixedClock
from storage.acknowledged import AcknowledgedRequest
from storage.db import DatabaseUnavailable, make_engine, upgrade
from storage.people import Role
from storage.promises import Promise
from testkit.fake_slack import FakeSlack
from testkit.signing import signed_headers, slash_command_body
from tests import test_promise
from tests.conftest import NOW, PG_URL, SECRET, TOKEN, SlackServer, free_port, pg_url
from tests.factories import make_account, make_person
from tests.test_delivery_process import start, stop, wait_until

BURST = 30


def seed(engine: Engine) -> None:
    with Session(engine) as session:
        aiko = make_person(session, user_id="UCS", name="aiko", role=Role.CS)
        kenji = make_person(session, user_id="USALES", name="kenji", role=Role.SALES)
        make_account(session, name="ACME", at=NOW, cs_owner_id=aiko.id, sales_owner_id=kenji.id)
        session.commit()


def promises(engine: Engine) -> Counter[str]:
    with Session(engine) as session:
        return Counter(session.exec(select(Promise.text).where(col(Promise.text).like("P%"))))


def replies(slack: FakeSlack, urls: dict[int, str]) -> Counter[int]:
    paths = {url.removeprefix(slack.url): i for i, url in urls.items()}
    return Counter(paths[c.path] for c in slack.calls if c.path in paths)


async def burst(port: int, urls: dict[int, str]) -> list[int]:
    """Sends the commands at once; the numbers of those acknowledged (200)."""

    async def one(http: httpx.AsyncClient, i: int) -> int | None:
        body = slash_command_body("/promise", f"ACME: P{i:02d}", "USALES", response_url=urls[i])
        try:
            response = await http.post(
                f"http://127.0.0.1:{port}/slack/events",
                content=body.encode(),
                headers=signed_headers(body, SECRET),
            )
        except httpx.HTTPError:
            return None
        return i if response.status_code == 200 else None

    async with httpx.AsyncClient(timeout=10) as http:
        done = await asyncio.gather(*(one(http, i) for i in urls))
    return [i for i in done if i is not None]


def wait_ready(port: int, proc: subprocess.Popen[bytes], workdir: Path, engine: Engine) -> None:
    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, "start-up", 30, [proc], workdir, engine)


@pytest.fixture(params=["sqlite", *(["postgresql"] if PG_URL else [])])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kakehashi.db'}"
        upgrade(make_engine(url))
        yield url
        return
    from tests.conftest import _truncate

    pg_engine = request.getfixturevalue("pg_engine")
    _truncate(pg_engine)
    yield pg_url()
    _truncate(pg_engine)


@pytest.mark.system_clock_process
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_every_acknowledged_command_is_done_exactly_once_across_a_stop_and_a_restart(
    database: str, tmp_path: Path, sig: signal.Signals
) -> None:
    engine = make_engine(database)
    seed(engine)
    with FakeSlack() as slack:
        slack.add_user("USALES", name="kenji", tz="Asia/Tokyo", locale="en-US")
        urls = {i: slack.new_response_url() for i in range(BURST)}
        port = free_port()
        first = start(database, slack, tmp_path, "first", port)
        try:
            wait_ready(port, first, tmp_path, engine)
            acknowledged = asyncio.run(burst(port, urls))
            first.send_signal(sig)
            first.wait(30)
        finally:
            stop(first)
        assert len(acknowledged) == BURST
        if sig == signal.SIGTERM:  # it finished what it had acknowledged before it exited
            assert first.returncode == 0
            assert promises(engine) == Counter({f"P{i:02d}": 1 for i in acknowledged})
            assert replies(slack, urls) == Counter(dict.fromkeys(acknowledged, 1))

        second = start(database, slack, tmp_path, "second", free_port())
        try:
            wait_until(
                lambda: set(replies(slack, urls)) == set(acknowledged),
                "every acknowledged command answered",
                150,  # on PostgreSQL, once they are `SETTLE` old (a replica may be on them)
                [second],
                tmp_path,
                engine,
            )
            time.sleep(1.5)  # a tick more: nothing is run or answered again
        finally:
            stop(second)

        assert promises(engine) == Counter({f"P{i:02d}": 1 for i in acknowledged})
        answered = replies(slack, urls)
        # A kill between a reply and the record of it repeats that reply (Slack cannot be asked
        # whether an ephemeral reply arrived): each at most once more. How many are in that
        # window at the kill depends on the moment, not on the pool's size: a reply is sent and
        # recorded on the event loop, after the pool has run the command.
        assert max(answered.values()) <= (1 if sig == signal.SIGTERM else 2)
        for i in acknowledged:
            reply = next(c.body for c in slack.calls if c.path == urls[i].removeprefix(slack.url))
            assert f"P{i:02d}" in str(reply)
    engine.dispose()


# ---- an answer that met an error is given again (the Bolt app in process) ---------------------


async def answer_again(runtime: Runtime, slack: FakeSlack, clock: FixedClock) -> None:
    """What `kakehashi run` does every tick: the requests `SETTLE` old and unanswered."""
    clock.at += SETTLE + timedelta(seconds=1)
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
    await finish_acknowledged(runtime, AfterAck(), client, received_before=clock.now() - SETTLE)


def chat(slack: FakeSlack) -> list[tuple[str, int]]:
    return [(c.method, c.status) for c in slack.calls if c.method.startswith("chat.")]


async def test_a_form_reply_that_met_a_rate_limit_is_sent_again(
    server: SlackServer, engine: Engine, runtime: Runtime, clock: FixedClock
) -> None:
    test_promise.seed(engine)
    server.slack.fail_next("chat.postEphemeral")
    server.slack.fail_next("chat.postMessage")  # the DM it falls back to
    await test_promise.submit(server, "USALES", "", account="globex", text="Quarterly review")
    await server.slack.await_for("chat.postMessage")
    assert chat(server.slack) == [("chat.postEphemeral", 429), ("chat.postMessage", 429)]

    await answer_again(runtime, server.slack, clock)
    await answer_again(runtime, server.slack, clock)  # once is enough

    assert chat(server.slack)[2:] == [("chat.postEphemeral", 200)]
    [sent] = [c for c in server.slack.calls if c.method.startswith("chat.") and c.status == 200]
    assert "Recorded *P-1* for *Globex Inc.*" in json.dumps(sent.body, ensure_ascii=False)
    assert test_promise.promise_row(engine, 1).text == "Quarterly review"


async def test_a_command_reply_that_met_a_rate_limit_is_sent_again_and_the_command_not_rerun(
    server: SlackServer, engine: Engine, runtime: Runtime, clock: FixedClock
) -> None:
    test_promise.seed(engine)
    url = server.slack.new_response_url()
    server.slack.fail_next("response_url")
    await server.post(
        slash_command_body("/promise", "Globex: Workshop", "USALES", response_url=url)
    )
    await server.slack.await_for("response_url")

    await answer_again(runtime, server.slack, clock)
    await answer_again(runtime, server.slack, clock)

    path = url.removeprefix(server.slack.url)
    answers = [c for c in server.slack.calls if c.path == path]
    assert [c.status for c in answers] == [429, 200]
    assert "Recorded *P-1* for *Globex Inc.*" in json.dumps(answers[1].body, ensure_ascii=False)
    with Session(engine) as session:
        assert list(session.exec(select(Promise.text))) == ["Workshop"]


def test_a_request_taken_up_by_two_processes_at_once_is_done_once(
    engine: Engine, runtime: Runtime
) -> None:
    """A replica's start-up and the replica that acknowledged it, both running it: one runs it,
    the other is told it is done (None) and its work rolled back."""
    test_promise.seed(engine)
    request = {"kind": "command", "user_id": "USALES", "name": "promise", "text": "Globex: Demo"}
    request_id = runtime.receive(request)
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: runtime.run_acknowledged(request_id), range(4)))

    assert len([o for o in outcomes if o is not None]) == 1
    with Session(engine) as session:
        assert list(session.exec(select(Promise.text))) == ["Demo"]


def test_a_database_of_the_previous_version_upgrades_with_its_outbox_intact(
    tmp_path: Path,
) -> None:
    from alembic import command
    from sqlalchemy import text

    from storage.db import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0012_reminders_without_row_locks")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox (key, kind, recipient, payload, status, attempts, not_before,"
                " created_at, claimed_until) VALUES ('reminder:1', 'reminder', 'UCS', '{}',"
                " 'pending', 2, '2026-11-23 01:00:00', '2026-11-23 01:00:00',"
                " '2026-11-23 01:01:00')"
            )
        )

    upgrade(engine)

    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT key, attempts, claimed_until, claimed_by FROM outbox")
        ).one()
        assert tuple(row) == ("reminder:1", 2, "2026-11-23 01:01:00", None)
        assert connection.execute(text("SELECT count(*) FROM acknowledged_requests")).scalar() == 0
    engine.dispose()


async def test_a_request_that_fails_again_does_not_hold_up_the_others(
    server: SlackServer, engine: Engine, runtime: Runtime, clock: FixedClock
) -> None:
    test_promise.seed(engine)
    url = server.slack.new_response_url()
    broken = {"kind": "command", "user_id": "USALES", "name": "gone", "text": ""}
    runtime.receive(broken)  # e.g. a command a newer version no longer has
    runtime.receive(
        {"kind": "command", "user_id": "USALES", "name": "promise", "text": "Globex: Demo",
         "response_url": url}
    )  # fmt: skip

    await answer_again(runtime, server.slack, clock)

    reply = await server.reply_to(url)
    assert "Recorded *P-1* for *Globex Inc.*" in json.dumps(reply, ensure_ascii=False)


def test_a_command_that_changed_nothing_is_not_marked_done_and_one_that_did_is(
    engine: Engine, runtime: Runtime
) -> None:
    """Marking a request done guards a change from being made twice; a command that only read
    (an account card) skips that write, and is answered all the same."""
    test_promise.seed(engine)
    runtime.run_command("USALES", "account", "Globex")  # kenji's profile is read once
    read = {"kind": "command", "user_id": "USALES", "name": "account", "text": "Globex"}
    wrote = {"kind": "command", "user_id": "USALES", "name": "promise", "text": "Globex: Demo"}
    card = runtime.run_acknowledged(read_id := runtime.receive(read), read)
    promised = runtime.run_acknowledged(wrote_id := runtime.receive(wrote), wrote)

    assert card is not None and card.request_id == read_id and card.reply is not None
    assert "Globex Inc." in card.reply.text
    assert promised is not None and promised.request_id == wrote_id
    with Session(engine) as session:
        rows = {r.id: r for r in session.exec(select(AcknowledgedRequest))}
    assert rows[read_id].done_at is None and rows[read_id].answer is None
    assert rows[wrote_id].done_at is not None and rows[wrote_id].answer is not None
    assert runtime.run_acknowledged(wrote_id) is None  # done: not run again


class _Receiving:
    """A stand-in for `Runtime.receive_all` that holds its first call until told."""

    def __init__(self, error: Exception | None = None) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.error = error

    def receive_all(self, requests: list[dict[str, str]]) -> list[int]:
        self.batches.append([r["text"] for r in requests])
        if len(self.batches) == 1:
            self.release.wait(5)
        if self.error is not None:
            raise self.error
        return [int(r["text"]) for r in requests]


async def test_requests_that_arrive_while_one_is_written_down_are_written_down_together() -> None:
    receiving = _Receiving()
    write_down = WriteDown(receiving)  # type: ignore[arg-type]
    first = asyncio.create_task(write_down({"text": "1"}))
    await asyncio.sleep(0.05)  # its write is under way, in a thread
    rest = [asyncio.create_task(write_down({"text": str(i)})) for i in range(2, 6)]
    await asyncio.sleep(0.05)
    receiving.release.set()

    assert await first == 1
    assert await asyncio.gather(*rest) == [2, 3, 4, 5]
    assert receiving.batches == [["1"], ["2", "3", "4", "5"]]
    assert await write_down({"text": "6"}) == 6  # a later request starts a write of its own
    assert receiving.batches[-1] == ["6"]


@pytest.mark.parametrize("unavailable", [True, False], ids=["unavailable", "error"])
async def test_a_failed_write_down_fails_each_request_in_it_as_its_own_would_have(
    unavailable: bool,
) -> None:
    """The database unavailable: None (the request runs unrecorded, and says so); any other
    error reaches each listener."""
    error = DatabaseUnavailable("down") if unavailable else RuntimeError("bug")
    receiving = _Receiving(error)
    write_down = WriteDown(receiving)  # type: ignore[arg-type]
    receiving.release.set()
    results = await asyncio.gather(
        *(write_down({"text": str(i)}) for i in range(3)), return_exceptions=True
    )
    if unavailable:
        assert results == [None] * 3
    else:
        assert all(r is error for r in results)
