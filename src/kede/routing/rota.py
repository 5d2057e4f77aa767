"""The rota: which supplier a request goes to next, and when to give up on one. Pure: no Django.

A request's rota is an ordered tuple of supplier ids (the ranking's order, which borrowing
staff may edit and the centre may override). The request goes to the first; on an Unfilled
answer, on a conditional answer the requester rejects, or on no answer within the supplier's
stated response time, it goes to the next one not yet tried; after the last it ends with the
centre's proxy-search team (代查代检) or, where the centre offers none, as unfilled — with every
supplier's reason either way.

`next_step(state, event)` is a pure function of its inputs: it reads no clock and keeps no
memory, so two workers handling the same timer compute the same result, and a second delivery
of an event that was already applied finds nothing to do. The caller writes the new state with
a conditional update on `RotaState.version`; whoever loses that race re-reads and re-applies,
and gets a no-op.

Response times are business days by the supplier's own calendar (its open weekdays and its
declared closed days): a request sent on Friday to a library that answers within two business
days and is closed on Monday is due at the end of Wednesday.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

WEEKDAYS = frozenset(range(5))  # Monday to Friday
DEFAULT_RESPONSE_DAYS = 2


class RotaError(ValueError):
    """The rota or an event is malformed (a bug in the caller, not a supplier's failure)."""


class Outcome(StrEnum):
    """How one supplier's attempt ended (or that it has not yet)."""

    PENDING = "pending"
    FILLED = "filled"
    UNFILLED = "unfilled"
    REJECTED_CONDITION = "rejected_condition"
    TIMED_OUT = "timed_out"


class Status(StrEnum):
    """Where the request stands in its rota."""

    NEW = "new"
    SOURCING = "sourcing"
    FILLED = "filled"
    PROXY_SEARCH = "proxy_search"
    UNFILLED = "unfilled"


FINAL = frozenset({Status.FILLED, Status.PROXY_SEARCH, Status.UNFILLED})
ANSWERS = frozenset({Outcome.FILLED, Outcome.UNFILLED, Outcome.REJECTED_CONDITION})


@dataclass(frozen=True, slots=True)
class Calendar:
    """When a supplier works, and how many of its working days it takes to answer.

    Weekly closed weekdays do not keep a supplier out of a rota (nearly everyone is closed on
    Sunday; the clock simply stops), but declared closed days do on the day itself
    (`kede.routing.policy.eligible`)."""

    open_weekdays: frozenset[int] = WEEKDAYS
    closed_dates: frozenset[datetime.date] = frozenset()
    response_days: int = DEFAULT_RESPONSE_DAYS

    def __post_init__(self) -> None:
        if not self.open_weekdays or not self.open_weekdays <= frozenset(range(7)):
            raise RotaError(
                f"open_weekdays must be a non-empty set of 0 (Monday) to 6, "
                f"got {sorted(self.open_weekdays)}"
            )
        if isinstance(self.response_days, bool) or not isinstance(self.response_days, int):
            raise RotaError(f"response_days must be a whole number, got {self.response_days!r}")
        if self.response_days < 1:
            raise RotaError(f"response_days must be at least 1, got {self.response_days}")

    def is_open(self, day: datetime.date) -> bool:
        return day.weekday() in self.open_weekdays and day not in self.closed_dates

    def business_day_after(self, day: datetime.date, n: int) -> datetime.date:
        """The n-th open day after `day` (not counting `day` itself)."""
        # Terminates: at least one weekday is open and closed_dates is finite.
        while n > 0:
            day += datetime.timedelta(days=1)
            if self.is_open(day):
                n -= 1
        return day

    def business_days_between(self, start: datetime.date, end: datetime.date) -> int:
        """Open days after `start` up to and including `end` (0 when end <= start)."""
        count, day = 0, start
        while day < end:
            day += datetime.timedelta(days=1)
            count += self.is_open(day)
        return count

    def due_at(self, sent_at: datetime.datetime) -> datetime.datetime:
        """The end of the supplier's `response_days`-th open day after the day it was sent.

        Counting starts the day after sending, so a request sent at 17:55 is not due sooner
        than one sent at 09:00. `sent_at` should be in the supplier's local time (aware or
        naive); the result has the same tzinfo."""
        last = self.business_day_after(sent_at.date(), self.response_days)
        return datetime.datetime.combine(
            last + datetime.timedelta(days=1), datetime.time.min, tzinfo=sent_at.tzinfo
        )


DEFAULT_CALENDAR = Calendar()


@dataclass(frozen=True, slots=True)
class Attempt:
    """One supplier asked once."""

    supplier: str
    sent_at: datetime.datetime
    outcome: Outcome = Outcome.PENDING
    answered_at: datetime.datetime | None = None
    reason: str = ""  # the supplier's words (e.g. "not on shelf"), or ours for a timeout

    def __post_init__(self) -> None:
        # Read back from JSON the outcome is a plain string; the checks compare enum members.
        object.__setattr__(self, "outcome", Outcome(self.outcome))


def is_timed_out(attempt: Attempt, now: datetime.datetime, calendar: Calendar) -> bool:
    """Whether a still-pending attempt is past the supplier's response time."""
    return attempt.outcome is Outcome.PENDING and now >= calendar.due_at(attempt.sent_at)


def business_days_elapsed(
    start: datetime.datetime, end: datetime.datetime, calendar: Calendar
) -> float:
    """Open-day time from `start` to `end`, in days: the measure of a supplier's turnaround, so
    that a weekend or a declared closure does not count against it. 0 when end <= start."""
    total = 0.0
    cursor = start
    while cursor < end:
        day = cursor.date()
        midnight = datetime.datetime.combine(
            day + datetime.timedelta(days=1), datetime.time.min, tzinfo=start.tzinfo
        )
        stop = min(end, midnight)
        if calendar.is_open(day):
            total += (stop - cursor).total_seconds() / 86400.0
        cursor = stop
    return total


@dataclass(frozen=True, slots=True)
class Reason:
    """Why one supplier did not supply (shown to the requesting library at the end)."""

    supplier: str
    outcome: str
    text: str


@dataclass(frozen=True, slots=True)
class RotaState:
    """A request's sourcing, as stored with it. `version` grows by one with every change: the
    Django layer writes a new state only `WHERE version = <the version it read>`."""

    rota: tuple[str, ...]
    attempts: tuple[Attempt, ...] = ()
    status: Status = Status.NEW
    proxy_search: bool = True  # the centre's proxy-search team takes what the rota leaves
    version: int = 0

    def __post_init__(self) -> None:
        _check_rota(self.rota)
        object.__setattr__(self, "status", Status(self.status))

    @property
    def pending(self) -> Attempt | None:
        if self.attempts and self.attempts[-1].outcome is Outcome.PENDING:
            return self.attempts[-1]
        return None

    @property
    def tried(self) -> frozenset[str]:
        return frozenset(a.supplier for a in self.attempts)

    @property
    def remaining(self) -> tuple[str, ...]:
        tried = self.tried
        return tuple(s for s in self.rota if s not in tried)


# Events. Each carries its own time: next_step never reads a clock.


@dataclass(frozen=True, slots=True)
class Start:
    at: datetime.datetime


@dataclass(frozen=True, slots=True)
class Answered:
    """A supplier answered (or, for REJECTED_CONDITION, the requester turned its terms down)."""

    supplier: str
    outcome: Outcome
    at: datetime.datetime
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))


