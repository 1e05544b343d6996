"""The road every request takes, whichever adapter it came from.

adapter → `Runtime.run_command / press / submit` → `commands/<name>.py` → `storage/` → `Outcome`.
One unit of work per request: committed when the handler succeeds, rolled back when it refused
(form errors) or failed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session

from bot import blockkit
from bot.reminder_jobs import reminders_from
from bot.settings import Settings
from bot.teams_text import managers_by_platform
from commands import home, policy
from commands.context import Clock, Context, Directory, SystemClock, refresh_profile
from commands.i18n import Translator, translator_for, warm_catalogs
from commands.registry import Registry, build_registry
from commands.ui import (
    FormValues,
    Message,
    Outcome,
    Room,
    Section,
    View,
    answer_from_json,
    answer_to_json,
)
from jobs import telemetry
from storage import acknowledged, people
from storage.db import (
    DatabaseUnavailable,
    has_written,
    make_engine,
    session_scope,
    upgrade,
    without_control_characters,
)
from storage.outbox import OutboxMessage
from storage.people import Person

log = logging.getLogger(__name__)

KEEP_ANSWERED = timedelta(days=1)
MAX_TRIES = 10
"""Times an acknowledged request is taken up again before it is given up (and logged)."""
_OUTBOX_WRITTEN = "kakehashi.outbox_written"


def watch_outbox(session: Session) -> None:
    """Notes in `session.info` when the session writes an outbox row."""

    def note(flushing: Session, _context: object, _instances: object) -> None:
        if any(isinstance(obj, OutboxMessage) for obj in flushing.new):
            flushing.info[_OUTBOX_WRITTEN] = True

    event.listen(session, "before_flush", note)


class AlreadyDone(Exception):
    """The acknowledged request was done by another run of it (a replica, a restart)."""


Handler = Callable[[Context], Outcome]


def _outcome_label(refused: object, outcome: Outcome) -> str:
    """How a request ended, for the metrics: refused by the roles, form errors, or done."""
    if refused:
        return "refused"
    return "invalid" if outcome.errors else "ok"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    registry: Registry
    clock: Clock
    directory: Directory
    on_outbox: Callable[[], None] | None = None
    """Called after a request whose unit of work added outbox rows (set by `run` and `shell`)."""
    room: Room = blockkit.ROOM
    """How much a message holds where this runtime answers (Slack, unless the shell says)."""

    def __post_init__(self) -> None:
        warm_catalogs()  # not in the first form submission, which Slack gives 3 seconds

    def run_command(
        self, user_id: str, name: str, text: str, channel_id: str | None = None
    ) -> Outcome:
        return self._handle(user_id, channel_id, *self._command(name, text))

    def press(
        self, user_id: str, action_id: str, value: str, channel_id: str | None = None
    ) -> Outcome:
        return self._handle(user_id, channel_id, *self._action(action_id, value))

    def submit(
        self,
        user_id: str,
        callback_id: str,
        values: FormValues,
        metadata: str,
        channel_id: str | None = None,
        *,
        record: dict[str, Any] | None = None,
    ) -> Outcome:
        """A form's submission; with `record`, the request is written down in the same unit of
        work (done, with the answer it owes: `outcome.request_id`)."""
        handler = self.registry.forms[callback_id]
        values = _without_control_characters(values)
        metadata = without_control_characters(metadata)
        return self._handle(
            user_id,
            channel_id,
            callback_id,
            lambda ctx: handler(ctx, values, metadata),
            record=record,
        )

    def _command(self, name: str, text: str) -> tuple[str, Handler]:
        spec = self.registry.commands[name]
        text = without_control_characters(text).strip()
        return f"/{name}", lambda ctx: spec.run(ctx, text)

    def _action(self, action_id: str, value: str) -> tuple[str, Handler]:
        handler = self.registry.actions[action_id]
        value = without_control_characters(value)
        return action_id, lambda ctx: handler(ctx, value)

    # ---- requests acknowledged before they were run (`storage.acknowledged`) ----------------

    def receive(self, request: dict[str, Any]) -> int:
        """Writes a command or a button press down before it is acknowledged (as it will be
        stored: without control characters, which PostgreSQL's JSON refuses)."""
        return self.receive_all([request])[0]

    def receive_all(self, requests: list[dict[str, Any]]) -> list[int]:
        """`receive`, for requests that arrived together: in one transaction."""
        at = self.clock.now()
        with self.session() as session:
            return [
                acknowledged.record(session=session, request=_as_stored(request), at=at)
                for request in requests
            ]

    def run_acknowledged(
        self, request_id: int, request: dict[str, Any] | None = None
    ) -> Outcome | None:
        """Runs a request written down by `receive`, once: None when it is done already, or
        the database is unavailable (it is taken up again later). `request`: what `receive`
        was given, when the caller still has it (it is then not read back)."""
        if request is None:
            with self.session() as session:
                row = acknowledged.get(session=session, request_id=request_id)
                request = dict(row.request) if row is not None and row.done_at is None else None
        if request is None:
            return None
        if request["kind"] == "command":
            listener, handler = self._command(request["name"], request["text"])
        else:
            listener, handler = self._action(request["action_id"], request["value"])
        try:
            return self._handle(
                request["user_id"], request.get("channel_id"), listener, handler, done=request_id
            )
        except (AlreadyDone, DatabaseUnavailable):
            return None

    def take_up_again(self, request_id: int) -> tuple[dict[str, Any], Outcome | None] | None:
        """A request left unanswered (a crash, an error on the way to the person): run, or
        its stored answer; None once it was tried `MAX_TRIES` times, or done elsewhere."""
        with self.session() as session:
            tries = acknowledged.take_up_again(session=session, request_id=request_id)
            row = acknowledged.get(session=session, request_id=request_id)
            assert row is not None
            request, answer = dict(row.request), row.answer
            if tries > MAX_TRIES:
                log.error("acknowledged request %d given up after %d tries", request_id, tries)
                acknowledged.answered(session=session, request_id=request_id, at=self.clock.now())
                return None
        if answer is not None:
            return request, answer_from_json(answer, request_id)
        return request, self.run_acknowledged(request_id)

    def platform_of(self, request_id: int) -> str:
        """Which adapter answers an acknowledged request (Teams' carry their reference)."""
        with self.session() as session:
            row = acknowledged.get(session=session, request_id=request_id)
            teams = row is not None and isinstance(row.request.get("teams"), dict)
        return "teams" if teams else "slack"

    def answered(self, request_id: int) -> None:
        with self.session() as session:
            acknowledged.answered(session=session, request_id=request_id, at=self.clock.now())

    def unanswered(self, received_before: datetime, limit: int = 100) -> list[int]:
        with self.session() as session:
            acknowledged.forget_answered(session=session, before=received_before - KEEP_ANSWERED)
            return acknowledged.unanswered(
                session=session, received_before=received_before, limit=limit
            )

    def _handle(
        self,
        user_id: str,
        channel_id: str | None,
        listener: str,
        handler: Handler,
        *,
        done: int | None = None,
        record: dict[str, Any] | None = None,
    ) -> Outcome:
        """Runs `handler` in one unit of work. `done`: the acknowledged request it runs, marked
        done in that unit (`AlreadyDone` when it was); `record`: a request to write down with
        its answer."""
        request = uuid.uuid4().hex[:12]
        try:
            with (
                telemetry.log_context(request=request, person=user_id, command=listener),
                self.session() as session,
            ):
                watch_outbox(session)
                home.watch_changes(session)
                ctx = self.context(session, user_id, channel_id)
                refused = policy.guard(ctx, listener)
                outcome = Outcome(reply=Message.plain(refused)) if refused else handler(ctx)
                if outcome.errors:
                    session.rollback()
                else:
                    self.follow_reminders(session, ctx)
                    outcome.home_changed = home.changed_people(session)
                    self._note_done(session, outcome, done=done, record=record)
        except DatabaseUnavailable as exc:
            log.error("database unavailable: %s", exc.__class__.__name__)
            telemetry.count_request(listener, "unavailable")
            if done is not None:
                raise  # not done: taken up again once the database is back
            t = Translator(self.settings.locale)
            return Outcome(reply=Message.plain(t("error.unavailable")))
        except Exception:
            telemetry.count_request(listener, "failed")
            raise
        telemetry.count_request(listener, _outcome_label(refused, outcome))
        if session.info.get(_OUTBOX_WRITTEN) and not outcome.errors and self.on_outbox:
            self.on_outbox()  # deliver now: Slack in a worker thread, the shell in line
        return outcome

    def _note_done(
        self,
        session: Session,
        outcome: Outcome,
        *,
        done: int | None,
        record: dict[str, Any] | None,
    ) -> None:
        now = self.clock.now()
        if done is not None:
            outcome.request_id = done
            if not has_written(session):
                return  # changed nothing: run again after a crash, it changes nothing either
            if not acknowledged.finish(
                session=session, request_id=done, at=now, answer=answer_to_json(outcome)
            ):
                session.rollback()
                raise AlreadyDone
        elif record is not None:
            outcome.request_id = acknowledged.record(
                session=session, request=record, at=now, answer=answer_to_json(outcome)
            )

    def follow_reminders(self, session: Session, ctx: Context) -> None:
        """Doing what a reminder asks, however it was done, resolves it (PRODUCT §9)."""
        accounts = home.changed_accounts(session)
        if accounts:
            reminders_from(self.settings, self.engine).resolve_followed(
                session, account_ids=accounts, by=ctx.actor.id, now=ctx.now
            )

    def home(self, user_id: str) -> View:
        """The person's Home tab, as it is now."""
        try:
            with self.session() as session:
                return home.home(self.context(session, user_id))
        except DatabaseUnavailable as exc:
            log.error("database unavailable: %s", exc.__class__.__name__)
            t = Translator(self.settings.locale)
            return View(blocks=(Section(t("error.unavailable")),))

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.engine) as session:
            yield session

    def context(self, session: Session, user_id: str, channel_id: str | None = None) -> Context:
        actor = self.person(session, user_id)
        return Context(
            session=session,
            actor=actor,
            t=self.translator_for(actor),
            clock=self.clock,
            directory=self.directory,
            default_locale=self.settings.locale,
            default_zone=self.settings.zone,
            channel_id=channel_id,
            handoff_channel=self.settings.handoff_channel,
            work=self.settings.work_week,
            reminder_rules=self.settings.reminder_rules,
            room=self.room,
        )

    def person(self, session: Session, user_id: str) -> Person:
        """The person, with their Slack profile refreshed when it is a day old."""
        person = people.get_or_create(
            session=session, user_id=user_id, platform=self.directory.platform
        )
        refresh_profile(person, self.directory, self.clock.now())
        session.add(person)
        return person

    def translator_for(self, person: Person) -> Translator:
        return translator_for(person, self.settings.locale, self.settings.zone)


