"""The commands the bot answers, and the buttons and forms they own.

Each command module exposes `SPEC`; adapters register exactly what is listed here, so the Slack
manifest, the shell and the help text cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from commands.context import Context
from commands.ui import FormValues, Outcome

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
class Registry:
    commands: dict[str, CommandSpec]

    @property
    def actions(self) -> dict[str, ActionHandler]:
        return {aid: h for spec in self.commands.values() for aid, h in spec.actions.items()}

    @property
    def forms(self) -> dict[str, FormHandler]:
        return {cid: h for spec in self.commands.values() for cid, h in spec.forms.items()}


def build_registry() -> Registry:
    from commands import kakehashi, promise, touch

    specs = [kakehashi.SPEC, promise.SPEC, touch.SPEC]
    return Registry(commands={spec.name: spec for spec in specs})
