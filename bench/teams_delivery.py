"""Teams delivery benchmark: 2,000 reminders to 200 people through the real outbox path (Teams
rows of the outbox, people and their conversation references in the database, the engine
`kakehashi run` builds: `bot.teams_outbox.teams_delivery_from`, Adaptive Cards, tokens from
the fake issuer) to the fake Bot Connector, at Teams' limits (50 calls a second per tenant, 7 a
second per conversation).

`python -m bench.teams_delivery [DATABASE_URL] [PEOPLE] [grouped|interleaved]`: prints the time
taken, the floor Teams' limits allow (the posts and the personal chats created, at 50 a second)
and their ratio, and checks that each message reached the connector once. `grouped` (the
default) writes each person's ten reminders one after the other, the order that a
one-at-a-time engine without turns between recipients serializes.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import Engine

from bot.settings import load_settings
from bot.teams_outbox import KEY_FIELD, teams_delivery_from
from commands.ui import Message, message_to_json
from storage.db import make_engine, session_scope, upgrade
from storage.outbox import OutboxStatus, enqueue_new
from storage.people import Person
from testkit.fake_teams import TENANT_ID, FakeTeams, start_fake_teams

EACH, TENANT_RATE = 10, 50


def seed(engine: Engine, teams: FakeTeams, people: int) -> list[str]:
    """Teams people as the handlers store them, met in a channel: their personal chats are
    created at the first DM."""
    keys = [str(uuid.uuid4()) for _ in range(people)]
    with session_scope(engine) as session:
        for aad in keys:
            ref = {
                "serviceUrl": teams.url,
                "conversation": {
                    "id": "19:bench@thread.tacv2",
                    "conversationType": "channel",
                    "tenantId": TENANT_ID,
                },
                "user": {"id": f"29:{aad}", "aadObjectId": aad, "name": aad[:4]},
            }
            session.add(Person(platform="teams", user_id=aad, name=aad[:4], delivery_ref=ref))
    return keys


def enqueue(engine: Engine, people: list[str], run: str, grouped: bool) -> None:
    order = (
        [(p, n) for p in people for n in range(EACH)]
        if grouped
        else [(p, n) for n in range(EACH) for p in people]
    )
    payload = message_to_json(Message.plain("reminder"))
    messages = {
        f"bench:{run}:{p}:{n}": (p, {**payload, "text": f"{run}:{p}:{n}"}) for p, n in order
    }
    with session_scope(engine) as session:
        enqueue_new(
            session=session,
            kind="bench",
            messages=messages,
            at=datetime.now(UTC),
            platforms=dict.fromkeys(messages, "teams"),
        )


def pending(engine: Engine, run: str) -> int:
    with engine.connect() as connection:
        count: int = connection.exec_driver_sql(
            "SELECT count(*) FROM outbox WHERE status = %s AND key LIKE %s"
            if engine.dialect.name == "postgresql"
            else "SELECT count(*) FROM outbox WHERE status = ? AND key LIKE ?",
            (OutboxStatus.PENDING.value, f"bench:{run}:%"),
        ).scalar_one()
    return count


def main(url: str, people: int, grouped: bool) -> int:
    engine = make_engine(url)
    upgrade(engine)
    teams, server = start_fake_teams()
    settings = load_settings(_env_file=None, DATABASE_URL=url, **teams.settings())
    run = f"{time.time_ns()}"
    enqueue(engine, seed(engine, teams, people), run, grouped)
    delivery = teams_delivery_from(settings, engine)
    started = time.monotonic()
    while pending(engine, run):
        delivery.sweep(datetime.now(UTC))
    took = time.monotonic() - started
    floor = (people * EACH + people) / TENANT_RATE
    copies = Counter(
        str(a["channelData"][KEY_FIELD]) for a in teams.activities if KEY_FIELD in a["channelData"]
    )
    once = len(copies) == people * EACH and set(copies.values()) == {1}
    print(
        f"{engine.dialect.name} ({'grouped' if grouped else 'interleaved'}): {people * EACH} "
        f"messages to {people} people in {took:.1f} s; floor {floor:.1f} s; "
        f"{took / floor:.2f}x; each once: {once}"
    )
    server.shutdown()
    return 0 if once else 1


if __name__ == "__main__":
    default = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    args = sys.argv[1:]
    sys.exit(
        main(
            args[0] if args and args[0] else default,
            int(args[1]) if len(args) > 1 else 200,
            (args[2] if len(args) > 2 else "grouped") == "grouped",
        )
    )
