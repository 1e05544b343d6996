"""`:crm deal-won FILE.json` in the shell: a won deal replayed as the generic webhook would
deliver it (PRODUCT §14), so the CRM flow can be tried without a CRM. The file holds the
webhook's body (version 1); it is stored under an id made of its content, so replaying the same
file changes nothing, and the scheduler's tick then works on it as `run` would."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bot.runtime import Runtime
from commands.crm_deals import read_won_deal
from storage import crm_events
from storage.crm_events import CrmSource
from storage.db import session_scope

MAX_FILE_BYTES = 1_000_000
"""As the webhook endpoint's body."""


def replay_deal_won(runtime: Runtime, path: str) -> tuple[str, dict[str, object]]:
    """Stores the file's won deal; returns the message key for the shell and its parameters."""
    file = Path(path).expanduser()
    try:
        raw = file.read_bytes()[: MAX_FILE_BYTES + 1]
        body = json.loads(raw)
    except OSError as exc:
        return "shell.crm.unreadable", {"path": path, "reason": exc.strerror or str(exc)}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "shell.crm.not_json", {"path": path}
    if len(raw) > MAX_FILE_BYTES:
        return "shell.crm.too_large", {"path": path}
    deal = read_won_deal(body)
    if isinstance(deal, dict):
        problems = "; ".join(f"{field}: {message}" for field, message in deal.items())
        return "shell.crm.invalid", {"problems": problems}
    event_id = "shell-" + hashlib.sha256(raw).hexdigest()[:24]
    with session_scope(runtime.engine) as session:
        new = crm_events.store(
            session=session,
            source=CrmSource.WEBHOOK,
            events=[(event_id, body)],
            at=runtime.clock.now(),
        )
    key = "shell.crm.stored" if new else "shell.crm.again"
    return key, {"deal": deal.deal.name, "account": deal.account.name}
