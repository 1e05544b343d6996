"""Teams delivery benchmark: 2,000 reminders to 200 people through the fake Bot Connector at
Teams' limits (50 calls a second per tenant, 7 a second per conversation), one database.

`python -m bench.teams_delivery [DATABASE_URL]`: prints the time taken, the floor Teams' limits
allow (2,000 posts and 200 personal chats created at 50 a second) and their ratio, and checks
that each message reached the connector once.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime

from bot.teams_transport import ConversationRef, Limits, TeamsTransport
from commands.context import SystemClock
from commands.ui import Message, Section, message_to_json
from jobs.delivery import Delivery, Pacer
from storage.db import make_engine, session_scope, upgrade
from storage.outbox import OutboxStatus, enqueue_new
from tests.fake_teams import TENANT_ID, start_fake_teams

PEOPLE, EACH, TENANT_RATE = int(sys.argv[2]) if len(sys.argv) > 2 else 200, 10, 50


def main(url: str) -> int:
    engine = make_engine(url)
    upgrade(engine)
    teams, server = start_fake_teams()
    refs = {
        f"aad:{p}": ConversationRef(service_url=teams.url, tenant_id=TENANT_ID, user_id=f"29:{p}")
        for p in range(PEOPLE)
    }
    run = f"{time.time_ns()}"
    payload = message_to_json(Message(text="reminder", blocks=(Section("reminder"),)))
    with session_scope(engine) as session:
        messages = {
            f"bench:{run}:{p}:{n}": (f"aad:{p}", {**payload, "text": f"{run}:{p}:{n}"})
            for n in range(EACH)  # as a sweep writes them: everyone's first reminder, then …
            for p in range(PEOPLE)
        }
        enqueue_new(session=session, kind="bench", messages=messages, at=datetime.now(UTC))
    transport = TeamsTransport(None, refs.get, limits=Limits(), journal=engine)
    delivery = Delivery(
        engine=engine,
        transport=transport,
        clock=SystemClock(),
        pacer=Pacer(per_channel=1 / 7, per_second=TENANT_RATE),
    )
    started = time.monotonic()
    while True:
        delivery.sweep(datetime.now(UTC))
        with engine.connect() as connection:
            left = connection.exec_driver_sql(
                "SELECT count(*) FROM outbox WHERE status = %s AND key LIKE %s"
                if engine.dialect.name == "postgresql"
                else "SELECT count(*) FROM outbox WHERE status = ? AND key LIKE ?",
                (OutboxStatus.PENDING.value, f"bench:{run}:%"),
            ).scalar_one()
        if not left:
            break
    took = time.monotonic() - started
    floor = (PEOPLE * EACH + PEOPLE) / TENANT_RATE
    copies = Counter(a["text"] for a in teams.activities if str(a["text"]).startswith(run))
    once = len(copies) == PEOPLE * EACH and set(copies.values()) == {1}
    print(
        f"{engine.dialect.name}: {PEOPLE * EACH} messages to {PEOPLE} people in {took:.1f} s; "
        f"floor {floor:.1f} s; {took / floor:.2f}x; each once: {once}"
    )
    server.shutdown()
    return 0 if once else 1


if __name__ == "__main__":
    default = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
