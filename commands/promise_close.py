"""Closing a promise (kept, broken, waived, withdrawn), from `/promise` and from a reminder's
**Kept**: a compare-and-set, so of two closings at once one wins and the other is told."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from commands.context import Context
from commands.policy import Permission, may, refuse
from commands.promise_grammar import (
    next_occurrence,
)
from commands.text import Safe, clip, mention
from storage import people, promises
from storage.accounts import Account
from storage.promises import Promise, PromiseStatus, Recurrence

LINE_TEXT = 150


class Verdict(StrEnum):
    KEPT = "kept"
    BROKEN = "broken"
    WAIVE = "waive"


def today(ctx: Context) -> date:
    """The day it is where the person is: a promise due today is not overdue in Tokyo at 8am."""
    return ctx.now.astimezone(ctx.t.zone).date()


def number(promise: Promise) -> str:
    return f"P-{promise.id}"


def _user_id(ctx: Context, person_id: int | None) -> str | None:
    if person_id is None:
        return None
    return people.user_ids(session=ctx.session, person_ids={person_id}).get(person_id)


def close_promise(ctx: Context, promise_id: int, outcome: Verdict, note: str | None) -> Safe:
    promise = promises.get(session=ctx.session, promise_id=promise_id)
    if promise is None:
        return ctx.t("promise.close.unknown", number=f"P-{promise_id}")
    account = ctx.session.get(Account, promise.account_id)
    assert account is not None
    owners = (account.cs_owner_id, promise.owner_id, promise.promised_by_id)
    if not may(ctx.actor, Permission.CLOSE_PROMISE, owners=owners):
        return refuse(ctx, Permission.CLOSE_PROMISE, owners=owners, about=f"promise:{promise.id}")
    if promise.status != PromiseStatus.OPEN.value:
        return _already_closed(ctx, promise)
    if outcome == Verdict.KEPT and promise.recurrence:
        return _keep_occurrence(ctx, promise, Recurrence(promise.recurrence), account, note)
    status = {
        Verdict.KEPT: PromiseStatus.KEPT,
        Verdict.BROKEN: PromiseStatus.BROKEN,
        Verdict.WAIVE: PromiseStatus.WAIVED,
    }[outcome]
    if not promises.close(
        session=ctx.session, promise=promise, status=status, note=note, actor=ctx.actor, at=ctx.now
    ):
        return _already_closed(ctx, promise)
    return ctx.t(
        f"promise.closed.{status.value}",
        number=number(promise),
        account=account.name,
        text=clip(promise.text, LINE_TEXT),
    )


def _keep_occurrence(
    ctx: Context, promise: Promise, recurrence: Recurrence, account: Account, note: str | None
) -> Safe:
    if (already := _occurrence_already_kept(ctx, promise)) is not None:
        return already
    first = promises.first_due_date(session=ctx.session, promise=promise)
    due = promise.due_date or today(ctx)
    following = next_occurrence(due, recurrence, anchor_day=first.day if first else None)
    if not promises.keep_occurrence(
        session=ctx.session,
        promise=promise,
        next_due=following,
        note=note,
        actor=ctx.actor,
        at=ctx.now,
    ):  # kept (or closed) by a press at the same moment
        return _occurrence_already_kept(ctx, promise) or _already_closed(ctx, promise)
    return ctx.t(
        "promise.kept_occurrence",
        number=number(promise),
        account=account.name,
        text=clip(promise.text, LINE_TEXT),
        count=promise.kept_count,
        next=ctx.t.date(following),
    )


def _occurrence_already_kept(ctx: Context, promise: Promise) -> Safe | None:
    """Keeping applies to the occurrence that is due: once one is kept, the next can be kept
    only after the kept one's day has passed, so a second press (or a second `/promise kept`)
    does not count the next occurrence too. None when the current occurrence may be kept."""
    if promise.status != PromiseStatus.OPEN.value:
        return None
    last = promises.last_kept_occurrence(session=ctx.session, promise=promise)
    kept_due = (last.changes.get("due_date") or [None])[0] if last else None
    if last is None or not isinstance(kept_due, str) or date.fromisoformat(kept_due) < today(ctx):
        return None
    by = _user_id(ctx, last.actor_id)
    return ctx.t(
        "promise.already.kept_occurrence",
        number=number(promise),
        due=ctx.t.date(date.fromisoformat(kept_due)),
        who=mention(by) if by else ctx.t("promise.nobody"),
        when=ctx.t.datetime(last.at),
        next=ctx.t.date(promise.due_date) if promise.due_date else "",
    )


def _already_closed(ctx: Context, promise: Promise) -> Safe:
    by = _user_id(ctx, promise.closed_by_id)
    return ctx.t(
        f"promise.already.{promise.status}",
        number=number(promise),
        who=mention(by) if by else ctx.t("promise.nobody"),
        when=ctx.t.datetime(promise.closed_at) if promise.closed_at else "",
    )