@dataclass(frozen=True, slots=True)
class TimerFired:
    """The timer set when `supplier` was sent the request at `sent_at` went off at `at`."""

    supplier: str
    sent_at: datetime.datetime
    at: datetime.datetime


@dataclass(frozen=True, slots=True)
class RotaEdited:
    """Staff (or the centre, overriding) replaced the rota. Suppliers already tried stay tried;
    the pending attempt, if any, runs its course."""

    rota: tuple[str, ...]
    at: datetime.datetime


Event = Start | Answered | TimerFired | RotaEdited


@dataclass(frozen=True, slots=True)
class Step:
    """What next_step decided. `changed` False means: store nothing, do nothing (`note` says
    why). Otherwise store `state`; if `send_to`, send the request there and set a timer for
    `due_at`; if `ended`, the rota is over (`reasons` lists every supplier's)."""

    state: RotaState
    changed: bool
    send_to: str | None = None
    due_at: datetime.datetime | None = None
    ended: Status | None = None
    reasons: tuple[Reason, ...] = ()
    note: str = ""


def next_step(
    state: RotaState,
    event: Event,
    calendars: Mapping[str, Calendar] | None = None,
) -> Step:
    """Apply one event to a request's rota. Deterministic, and applying an event to the state
    it produced is a no-op (`changed` False), so duplicate timers and messages are harmless.
    `calendars` maps supplier ids to their calendars (missing: Monday to Friday, 2 days)."""
    calendars = calendars or {}
    if isinstance(event, Start):
        if state.status is not Status.NEW:
            return _noop(state, f"already {state.status.value}")
        return _advance(state, event.at, calendars)
    if isinstance(event, RotaEdited):
        return _edit(state, event)
    if state.status is not Status.SOURCING:
        return _noop(state, f"not sourcing (status {state.status.value})")
    pending = state.pending
    if isinstance(event, Answered):
        if event.outcome not in ANSWERS:
            raise RotaError(
                f"an answer must be one of {sorted(o.value for o in ANSWERS)}, "
                f"got {event.outcome!r}"
            )
        if pending is None or pending.supplier != event.supplier:
            return _noop(state, f"not waiting for {event.supplier}")
        closed = replace(pending, outcome=event.outcome, answered_at=event.at, reason=event.reason)
        state = replace(state, attempts=(*state.attempts[:-1], closed))
        if event.outcome is Outcome.FILLED:
            return Step(
                state=replace(state, status=Status.FILLED, version=state.version + 1),
                changed=True,
                ended=Status.FILLED,
            )
        return _advance(state, event.at, calendars)
    if isinstance(event, TimerFired):
        if (
            pending is None
            or pending.supplier != event.supplier
            or pending.sent_at != event.sent_at
        ):
            return _noop(state, f"the attempt at {event.supplier} is no longer pending")
        calendar = calendars.get(pending.supplier, DEFAULT_CALENDAR)
        if not is_timed_out(pending, event.at, calendar):
            return _noop(state, f"not due until {calendar.due_at(pending.sent_at).isoformat()}")
        closed = replace(
            pending,
            outcome=Outcome.TIMED_OUT,
            answered_at=event.at,
            reason=f"no answer within {calendar.response_days} business days",
        )
        state = replace(state, attempts=(*state.attempts[:-1], closed))
        return _advance(state, event.at, calendars)
    raise RotaError(f"unknown event {event!r}")


