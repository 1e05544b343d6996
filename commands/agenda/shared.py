"""Readings shared by the agendas of one sweep: each question read once (`SharedReadings`)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlmodel import Session

_T = TypeVar("_T")


class SharedReadings:
    """What agendas composed together read from the database, read once per question.

    A sweep composes the agenda of every channel whose slot has come. Channels that follow the
    same accounts for the same slot (above all, every channel that follows every account) ask
    the same questions — one storage function with the same arguments, the slot's instant and
    local date among them — so the first one reads the answer and the others reuse it. Without
    it the 500 agendas of benchmark 7 take p95 862 ms instead of 37 ms (bench/RESULTS.md).

    A sweep makes its own and drops it when it ends: nothing is reused beyond the seconds a
    sweep takes, and what changes meanwhile (a touch logged, a promise kept) shows from the
    next sweep on. Answers are never changed by their readers (frozen dataclasses and
    tuples)."""

    def __init__(self) -> None:
        self._answers: dict[Hashable, object] = {}

    def answer(self, question: Hashable, read: Callable[[], _T]) -> _T:
        if question not in self._answers:
            self._answers[question] = read()
        return cast(_T, self._answers[question])


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
        return self.shared.answer(_question(question, arguments), read)


def _question(question: Callable[..., Any], arguments: Mapping[str, object]) -> Hashable:
    return (question.__module__, question.__qualname__, *sorted(_hashable(arguments)))


def _hashable(arguments: Mapping[str, object]) -> Iterable[tuple[str, Hashable]]:
    for name, value in arguments.items():
        if isinstance(value, Mapping):
            value = tuple(sorted(value.items()))
        assert isinstance(value, Hashable), name
        yield name, value