def _as_stored(request: dict[str, Any]) -> dict[str, Any]:
    return {
        name: without_control_characters(value) if isinstance(value, str) else value
        for name, value in request.items()
    }


def _without_control_characters(values: FormValues) -> FormValues:
    """What a person typed, as it will be stored: every copy of it (the record, its audit entry,
    the messages about it) reads the same."""
    cleaned = {field: without_control_characters(value or "") for field, value in values.items()}
    return {field: value if value.strip() else None for field, value in cleaned.items()}


def open_runtime(
    settings: Settings,
    directory: Callable[[Engine], Directory],
    clock: Clock | None = None,
    *,
    room: Room = blockkit.ROOM,
) -> Runtime:
    """The one wiring of every entry point (`kakehashi run`, `jobs`, `shell`): the database
    migrated, the managers of the settings seeded, and the commands registered."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    clock = clock or SystemClock()
    platform_directory = directory(engine)
    with session_scope(engine) as session:
        # `aad:` names a Teams person; the others are people of this runtime's platform.
        others = platform_directory.platform if platform_directory.platform != "teams" else "slack"
        for platform, user_ids in managers_by_platform(settings.managers, others).items():
            people.seed_managers(
                session=session, user_ids=user_ids, at=clock.now(), platform=platform
            )
    return Runtime(
        settings=settings,
        engine=engine,
        registry=build_registry(),
        clock=clock,
        directory=platform_directory,
        room=room,
    )
