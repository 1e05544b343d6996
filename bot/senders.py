"""The delivery engines of one process: Slack's for the outbox's Slack rows, Teams' for its
Teams rows (each claims only its own platform's), either or both as configured."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from bot.delivery import deliver_in_background, slack_delivery
from bot.settings import Settings
from commands.context import Clock
from jobs.delivery import Delivery


def platform_deliveries(
    settings: Settings, engine: Engine, *, clock: Clock | None = None
) -> list[Delivery]:
    """One engine per configured platform. The Teams SDK is imported only when Teams is."""
    engines: list[Delivery] = []
    if settings.slack_enabled:
        engines.append(slack_delivery(settings, engine, clock=clock))
    if settings.teams_enabled:
        from bot.teams_outbox import teams_delivery_from

        engines.append(teams_delivery_from(settings, engine, clock=clock))
    return engines


def kick_all(deliveries: list[Delivery], clock: Clock) -> Callable[[], None]:
    """A kick that starts every engine's sweep, each in its own thread: a Slack backlog does
    not hold up Teams, nor the other way round."""
    kicks = [deliver_in_background(delivery, clock) for delivery in deliveries]

    def kick() -> None:
        for each in kicks:
            each()

    return kick
