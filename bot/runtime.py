"""The road every request takes, whichever adapter it came from.

adapter → `Runtime.run_command / press / submit` → `commands/<name>.py` → `storage/` → `Outcome`.
One unit of work per request: committed when the handler succeeds, rolled back when it refused
(form errors) or failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, event
from sqlmodel import Session

from bot.reminder_jobs import reminders_from
from bot.settings import Settings
from commands import home, policy
from commands.context import Clock, Context, Directory, apply_profile
from commands.i18n import Translator, translator_for, warm_catalogs
from commands.registry import Registry
from commands.ui import FormValues, Message, Outcome, Section, View
from storage import people
from storage.db import DatabaseUnavailable, session_scope
from storage.outbox import OutboxMessage
from storage.people import Person

log = logging.getLogger(__name__)

PROFILE_MAX_AGE = timedelta(days=1)
_OUTBOX_WRITTEN = "kakehashi.outbox_written"


def watch_outbox(session: Session) -> None:
    """Notes in `session.info` when the session writes an outbox row."""

    def note(flushing: Session, _context: object, _instances: object) -> None:
        if any(isinstance(obj, OutboxMessage) for obj in flushing.new):
            flushing.info[_OUTBOX_WRITTEN] = True

    event.listen(session, "before_flush", note)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    registry: Registry
    clock: Clock
    directory: Directory
    on_outbox: Callable[[], None] | None = None
    """Called after a request whose unit of work added outbox rows (set by `run` and `shell`)."""

    def __post_init__(self) -> None:
        warm_catalogs()  # not in the first form submission, which Slack gives 3 seconds

    def run_command(
        self, user_id: str, name: str, text: str, channel_id: str | None = None
    ) -> Outcome:
        spec = self.registry.commands[name]
        return self._handle(
            user_id, channel_id, f"/{name}", lambda ctx: spec.run(ctx, text.strip())
        )

    def press(
        self, user_id: str, action_id: str, value: str, channel_id: str | None = None
    ) -> Outcome:
        handler = self.registry.actions[action_id]
        return self._handle(user_id, channel_id, action_id, lambda ctx: handler(ctx, value))

    def submit(
        self,
        user_id: str,
        callback_id: str,
        values: FormValues,
        metadata: str,
        channel_id: str | None = None,
    ) -> Outcome:
        handler = self.registry.forms[callback_id]
        return self._handle(
            user_id, channel_id, callback_id, lambda ctx: handler(ctx, values, metadata)
        )

    def _handle(
        self,
        user_id: str,
        channel_id: str | None,
        listener: str,
        handler: Callable[[Context], Outcome],
    ) -> Outcome:
        try:
            with self.session() as session:
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
        except DatabaseUnavailable as exc:
            log.error("database unavailable: %s", exc.__class__.__name__)
            t = Translator(self.settings.locale)
            return Outcome(reply=Message.plain(t("error.unavailable")))
        if session.info.get(_OUTBOX_WRITTEN) and not outcome.errors and self.on_outbox:
            self.on_outbox()  # deliver now: Slack in a worker thread, the shell in line
        return outcome

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
        )

    def person(self, session: Session, user_id: str) -> Person:
        """The person, with their Slack profile refreshed when it is a day old."""
        person = people.get_or_create(session=session, user_id=user_id)
        fetched = person.profile_fetched_at
        if fetched is None or self.clock.now() - fetched > PROFILE_MAX_AGE:
            profile = self.directory.lookup(user_id)
            if profile is not None:
                apply_profile(person, profile)
                person.profile_fetched_at = self.clock.now()
                session.add(person)
        return person

    def translator_for(self, person: Person) -> Translator:
        return translator_for(person, self.settings.locale, self.settings.zone)
