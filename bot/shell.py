"""`kakehashi shell`: a terminal chat with the bot, through the same commands as Slack.

Slash commands are typed as in Slack; `@name` picks a person like Slack's user picker; forms
become prompts with the same validation; buttons are pressed by their number; messages the bot
would DM or post are printed with who they are for.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import TextIO

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot import slack_ids
from bot.runtime import Runtime
from bot.shell_crm import replay_deal_won
from bot.shell_time import clock_target
from commands import ui
from commands.addresses import Address, AddressKind, ChannelInfo, UserProfile
from commands.context import FixedClock
from commands.i18n import Translator
from commands.markup import MENTION_CLOSE, MENTION_OPEN, as_text, mention
from storage.people import Person, get_by_user_id

_AT_NAME = re.compile(r"(?<![<\w])@([\w.\-]+)")


class ShellDirectory:
    """The shell's workspace is the people in the database (the demo company, or whoever was
    added with `:person`). It stands in for a Slack workspace: its people are Slack's rows."""

    platform = slack_ids.PLATFORM

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def lookup(self, user_id: str) -> UserProfile | None:
        with Session(self.engine) as session:
            person = get_by_user_id(session=session, user_id=user_id, platform=self.platform)
        if person is None:
            return None
        return UserProfile(
            user_id=person.user_id,
            name=person.name,
            tz=person.tz,
            locale=person.locale,
            email=person.email,
            is_bot=person.is_bot,
        )

    def by_email(self, email: str) -> UserProfile | None:
        """A won deal's owner (`:crm`): the person with this email, if any."""
        with Session(self.engine) as session:
            person = session.exec(select(Person).where(Person.email == email)).first()
        return self.lookup(person.user_id) if person else None

    def channel(self, channel_id: str) -> ChannelInfo | None:
        """The shell's channels are pretend ones, and the bot is in all of them."""
        return ChannelInfo(channel_id=channel_id, is_member=True)

    def kind(self, platform_id: str) -> AddressKind | None:
        """A person when the database has them; any other id is one of the pretend channels."""
        return AddressKind.PERSON if self.lookup(platform_id) else AddressKind.CHANNEL

    def is_direct(self, channel_id: str) -> bool:
        return self.kind(channel_id) is AddressKind.PERSON

    def open_direct(self, user_id: str) -> Address:
        return Address(self.platform, AddressKind.PERSON, user_id)


