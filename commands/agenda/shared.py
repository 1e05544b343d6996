"""Readings shared by the agendas of one sweep: each question read once, and team lists read per
CS owner and merged per team (`SharedReadings`)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlmodel import Session

from storage import metrics
from storage.agenda import readings as stored

_T = TypeVar("_T")


class SharedReadings:
    """What agendas composed together read from the database, read once per question.

    A sweep composes the agenda of every channel whose slot has come. Channels that follow the
    same accounts for the same slot (above all, every channel that follows every account) ask
    the same questions — one storage function with the same arguments, the slot's instant and
    local date among them — so the first one reads the answer and the others reuse it.

    Teams overlap rather than repeat. Given the `teams` (CS owner ids) the sweep's agendas
    narrow to, when there are different ones, a team's lists and numbers are read for all their
    owners at once, split by owner (the `*_per_owner` functions), then merged for each team
    (`_PER_OWNER`): the first team agenda of a sweep reads, the others only merge. (For a single
    team, splitting would only cost more.)

    A sweep makes its own and drops it when it ends: nothing is reused beyond the seconds a
    sweep takes, and what changes meanwhile (a touch logged, a promise kept) shows from the
    next sweep on. Answers are never changed by their readers (frozen dataclasses and
    tuples)."""

    def __init__(self, teams: Iterable[Iterable[int]] = ()) -> None:
        different = {frozenset(team) for team in teams} - {frozenset()}
        self.owners: frozenset[int] = (
            frozenset().union(*different) if len(different) > 1 else frozenset()
        )
        """Whose lists are read per owner."""
        self._answers: dict[Hashable, object] = {}

    def answer(self, question: Hashable, read: Callable[[], _T]) -> _T:
        if question not in self._answers:
            self._answers[question] = read()
        return cast(_T, self._answers[question])


_PER_OWNER: dict[Callable[..., Any], tuple[Callable[..., Mapping[int, Any]], Callable[..., Any]]]


_PER_OWNER = {
    stored.closures: (stored.closures_per_owner, stored.merge_closures),
    stored.new_handoffs: (stored.new_handoffs_per_owner, metrics.merge_listings),
    metrics.pending_handoffs: (metrics.pending_handoffs_per_owner, metrics.merge_listings),
    metrics.due_promises: (metrics.due_promises_per_owner, metrics.merge_listings),
    metrics.upcoming_renewals: (metrics.upcoming_renewals_per_owner, metrics.merge_listings),
    metrics.silent_accounts: (metrics.silent_accounts_per_owner, metrics.merge_listings),
    metrics.by_stage: (metrics.by_stage_per_owner, metrics.merge_stages),
}
"""The team questions a sweep reads per owner: each with its per-owner form, and how a team's
answer is merged from its owners' (given their answers, and `limit` where the question has
one)."""


@dataclass(frozen=True)
class Reader:
    """Asks storage functions through `shared` when there is one, else straight away."""

    session: Session
    shared: SharedReadings | None

    def __call__(self, question: Callable[..., _T], **arguments: Any) -> _T:
        def read() -> _T:
            return question(session=self.session, **arguments)

        if self.shared is None:
            return read()
        team = arguments.get("owners")
        if team is not None and question in _PER_OWNER and self.shared.owners.issuperset(team):
            return cast(_T, self._merged(self.shared, question, team, arguments))
        return self.shared.answer(_question(question, arguments), read)

    def _merged(
        self,
        shared: SharedReadings,
        question: Callable[..., Any],
        team: Iterable[int],
        arguments: Mapping[str, Any],
    ) -> Any:
        per_owner, merge = _PER_OWNER[question]
        everyone = {**arguments, "owners": tuple(sorted(shared.owners))}
        split = shared.answer(
            _question(per_owner, everyone), lambda: per_owner(session=self.session, **everyone)
        )
        limit = {"limit": arguments["limit"]} if "limit" in arguments else {}
        return merge([split[owner] for owner in team if owner in split], **limit)


def _question(question: Callable[..., Any], arguments: Mapping[str, object]) -> Hashable:
    return (question.__module__, question.__qualname__, *sorted(_hashable(arguments)))


def _hashable(arguments: Mapping[str, object]) -> Iterable[tuple[str, Hashable]]:
    for name, value in arguments.items():
        if isinstance(value, Mapping):
            value = tuple(sorted(value.items()))
        assert isinstance(value, Hashable), name
        yield name, value
