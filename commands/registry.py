"""The commands the bot answers, and the buttons and forms they own.

Each command module exposes `SPEC`; adapters register exactly what is listed here, so the Slack
manifest, the shell and the help text cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from commands.context import Context
from commands.ui import FormValues, Outcome


@dataclass(frozen=True)
class ShowHelp:
    """A command's text asked for its usage (`help`)."""


@dataclass(frozen=True)
class OpenForm:
    """A command typed without text: it opens its form."""


CommandHandler = Callable[[Context, str], Outcome]
ActionHandler = Callable[[Context, str], Outcome]
FormHandler = Callable[[Context, FormValues, str], Outcome]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    """Without the slash: `kakehashi`."""
    run: CommandHandler
    actions: dict[str, ActionHandler] = field(default_factory=dict)
    forms: dict[str, FormHandler] = field(default_factory=dict)


@dataclass(frozen=True)
class Handlers:
    """Buttons and forms that belong to no slash command (the reminder DMs' buttons)."""

    actions: dict[str, ActionHandler] = field(default_factory=dict)
    forms: dict[str, FormHandler] = field(default_factory=dict)


@dataclass(frozen=True)
class Registry:
    commands: dict[str, CommandSpec]
    handlers: tuple[Handlers, ...] = ()

    @property
    def actions(self) -> dict[str, ActionHandler]:
        owners: list[CommandSpec | Handlers] = [*self.commands.values(), *self.handlers]
        return {aid: h for spec in owners for aid, h in spec.actions.items()}

    @property
    def forms(self) -> dict[str, FormHandler]:
        owners: list[CommandSpec | Handlers] = [*self.commands.values(), *self.handlers]
        return {cid: h for spec in owners for cid, h in spec.forms.items()}


def build_registry() -> Registry:
    from commands import account, handoff, kakehashi, portfolio, promise, touch
    from commands.agenda import subscribe as sync

    specs = [kakehashi.SPEC, account.SPEC, promise.SPEC, touch.SPEC, handoff.SPEC, sync.SPEC]
    specs.append(portfolio.SPEC)
    from commands.crm import HANDLERS as CRM_BUTTONS
    from commands.reminders.buttons import HANDLERS as REMINDER_BUTTONS

    handlers = (REMINDER_BUTTONS, CRM_BUTTONS)
    return Registry(commands={spec.name: spec for spec in specs}, handlers=handlers)
