"""Where the outbox's Teams rows go: a stored conversation reference (as the handlers keep it)
read for the transport, and what reaches no one."""

from __future__ import annotations

from typing import Any

import pytest

from bot.teams_outbox import reference_from
from bot.teams_transport import ConversationRef


@pytest.mark.parametrize(
    "stored",
    [
        None,
        {},
        {"serviceUrl": None, "conversation": {"id": "a:1", "conversationType": "personal"}},
        {"serviceUrl": "https://smba.test", "conversation": {"conversationType": "channel"}},
        {"serviceUrl": "https://smba.test", "conversation": "not a dict", "user": ["x"]},
        {"serviceUrl": "http://smba.evil.test", "user": {"id": "29:x"}},  # the token in clear
        {"serviceUrl": "file:///etc/passwd", "user": {"id": "29:x"}},
        {"serviceUrl": ["https://smba.test"], "user": {"id": "29:x"}},
    ],
)
def test_a_missing_or_malformed_reference_reaches_no_one(stored: dict[str, Any] | None) -> None:
    assert reference_from(stored, person=True) is None


def test_a_person_met_only_in_a_channel_is_reached_by_a_new_personal_chat() -> None:
    stored = {
        "serviceUrl": "https://smba.test/",
        "conversation": {"id": "19:c;messageid=1", "conversationType": "channel", "tenantId": "t"},
        "user": {"id": "29:abc", "aadObjectId": "guid"},
    }
    person = reference_from(stored, person=True)
    channel = reference_from(stored, person=False)
    assert person == ConversationRef("https://smba.test", "t", None, "29:abc")
    assert channel is not None and channel.conversation_id == "19:c"
