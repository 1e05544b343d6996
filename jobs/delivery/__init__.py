"""Outbound delivery: the engine that sends what the outbox owes, each message once (`engine`),
the claims it holds on rows (`claims`), and the transport and pacer it sends through
(`transport`)."""

from jobs.delivery.claims import (
    CLAIM_BATCH,
    LEASE,
    Claim,
    due_messages,
    expire_claims,
    failed_messages,
    pid_running,
    this_process,
)
from jobs.delivery.engine import Delivery
from jobs.delivery.transport import (
    DELIVERY_EVENT,
    Landed,
    Pacer,
    PermanentError,
    TransientError,
    Transport,
    unpaced,
)

__all__ = [
    "CLAIM_BATCH",
    "DELIVERY_EVENT",
    "LEASE",
    "Claim",
    "Delivery",
    "Landed",
    "Pacer",
    "PermanentError",
    "TransientError",
    "Transport",
    "due_messages",
    "expire_claims",
    "failed_messages",
    "pid_running",
    "this_process",
    "unpaced",
]
