"""Reminders as the settings configure them (`jobs.reminders.sweep`): the sweep each scheduler tick
runs before delivery, and the send-time check the delivery engine makes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import Engine

from bot import blockkit
from bot.settings import Settings
from commands.context import Directory
from commands.ui import Message, Room
from jobs.reminders.sweep import KIND, Reminders


def reminders_from(
    settings: Settings,
    engine: Engine,
    directory: Directory | None = None,
    room: Room = blockkit.ROOM,
) -> Reminders:
    return Reminders(
        engine=engine,
        directory=directory,
        rules=settings.reminder_rules,
        work=settings.work_week,
        default_zone=settings.zone,
        default_locale=settings.locale,
        room=room,
    )


def recompose(
    settings: Settings, engine: Engine
) -> Mapping[str, Callable[[str, Message, datetime], Message | None]]:
    """For `Delivery.recompose`: reminder DMs are rebuilt from the data just before sending."""
    return {KIND: reminders_from(settings, engine).fresh_message}
