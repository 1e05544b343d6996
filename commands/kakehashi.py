"""`/kakehashi help` and `/kakehashi role @person ROLE`."""

from __future__ import annotations

from dataclasses import dataclass

from commands.context import Context
from commands.markup import MENTIONED
from commands.policy import Permission, may, refuse
from commands.registry import CommandSpec
from commands.text import fold, is_help, mention
from commands.ui import Header, Message, Outcome, Section
from storage import people
from storage.people import Role

ROLE_WORDS = {
    "sales": Role.SALES,
    "営業": Role.SALES,
    "cs": Role.CS,
    "カスタマーサクセス": Role.CS,
    "support": Role.SUPPORT,
    "サポート": Role.SUPPORT,
    "manager": Role.MANAGER,
    "マネージャー": Role.MANAGER,
    "マネージャ": Role.MANAGER,
}


@dataclass(frozen=True)
class RoleRequest:
    user_id: str
    role: Role


def parse_role(text: str) -> RoleRequest | str:
    """`@person ROLE` → a request, or the message key of what is wrong."""
    words = text.split()
    if len(words) != 2:
        return "role.usage"
    match = MENTIONED.fullmatch(words[0])
    if not match:
        return "role.need_mention"
    role = ROLE_WORDS.get(fold(words[1]))
    if role is None:
        return "role.unknown_role"
    return RoleRequest(user_id=match[1], role=role)


def run(ctx: Context, text: str) -> Outcome:
    words = text.split(maxsplit=1)
    if not words or is_help(text):
        return Outcome(reply=help_message(ctx))
    sub = fold(words[0])
    if sub == "role":
        return change_role(ctx, words[1] if len(words) > 1 else "")
    return Outcome(reply=Message.plain(ctx.t("kakehashi.usage")))


def help_message(ctx: Context) -> Message:
    from commands.registry import build_registry

    names = list(build_registry().commands)
    lines = "\n".join(ctx.t(f"help.{name}") for name in names)
    return Message(
        text=ctx.t("help.title"),
        blocks=(Header(ctx.t("help.title")), Section(lines), Section(ctx.t("help.footer"))),
    )


def change_role(ctx: Context, text: str) -> Outcome:
    if not may(ctx.actor, Permission.SET_ROLE):
        return Outcome(reply=Message.plain(refuse(ctx, Permission.SET_ROLE)))
    request = parse_role(text)
    if isinstance(request, str):
        said = ctx.t(request, text=text)
        usage = "" if request == "role.usage" else "\n" + ctx.t("role.usage")
        return Outcome(reply=Message.plain(said + usage))
    profile = ctx.directory.lookup(request.user_id)
    if profile is None or profile.deleted:
        return Outcome(
            reply=Message.plain(ctx.t("role.unknown_person", who=mention(request.user_id)))
        )
    if profile.is_bot:
        return Outcome(reply=Message.plain(ctx.t("role.bot", who=mention(request.user_id))))
    target = people.get_or_create(
        session=ctx.session, user_id=request.user_id, platform=ctx.directory.platform
    )
    if target.id == ctx.actor.id and request.role != Role.MANAGER and _last_manager(ctx):
        return Outcome(reply=Message.plain(ctx.t("role.last_manager")))
    changed = people.set_role(
        session=ctx.session, person=target, role=request.role, actor=ctx.actor, at=ctx.now
    )
    key = "role.changed" if changed else "role.unchanged"
    return Outcome(
        reply=Message.plain(
            ctx.t(key, who=mention(target.user_id), role=ctx.t(f"role.name.{request.role.value}"))
        )
    )


def _last_manager(ctx: Context) -> bool:
    return len(people.managers(session=ctx.session)) <= 1


SPEC = CommandSpec(name="kakehashi", run=run)
