"""In a process serving Slack and Teams, each loop that takes acknowledged requests up again
answers only its own platform's: Slack's leaves Teams' requests alone, and Teams' Slack's."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from bot import teams_routes
from bot.after_ack import AfterAck
from bot.runtime import Runtime
from bot.slack_answers import finish_acknowledged
from commands.context import FixedClock
from storage import acknowledged

TEAMS_REF = {
    "serviceUrl": "http://127.0.0.1:9/connector/",
    "conversation": {"id": "a:personal-UCS", "conversationType": "personal", "tenantId": "t"},
    "user": {"id": "29:UCS", "aadObjectId": "UCS", "name": "aiko"},
}


def written(runtime: Runtime, **more: Any) -> int:
    request = {"kind": "command", "user_id": "UCS", "name": "kakehashi", "text": "help"}
    return runtime.receive({**request, **more})


def attempts(runtime: Runtime, request_id: int) -> tuple[int, bool]:
    with runtime.session() as session:
        row = acknowledged.get(session=session, request_id=request_id)
        assert row is not None
        return row.attempts, row.done_at is not None


async def test_slack_leaves_teams_requests_and_teams_leaves_slacks(
    runtime: Runtime, clock: FixedClock
) -> None:
    from_teams = written(runtime, teams=TEAMS_REF)
    from_slack = written(runtime, response_url="https://hooks.slack.com/actions/T/1/x")
    assert runtime.platform_of(from_teams) == "teams"
    assert runtime.platform_of(from_slack) == "slack"
    clock.at += timedelta(minutes=5)

    work = AfterAck()
    try:
        work.answering.add(from_slack)  # this process is answering it: left to it
        await finish_acknowledged(runtime, work, None, received_before=clock.now())  # type: ignore[arg-type]
    finally:
        work.shutdown()
    assert attempts(runtime, from_teams) == (0, False)  # not Slack's to run

    loop = asyncio.get_running_loop().create_task(
        teams_routes.keep_answering(
            None,  # type: ignore[arg-type]
            runtime,
            every=60,
            since=clock.now(),
            settle=timedelta(seconds=30),
        )
    )
    await asyncio.sleep(0.5)
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop
    assert attempts(runtime, from_slack) == (0, False)  # not Teams' to run
    assert attempts(runtime, from_teams)[0] == 1  # Teams took its own up (the app is absent)
