"""Roles everywhere (PRODUCT §11): one table says who may do what; every listener the adapters
register is in it; every privileged listener refuses everyone else through the real Slack entry
points, names who may, records the refusal and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.runtime import Runtime
from bot.slack import build_app
from commands.policy import LISTENERS, Permission, guard, may
from commands.registry import build_registry
from commands.reminders.dm import Action
from storage.accounts import Account
from storage.audit import AuditEntry
from storage.db import session_scope
from storage.handoffs import Handoff
from storage.people import Person, Role
from storage.promises import Promise
from storage.reminders import Reminder, ReminderItem, ReminderKind, ReminderStatus
from testkit.fake_slack import FakeSlack
from testkit.signing import block_actions_body, slash_command_body
from tests.conftest import NOW, SlackServer
from tests.metrics_data import build_world

ROLES = [None, Role.SALES, Role.CS, Role.SUPPORT, Role.MANAGER]

# Permission → (allowed to its owner, allowed to someone else), for each role in ROLES order.
# "Owner" is whoever the data makes responsible: the account's owners, the promise's keeper or
# maker, the handoff's CS owner, the reminder's recipient, the agenda's subscriber.
ANYONE = [(True, True)] * 5
OWNERS_OR_MANAGERS = [(True, False)] * 4 + [(True, True)]
MANAGERS = [(False, False)] * 4 + [(True, True)]
EXPECTED: dict[Permission, list[tuple[bool, bool]]] = {
    Permission.LOOK_UP: ANYONE,
    Permission.RECORD: ANYONE,
    Permission.SET_ROLE: MANAGERS,
    Permission.VIEW_PORTFOLIO: MANAGERS,
    Permission.REASSIGN_CS_OWNER: MANAGERS,
    Permission.CHANGE_ACCOUNT: OWNERS_OR_MANAGERS,
    Permission.ACCEPT_HANDOFF: OWNERS_OR_MANAGERS,
    Permission.CLOSE_PROMISE: OWNERS_OR_MANAGERS,
    Permission.ACT_ON_REMINDER: OWNERS_OR_MANAGERS,
    Permission.MANAGE_SYNC: OWNERS_OR_MANAGERS,
}


def test_the_table_covers_every_permission() -> None:
    assert set(EXPECTED) == set(Permission)


@pytest.mark.parametrize("permission", list(Permission))
@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "no-role")
def test_every_permission_for_every_role(permission: Permission, role: Role | None) -> None:
    actor = Person(id=1, user_id="U1", role=role.value if role else None)
    as_owner, as_other = EXPECTED[permission][ROLES.index(role)]
    assert may(actor, permission, owners=(1, None)) is as_owner
    assert may(actor, permission, owners=(2,)) is as_other


def test_an_agenda_nobody_owns_yet_may_be_set_up_by_anyone() -> None:
    for role in ROLES:
        actor = Person(id=1, user_id="U1", role=role.value if role else None)
        assert may(actor, Permission.MANAGE_SYNC, owners=())
        assert may(actor, Permission.MANAGE_SYNC, owners=(None,))


def _bolt_listeners(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> tuple[set[str], int]:
    """What `build_app` registers on the Bolt app: `/command`s, action ids, view callback ids,
    event types; and how many listeners the app ended up with."""
    seen: set[str] = set()

    def spy(kind: str) -> Callable[..., Any]:
        original = getattr(AsyncApp, kind)

        def register(self: AsyncApp, constraint: Any, *args: Any, **kwargs: Any) -> Any:
            seen.add(str(constraint))
            return original(self, constraint, *args, **kwargs)

        return register

    for kind in ("command", "action", "view", "event", "shortcut", "options", "message"):
        monkeypatch.setattr(AsyncApp, kind, spy(kind))
    app = build_app(runtime, AsyncWebClient(token="xoxb-test"))
    return seen, len(app._async_listeners)


def test_every_registered_listener_is_in_the_policy_table(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = build_registry()
    registered = {f"/{name}" for name in registry.commands}
    registered |= {str(a) for a in registry.actions} | {str(f) for f in registry.forms}
    bolt, count = _bolt_listeners(runtime, monkeypatch)
    assert count == len(bolt), "a listener was registered some other way"
    missing = (registered | bolt) - set(LISTENERS)
    assert not missing, f"not in commands.policy.LISTENERS: {sorted(missing)}"
    stale = set(LISTENERS) - (registered | bolt)
    assert not stale, f"in the policy table but not registered: {sorted(stale)}"


# ---- every privileged listener, for every role, through signed Slack requests -------------


@dataclass(frozen=True)
class Case:
    name: str
    permission: Permission
    allowed: frozenset[str]
    """Slack user IDs that may (the rest are refused)."""
    send: Callable[[SlackServer, str, dict[str, int]], Any]
    """Sends the request as the given user; returns the response URL the reply goes to."""
    state: Callable[[Session, dict[str, int]], object]
    """What must not change when the request is refused."""


def _command(name: str, text: Callable[[dict[str, int]], str]) -> Any:
    async def send(server: SlackServer, user_id: str, ids: dict[str, int]) -> str:
        url = server.slack.new_response_url()
        await server.post(slash_command_body(name, text(ids), user_id, response_url=url))
        return url

    return send


def _button(action_id: str, value: Callable[[dict[str, int]], str]) -> Any:
    async def send(server: SlackServer, user_id: str, ids: dict[str, int]) -> str:
        url = server.slack.new_response_url()
        await server.post(block_actions_body(user_id, action_id, value(ids), response_url=url))
        return url

    return send


def _role(session: Session, user_id: str) -> object:
    return session.exec(select(Person.role).where(Person.user_id == user_id)).first()


PEOPLE = ["UNOROLE", "USALES", "UCS", "UCS2", "USUPPORT", "UMANAGER"]
CASES = [
    Case(
        "role change",
        Permission.SET_ROLE,
        frozenset({"UMANAGER"}),
        _command("/kakehashi", lambda ids: "role <@UNOROLE|taro> support"),
        lambda s, ids: _role(s, "UNOROLE"),
    ),
    Case(
        "portfolio",
        Permission.VIEW_PORTFOLIO,
        frozenset({"UMANAGER"}),
        _command("/portfolio", lambda ids: ""),
        lambda s, ids: None,
    ),
    Case(
        "new CS owner",
        Permission.REASSIGN_CS_OWNER,
        frozenset({"UMANAGER"}),
        _command("/account", lambda ids: "Alpha owner <@UCS2|ben>"),
        lambda s, ids: s.get(Account, ids["Alpha"]).cs_owner_id,  # type: ignore[union-attr]
    ),
    Case(
        "stage change",
        Permission.CHANGE_ACCOUNT,
        frozenset({"UCS", "UMANAGER"}),  # Alpha's CS owner (it has no sales owner)
        _command("/account", lambda ids: "Alpha stage at_risk"),
        lambda s, ids: s.get(Account, ids["Alpha"]).stage,  # type: ignore[union-attr]
    ),
    Case(
        "accept a handoff",
        Permission.ACCEPT_HANDOFF,
        frozenset({"UCS", "UMANAGER"}),
        _button("handoff_accept", lambda ids: str(ids["H1"])),
        lambda s, ids: s.get(Handoff, ids["H1"]).status,  # type: ignore[union-attr]
    ),
    Case(
        "close a promise",
        Permission.CLOSE_PROMISE,
        frozenset({"UCS", "USALES", "UMANAGER"}),  # keeper, maker, manager
        _command("/promise", lambda ids: f"kept P-{ids['P1']}"),
        lambda s, ids: s.get(Promise, ids["P1"]).status,  # type: ignore[union-attr]
    ),
    Case(
        "handle a reminder",
        Permission.ACT_ON_REMINDER,
        frozenset({"UCS", "UMANAGER"}),
        _button(Action.DONE, lambda ids: str(ids["item"])),
        lambda s, ids: s.get(Reminder, ids["reminder"]).status,  # type: ignore[union-attr]
    ),
]


def _setup(engine: Engine, slack: FakeSlack) -> dict[str, int]:
    slack.add_user("USUPPORT", name="sara", locale="en-US")
    slack.add_user("UNOROLE", name="taro", locale="en-US")
    with session_scope(engine) as session:
        world = build_world(session)
        session.add(Person(user_id="USUPPORT", role=Role.SUPPORT.value))
        session.add(Person(user_id="UNOROLE"))
        reminder = Reminder(
            key="promise:p1",
            kind=ReminderKind.PROMISE.value,
            person_id=world.aiko.id or 0,
            account_id=world.accounts["Alpha"].id,
            promise_id=world.promise_ids["P1"],
            status=ReminderStatus.SENT.value,
            sent_at=NOW,
        )
        session.add(reminder)
        session.flush()
        item = ReminderItem(message_key="reminder:UCS:1", reminder_id=reminder.id or 0)
        session.add(item)
        session.flush()
        return {
            "Alpha": world.accounts["Alpha"].id or 0,
            "H1": world.handoff_ids["H1"],
            "P1": world.promise_ids["P1"],
            "reminder": reminder.id or 0,
            "item": item.id or 0,
        }


def _refusals(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == "refused")).all())


def _reply_text(reply: dict[str, Any]) -> str:
    blocks = reply.get("blocks") or []
    return "\n".join(b.get("text", {}).get("text", "") for b in blocks) or reply.get("text", "")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_privileged_listeners_for_every_role(
    case: Case, server: SlackServer, engine: Engine, slack: FakeSlack
) -> None:
    ids = _setup(engine, slack)
    with Session(engine) as session:
        before = case.state(session, ids)
    # The refused first, then the allowed: an allowed request may change the state.
    for user_id in sorted(PEOPLE, key=lambda u: u in case.allowed):
        refused_before = len(_refusals(engine))
        url = await case.send(server, user_id, ids)
        text = _reply_text(await server.reply_to(url))
        refusals = _refusals(engine)
        if user_id in case.allowed:
            assert len(refusals) == refused_before, (case.name, user_id, text)
            continue
        assert "<@UMANAGER>" in text, (case.name, user_id, text)  # who may, by name
        assert len(refusals) == refused_before + 1, (case.name, user_id)
        entry = refusals[-1]
        assert entry.changes["permission"] == case.permission.value
        with Session(engine) as session:
            actor = session.get(Person, entry.actor_id)
            assert actor is not None and actor.user_id == user_id
            assert case.state(session, ids) == before, (case.name, user_id)
    assert server.slack.rejections == []


def test_the_runtime_refuses_a_managers_only_listener_before_it_runs(runtime: Runtime) -> None:
    outcome = runtime.run_command("USALES", "portfolio", "help")
    assert outcome.reply is not None and "Only managers" in outcome.reply.text
    with runtime.session() as session:
        ctx = runtime.context(session, "UMANAGER")
        assert guard(ctx, "/portfolio") is None