def reasons(state: RotaState) -> tuple[Reason, ...]:
    """Every supplier's reason so far, in the order they were asked."""
    out = []
    for a in state.attempts:
        if a.outcome is Outcome.PENDING or a.outcome is Outcome.FILLED:
            continue
        text = (
            a.reason
            or {
                Outcome.UNFILLED: "could not supply",
                Outcome.REJECTED_CONDITION: "its conditions were declined",
                Outcome.TIMED_OUT: "no answer in time",
            }[a.outcome]
        )
        out.append(Reason(supplier=a.supplier, outcome=a.outcome.value, text=text))
    if not state.attempts and not state.rota:
        out.append(Reason(supplier="", outcome="no_candidate", text="no library can supply it"))
    return tuple(out)


def _check_rota(rota: tuple[str, ...]) -> None:
    if not isinstance(rota, tuple):
        raise RotaError(f"a rota is a tuple of supplier ids, got {type(rota).__name__}")
    seen: set[str] = set()
    for supplier in rota:
        if not isinstance(supplier, str) or not supplier:
            raise RotaError(f"a rota holds non-empty supplier ids, got {supplier!r}")
        if supplier in seen:
            raise RotaError(f"supplier {supplier!r} appears twice in the rota")
        seen.add(supplier)


def _noop(state: RotaState, note: str) -> Step:
    return Step(state=state, changed=False, note=note)


def _advance(state: RotaState, at: datetime.datetime, calendars: Mapping[str, Calendar]) -> Step:
    remaining = state.remaining
    if remaining:
        supplier = remaining[0]
        calendar = calendars.get(supplier, DEFAULT_CALENDAR)
        return Step(
            state=replace(
                state,
                attempts=(*state.attempts, Attempt(supplier=supplier, sent_at=at)),
                status=Status.SOURCING,
                version=state.version + 1,
            ),
            changed=True,
            send_to=supplier,
            due_at=calendar.due_at(at),
        )
    end = Status.PROXY_SEARCH if state.proxy_search else Status.UNFILLED
    return Step(
        state=replace(state, status=end, version=state.version + 1),
        changed=True,
        ended=end,
        reasons=reasons(state),
    )


def _edit(state: RotaState, event: RotaEdited) -> Step:
    _check_rota(event.rota)
    if state.status in FINAL:
        return _noop(state, f"the rota is over (status {state.status.value})")
    if event.rota == state.rota:
        return _noop(state, "the rota is unchanged")
    return Step(state=replace(state, rota=event.rota, version=state.version + 1), changed=True)
