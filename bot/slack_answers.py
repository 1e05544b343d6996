"""Answering the requests the Slack listeners acknowledged (`bot.slack`): the work runs on the
pool (`bot.after_ack`), the outcome goes back through `response_url` or the Web API, and it is
then recorded as answered. What was left undone or unanswered (a killed process, a 429 on the
way) is taken up again by `finish_acknowledged`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blockkit
from bot.after_ack import AfterAck
from bot.response_url import AnswerRefused, ResponseUrls
from bot.runtime import Runtime
from commands.ui import Outcome
from storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)


class WriteDown:
    """Writes each request down before it is acknowledged, so that a crash cannot lose it.
    Requests that arrive while a write is under way are written together in the next one (a
    group commit): in a burst of 100 commands, a transaction and a thread for each one held the
    last acknowledgements back about a second (bench/RESULTS.md, benchmark 1)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[int | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def __call__(self, request: dict[str, Any]) -> int | None:
        """The request's id; None when the database is unavailable (it then runs as before,
        and says so)."""
        written: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, written))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        return await written

    async def _write(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    ids: list[int | None] = list(
                        await asyncio.to_thread(self._runtime.receive_all, [r for r, _ in batch])
                    )
                except DatabaseUnavailable:
                    ids = [None] * len(batch)
                except Exception as error:  # each listener fails as its own write would have
                    for _, written in batch:
                        if not written.done():  # not given up by its listener
                            written.set_exception(error)
                    continue
                for (_, written), request_id in zip(batch, ids, strict=True):
                    if not written.done():
                        written.set_result(request_id)
        finally:
            self._writer = None


async def run_and_answer(
    runtime: Runtime,
    work: AfterAck,
    client: AsyncWebClient,
    request: dict[str, Any],
    request_id: int | None,
    trigger_id: str | None,
    respond: Any,
) -> None:
    if request_id is None:
        answer = await work.run(run_rendered, _run_unrecorded, runtime, request)
    else:
        work.answering.add(request_id)
        answer = await work.run(run_rendered, runtime.run_acknowledged, request_id, request)
    try:
        if answer is not None:  # else done elsewhere, or taken up again later
            outcome, shown = answer
            await answer_outcome(
                runtime, work, client, request, outcome, trigger_id, respond, shown=shown
            )
    finally:
        if request_id is not None:
            work.answering.discard(request_id)


@dataclass(frozen=True)
class Shown:
    """An outcome's messages in Block Kit. The worker that ran the request renders them: on
    the event loop, rendering account cards took a fifth of its time in a burst, and delayed
    the acknowledgements."""

    reply: dict[str, Any] | None
    replace_original: dict[str, Any] | None

    @classmethod
    def of(cls, outcome: Outcome) -> Shown:
        return cls(
            reply=blockkit.message_kwargs(outcome.reply) if outcome.reply else None,
            replace_original=(
                blockkit.message_kwargs(outcome.replace_original)
                if outcome.replace_original
                else None
            ),
        )


def run_rendered(work: Callable[..., Outcome | None], *args: Any) -> tuple[Outcome, Shown] | None:
    outcome = work(*args)
    return None if outcome is None else (outcome, Shown.of(outcome))


def _run_unrecorded(runtime: Runtime, request: dict[str, Any]) -> Outcome:
    user_id, channel_id = request["user_id"], request.get("channel_id")
    if request["kind"] == "command":
        return runtime.run_command(user_id, request["name"], request["text"], channel_id)
    return runtime.press(user_id, request["action_id"], request["value"], channel_id)


async def answer_outcome(
    runtime: Runtime,
    work: AfterAck,
    client: AsyncWebClient,
    request: dict[str, Any],
    outcome: Outcome,
    trigger_id: str | None,
    respond: Any,
    *,
    shown: Shown | None = None,
) -> None:
    """Shows the outcome to the person (`shown`: already rendered), then records that it was
    answered; an error on the way leaves it unanswered, to be answered again
    (`finish_acknowledged`)."""
    user_id = request["user_id"]
    shown = shown or Shown.of(outcome)
    try:
        if request["kind"] == "form":
            if shown.reply:
                channel_id = request.get("channel_id")
                await _tell(client, user_id=user_id, channel_id=channel_id, message=shown.reply)
        elif request.get("home"):
            await _show_on_home(
                outcome, shown, client=client, user_id=user_id, trigger_id=trigger_id
            )
        else:
            await show(
                outcome,
                shown,
                respond=respond,
                client=client,
                trigger_id=trigger_id,
                channel_id=request.get("channel_id"),
            )
    except (SlackApiError, ClientError, AnswerRefused) as exc:
        log.warning("answer to request %s not delivered: %s", outcome.request_id, _reason(exc))
        return
    if outcome.request_id is not None:  # at once: a crash before this repeats the answer
        await asyncio.to_thread(runtime.answered, outcome.request_id)
    home_changed = outcome.home_changed | ({user_id} if request.get("home") else set())
    await publish_homes(runtime, work, client, home_changed)


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return str(exc) if isinstance(exc, AnswerRefused) else exc.__class__.__name__


SETTLE = timedelta(seconds=30)
"""How old an unanswered request must be before it is taken up again: by then the process that
acknowledged it has run and answered it, unless it died or its answer met an error."""


async def keep_answering(
    runtime: Runtime, work: AfterAck, client: AsyncWebClient, *, every: float, since: datetime
) -> None:
    """`finish_acknowledged` at start-up for what was acknowledged before `since` (a killed
    predecessor's requests), then every `every` seconds for what is `SETTLE` old."""
    before = since
    while True:
        try:
            await finish_acknowledged(runtime, work, client, received_before=before)
        except DatabaseUnavailable as exc:
            log.warning("acknowledged requests not checked: database unavailable (%s)", exc)
        await asyncio.sleep(every)
        before = runtime.clock.now() - SETTLE


async def finish_acknowledged(
    runtime: Runtime, work: AfterAck, client: AsyncWebClient, *, received_before: datetime
) -> None:
    """Runs, or answers again, the requests acknowledged before the instant and not answered:
    those of a process that was killed, or whose answer met an error. Those this process is
    answering right now are left to it."""
    for request_id in await work.run(runtime.unanswered, received_before):
        if request_id in work.answering:
            continue
        if await work.run(runtime.platform_of, request_id) != "slack":
            continue  # Teams answers its own (bot.teams_routes)
        try:
            await _take_up_again(runtime, work, client, request_id)
        except DatabaseUnavailable:
            raise
        except Exception:  # a bug in one request must not stop the others; it is tried again
            log.exception("acknowledged request %d failed again", request_id)


async def _take_up_again(
    runtime: Runtime, work: AfterAck, client: AsyncWebClient, request_id: int
) -> None:
    taken = await work.run(runtime.take_up_again, request_id)
    if taken is None:  # given up
        return
    request, outcome = taken
    if outcome is None:  # done and answered elsewhere, or the database is down again
        return
    url = request.get("response_url")
    respond = ResponseUrls(runtime.settings.slack_api_url).responder(url)
    await answer_outcome(runtime, work, client, request, outcome, None, respond)


async def publish_homes(
    runtime: Runtime, work: AfterAck, client: AsyncWebClient, user_ids: Iterable[str]
) -> None:
    """Publishes each person's Home tab as it is now (`views.publish`)."""
    for user_id in sorted(user_ids):
        view = await work.run(runtime.home, user_id)
        try:
            await client.views_publish(user_id=user_id, view=blockkit.home(view))
        except SlackApiError as exc:
            log.warning("views.publish %s failed: %s", user_id, exc.response.get("error"))


async def _show_on_home(
    outcome: Outcome,
    shown: Shown,
    *,
    client: AsyncWebClient,
    user_id: str,
    trigger_id: str | None,
) -> None:
    """A button on the Home tab: forms open as usual; a reply goes to the person's DM with the
    bot; a redrawn message is not needed, as the Home tab is republished."""
    if outcome.form and trigger_id:
        await client.views_open(trigger_id=trigger_id, view=blockkit.modal(outcome.form))
    if shown.reply:
        await client.chat_postMessage(channel=user_id, **shown.reply)


async def show(
    outcome: Outcome,
    shown: Shown,
    *,
    respond: Any,
    client: AsyncWebClient,
    trigger_id: str | None,
    channel_id: str | None,
) -> None:
    """A command or a message button: the reply, private to the person who acted, is
    ephemeral through `response_url`; a redrawn message replaces the original for everyone."""
    if outcome.form and trigger_id:
        await client.views_open(
            trigger_id=trigger_id, view=blockkit.modal(outcome.form, channel_id=channel_id)
        )
    if shown.replace_original:
        await respond(replace_original=True, **shown.replace_original)
    if shown.reply:
        await respond(response_type="ephemeral", replace_original=False, **shown.reply)


async def _tell(
    client: AsyncWebClient, *, user_id: str, channel_id: str | None, message: dict[str, Any]
) -> None:
    """Only to the person: ephemeral where the form was opened, else in their DM with the bot."""
    if channel_id:
        try:
            await client.chat_postEphemeral(channel=channel_id, user=user_id, **message)
            return
        except SlackApiError as exc:
            log.info("ephemeral reply refused (%s); sending a DM", exc.response.get("error"))
    await client.chat_postMessage(channel=user_id, **message)