class Shell:
    def __init__(
        self,
        runtime: Runtime,
        *,
        user_id: str,
        out: TextIO = sys.stdout,
        inp: TextIO = sys.stdin,
        echo: bool = False,
    ) -> None:
        self.runtime = runtime
        self.user_id = user_id
        self.out = out
        self.inp = inp
        self.echo = echo
        self.buttons: dict[int, ui.Button] = {}
        self.channel_id = "CSHELL"
        self.after_line: Callable[[], None] | None = None
        """Runs after every line (set by `open_shell`): delivers what the line sent, so DMs and
        posts are printed right after the reply."""
        self.in_form = False
        """While a form is asked: Ctrl-C cancels the form, not the shell."""
        self.tick: Callable[[], None] | None = None
        """A scheduler tick at the shell's time (set by `open_shell`): run at the start and by
        `:time`, so reminders show as they come due."""

    # ---- input ----------------------------------------------------------------------------

    def loop(self) -> None:
        self.note("shell.welcome", who=self._name(self.user_id))
        if self.tick is not None:
            self.tick()
        self.consume()

    def consume(self) -> None:
        """Reads and runs lines until the input ends or says :quit."""
        while (line := self._read("» ")) is not None:
            if line.strip() in (":quit", ":q", "exit"):
                break
            self.execute(line)
            if self.after_line is not None:
                self.after_line()

    def execute(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        if line.startswith("/"):
            name, _, text = line[1:].partition(" ")
            if name not in self.runtime.registry.commands:
                self.note("shell.unknown_command", name=name)
                return
            self.show(
                self.runtime.run_command(self.user_id, name, self._mentions(text), self.channel_id)
            )
        elif line.isdigit():
            self.press(int(line))
        elif line.startswith(":"):
            self.meta(line[1:].split())
        else:
            self.note("shell.what")

    def meta(self, words: list[str]) -> None:
        match words:
            case ["as", who]:
                user_id = self.resolve(who)
                if user_id is None:
                    self.note("shell.no_one", who=who)
                else:
                    self.user_id = user_id
                    self.note("shell.you_are", who=self._name(user_id))
            case ["people"]:
                with Session(self.runtime.engine) as session:
                    for p in session.exec(select(Person).order_by(col(Person.name))).all():
                        self.say(f"  @{p.name or p.user_id} ({p.user_id}) {p.role or '-'}")
            case ["time", *when]:
                self.move_clock(" ".join(when))
            case ["home"]:
                home = self.runtime.home(self.user_id)
                self.render(ui.Message(text="", blocks=home.blocks))
            case ["crm", "deal-won", path]:
                key, params = replay_deal_won(self.runtime, path)
                self.note(key, "", **params)
                if key == "shell.crm.stored" and self.tick is not None:
                    self.tick()
            case ["crm", *_]:
                self.note("shell.crm.usage")
            case _:
                self.note("shell.meta_help")

    def move_clock(self, when: str) -> None:
        """`:time +1d`, `:time 2026-12-01T09:05+09:00`: the shell's clock jumps there and
        stays; what came due by then is delivered at once, as a scheduler tick would."""
        if when:
            now = self.runtime.clock.now()
            at = clock_target(when, now, self.t.zone)
            if at is None:
                self.note("shell.time.usage", text=when)
                return
            if at < now:  # what was delivered cannot be undelivered
                self.note("shell.time.past", when=self.t.datetime(at), now=self.t.datetime(now))
                return
            self.runtime.clock = FixedClock(at)
        self.note("shell.time.now", when=self.t.datetime(self.runtime.clock.now()))
        if self.tick is not None:
            self.tick()

    def press(self, number: int) -> None:
        button = self.buttons.get(number)
        if button is None:
            self.note("shell.no_button", number=number)
            return
        self.show(self.runtime.press(self.user_id, button.action_id, button.value, self.channel_id))

    # ---- forms as prompts -----------------------------------------------------------------

    def fill(self, form: ui.Form) -> None:
        self.in_form = True
        try:
            self._fill(form)
        except KeyboardInterrupt:  # Ctrl-C while the form was being shown or sent
            self.say("")
            self.note("shell.cancelled")
        finally:
            self.in_form = False

    def _fill(self, form: ui.Form) -> None:
        self.note("shell.form", title=self._text(form.title))
        if form.intro:
            self.say(self._text(form.intro))
        values: ui.FormValues = {}
        todo = list(form.fields)
        while True:
            for field in todo:
                # Asked again, what was typed is the default, as Slack keeps it in the modal.
                answer = self._ask(field, values.get(field.id) or field.initial)
                if answer is _CANCEL:
                    self.note("shell.cancelled")
                    return
                values[field.id] = answer if isinstance(answer, str) else None
            outcome = self.runtime.submit(
                self.user_id, form.callback_id, values, form.metadata, self.channel_id
            )
            if not outcome.errors:
                self.show(outcome)
                return
            for field_id, message in outcome.errors.items():
                # A message of several lines (one per bad promise line) stays under its field.
                shown = self._text(message).replace("\n", "\n    ")
                self.say(f"  ✗ {self._label(form, field_id)}: {shown}")
            todo = [f for f in form.fields if f.id in outcome.errors]

    def _ask(self, field: ui.FormField, default: str | None) -> str | object | None:
        mark = "*" if field.required else self.t("shell.optional")
        self.say(f"{self._text(field.label)}{mark}")
        if field.hint:
            self.say(f"  ({self._text(field.hint)})")
        for number, (_value, label) in enumerate(field.options, 1):
            self.say(f"  [{number}] {self._text(label)}")
        if default:
            self.note("shell.default", value=self._default_shown(field, default), indent="  ")
        answer = self._read_field(field)
        if answer is None or answer.strip() == ":cancel":
            return _CANCEL
        answer = answer.strip() or (default or "")
        return self._field_value(field, answer) or None

    def _default_shown(self, field: ui.FormField, default: str) -> str:
        """A default as the form shows it: a choice by its label, a person as @name."""
        if field.kind == ui.FieldKind.SELECT:
            label = next((label for value, label in field.options if value == default), default)
            return self._text(label)
        if field.kind == ui.FieldKind.USER:
            return "@" + self._name(default)
        return self._text(default)

    def _read_field(self, field: ui.FormField) -> str | None:
        if field.kind != ui.FieldKind.MULTILINE:
            return self._read("  > ")
        self.note("shell.multiline", indent="  ")
        lines: list[str] = []
        while (line := self._read("  | ")) is not None and line.strip() != ".":
            if line.strip() == ":cancel":
                return line
            lines.append(line)
        return "\n".join(lines)

    def _field_value(self, field: ui.FormField, answer: str) -> str:
        if field.kind == ui.FieldKind.USER:
            return self.resolve(answer) or answer
        if field.kind == ui.FieldKind.SELECT and answer.isdigit():
            index = int(answer) - 1
            if 0 <= index < len(field.options):
                return field.options[index][0]
        return answer

    # ---- output ---------------------------------------------------------------------------

    def show(self, outcome: ui.Outcome) -> None:
        if outcome.replace_original:
            self.note("shell.updated")
            self.render(outcome.replace_original)
        if outcome.reply:
            self.render(outcome.reply)
        if outcome.form:
            self.fill(outcome.form)

    def deliver(self, to: str, message: ui.Message) -> None:
        """A DM or channel post the bot sends, shown with who it is for."""
        person = self.runtime.directory.kind(to) is AddressKind.PERSON
        who = f"@{self._name(to)}" if person else f"#{to}"
        self.note("shell.to", who=who)
        self.render(message, indent="  ")

    def render(self, message: ui.Message, indent: str = "") -> None:
        for block in message.blocks or (ui.Section(message.text),):
            for text in self._block_lines(block):
                for line in text.splitlines() or [""]:
                    self.say(indent + line)

    def _block_lines(self, block: ui.Block) -> list[str]:
        match block:
            case ui.Header(text):
                return [f"== {self._text(text)} =="]
            case ui.Section(text, fields):
                return [self._text(text), *(f"  {self._text(f)}" for f in fields)]
            case ui.Note(text):
                return [f"  ({self._text(text)})"]
            case ui.Divider():
                return ["-" * 40]
            case ui.Actions(buttons):
                return ["  ".join(f"[{self._button(b)}] {self._text(b.label)}" for b in buttons)]
        return []

    def _button(self, button: ui.Button) -> int:
        number = len(self.buttons) + 1
        self.buttons[number] = button
        return number

    def _text(self, markup: str) -> str:
        return as_text(markup, self._name)

    @property
    def t(self) -> Translator:
        """The catalog in the language of whoever the shell is acting as."""
        with Session(self.runtime.engine) as session:
            person = self._person(session, self.user_id)
        return self.runtime.translator_for(person or Person(user_id=self.user_id))

    def note(self, key: str, indent: str = "", **params: object) -> None:
        self.say(indent + self._text(self.t(key, **params)))

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def _read(self, prompt: str) -> str | None:
        if self.echo:
            line = self.inp.readline()
            if not line:
                return None
            self.say(prompt + line.rstrip("\n"))
            return line.rstrip("\n")
        try:
            return input(prompt)
        except EOFError:
            return None
        except KeyboardInterrupt:  # as in a terminal's shell: the line is dropped, not the shell
            print(file=self.out)
            if self.in_form:
                return ":cancel"
            self.note("shell.interrupted")
            return ""

    # ---- people ---------------------------------------------------------------------------

    def _mentions(self, text: str) -> str:
        """`@aiko` → the neutral mention token, as an adapter hands a picked user to a command.
        Token characters typed are removed first, so only a resolved name becomes a mention."""

        def replace(match: re.Match[str]) -> str:
            user_id = self.resolve(match[1])
            return mention(user_id) if user_id else match[0]

        typed = text.replace(MENTION_OPEN, "").replace(MENTION_CLOSE, "")
        return _AT_NAME.sub(replace, typed)

    def resolve(self, who: str) -> str | None:
        who = who.lstrip("@").strip()
        with Session(self.runtime.engine) as session:
            for person in session.exec(select(Person)).all():
                if who in (person.user_id, person.name) or who.casefold() == person.name.casefold():
                    return person.user_id
        return None

    def _name(self, user_id: str) -> str:
        with Session(self.runtime.engine) as session:
            person = self._person(session, user_id)
        return person.name if person and person.name else user_id

    def _person(self, session: Session, user_id: str) -> Person | None:
        platform = self.runtime.directory.platform
        return get_by_user_id(session=session, user_id=user_id, platform=platform)

    def _label(self, form: ui.Form, field_id: str) -> str:
        return next((self._text(f.label) for f in form.fields if f.id == field_id), field_id)


_CANCEL = object()
