"""What `kakehashi run` does with each Teams activity whose token was valid: the handlers of
`bot.teams` run in a worker thread (the database is synchronous), then their answer goes out
through the SDK: the invoke's body, a card redrawn in place, the private messages.

A command or a press is written down before it runs (`storage.acknowledged`) and marked answered
once its messages landed; one left unanswered (a crash, a send that failed) is answered again
through the stored conversation reference by `keep_answering`.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from datetime import datetime
from typing import Any

import httpx

from bot import teams
from bot.runtime import Runtime
from bot.teams_directory import TeamsDirectory
from bot.teams_people import (
    channel_of,
    reference_of,
    remember_sender,
    teams_person,
    user_id_of,
)
from storage.db import DatabaseUnavailable

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from microsoft_teams.api.activities import Activity as ActivityBase
    from microsoft_teams.api.models.account import ConversationAccount
    from microsoft_teams.apps.app import App
    from microsoft_teams.apps.routing.activity_context import ActivityContext

log = logging.getLogger(__name__)
# Targeted messages are a preview of the SDK, chosen knowingly: its warning at each send is noise.
warnings.filterwarnings("ignore", message=r".*(create|update)_targeted is in preview")

INSTALLS = frozenset({"installationUpdate", "conversationUpdate"})


def handle(runtime: Runtime, activity: dict[str, Any], bot_id: str) -> teams.TeamsAnswer | None:
    """The handler of `bot.teams` for the activity; None for activities Kakehashi ignores. A
    channel's reference is kept for its agenda after every activity there (`sync` included)."""
    directory = runtime.directory
    if not isinstance(directory, TeamsDirectory):
        return dispatch(runtime, activity, bot_id)
    directory.seen(reference_of(activity))
    answer = dispatch(runtime, activity, bot_id)
    channel = channel_of(activity)
    if channel and not directory.is_direct(channel):
        directory.keep(channel)
    return answer


def dispatch(runtime: Runtime, activity: dict[str, Any], bot_id: str) -> teams.TeamsAnswer | None:
    kind, name = activity.get("type"), activity.get("name")
    if kind == "message":
        return teams.on_message(runtime, activity, bot_id)
    if kind in INSTALLS:
        if (activity.get("from") or {}).get("aadObjectId"):
            remember_sender(runtime, activity)  # the conversation's reference, kept
        return teams.on_install(runtime, activity, bot_id)
    if kind == "invoke" and name == "adaptiveCard/action":
        return teams.on_card_action(runtime, activity)
    if kind == "invoke" and name == "task/fetch":
        return teams.on_task_fetch(runtime, activity)
    if kind == "invoke" and name == "task/submit":
        return teams.on_task_submit(runtime, activity)
    return None


def activity_handler(runtime: Runtime) -> Any:
    """The SDK's catch-all route: every activity through `handle`, its answer sent."""

    async def route(ctx: ActivityContext[ActivityBase]) -> Any:
        raw = ctx.activity.model_dump(mode="json", by_alias=True, exclude_none=True)
        bot_id = str((raw.get("recipient") or {}).get("id") or "")
        answer = await asyncio.to_thread(handle, runtime, raw, bot_id)
        if answer is None:
            return None
        await send_answer(ctx, raw, answer, runtime)
        if answer.request_id is not None:
            await asyncio.to_thread(runtime.answered, answer.request_id)
        return answer.invoke

    return route


async def send_answer(
    ctx: ActivityContext[ActivityBase],
    activity: dict[str, Any],
    answer: teams.TeamsAnswer,
    runtime: Runtime,
) -> None:
    """The card redrawn for everyone, then each private message."""
    if answer.update is not None and activity.get("replyToId"):
        update = teams.to_sdk(teams.Send(answer.update, teams.Audience.CONVERSATION))
        update.id = str(activity["replyToId"])
        await ctx.send(update)
    for send in answer.sends:
        try:
            await ctx.send(teams.to_sdk(send))
        except httpx.HTTPStatusError as exc:
            if send.audience is not teams.Audience.TARGETED or exc.response.status_code >= 500:
                raise  # the request stays unanswered and is answered again later
            await _to_personal_chat(ctx, runtime, activity, send)


async def _to_personal_chat(
    ctx: ActivityContext[ActivityBase], runtime: Runtime, activity: dict[str, Any], send: teams.Send
) -> None:
    """A targeted message Teams refused: the person's personal chat instead, never the channel."""
    log.info("targeted message refused; sending it to the personal chat")
    reference = await asyncio.to_thread(personal_reference, runtime, activity)
    if reference is None:
        raise LookupError("no personal chat with the person to answer in")
    personal = teams.Send(send.activity, teams.Audience.CONVERSATION)
    conversation = ctx.conversation_ref.model_copy(
        update={
            "conversation": ConversationAccount.model_validate(reference["conversation"]),
            "service_url": reference.get("serviceUrl") or ctx.conversation_ref.service_url,
        }
    )
    await ctx.send(teams.to_sdk(personal), conversation)


def personal_reference(runtime: Runtime, activity: dict[str, Any]) -> dict[str, Any] | None:
    """The sender's stored personal-chat reference, if they have one."""
    with runtime.session() as session:
        person = teams_person(session, user_id_of(activity), runtime.directory.platform)
        reference = dict(person.delivery_ref or {}) if person else {}
    personal = (reference.get("conversation") or {}).get("conversationType") == "personal"
    return reference if personal else None


async def answer_again(app: App, runtime: Runtime, request_id: int) -> None:
    """A Teams request left unanswered, answered through its stored reference."""
    again = await asyncio.to_thread(teams.answer_again, runtime, request_id)
    if again is None:
        return
    reference, answer = again
    conversation = str((reference.get("conversation") or {}).get("id") or "")
    for send in answer.sends:
        await app.send(conversation, teams.to_sdk(send), service_url=reference.get("serviceUrl"))
    if answer.request_id is not None:
        await asyncio.to_thread(runtime.answered, answer.request_id)


async def keep_answering(
    app: App, runtime: Runtime, *, every: float, since: datetime, settle: Any
) -> None:
    """Teams requests left unanswered: at start-up those before `since`, then every `every`
    seconds those `settle` old (Slack's loop leaves them to this one)."""
    before = since
    while True:
        try:
            for request_id in await asyncio.to_thread(runtime.unanswered, before):
                if await asyncio.to_thread(runtime.platform_of, request_id) != "teams":
                    continue
                try:
                    await answer_again(app, runtime, request_id)
                except DatabaseUnavailable:
                    raise
                except Exception:  # one request's failure must not stop the others
                    log.exception("acknowledged Teams request %d failed again", request_id)
        except DatabaseUnavailable as exc:
            log.warning("acknowledged Teams requests not checked: %s", exc.__class__.__name__)
        await asyncio.sleep(every)
        before = runtime.clock.now() - settle
