"""State machines declared as data.

A machine is a table of transitions: each names the action that fires it, the states it may
start from, the state it leads to, and who may fire it. Nothing here knows about Django: the
table is checked here, and the caller writes the change (with a conditional update) and the
event. Keeping the guard in the table means every caller — page, API, protocol message, timer —
passes through the same check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


class TransitionError(Exception):
    """Base class of every refusal to change state."""


class TransitionNotAllowed(TransitionError):
    """The action does not exist or cannot start from the current state."""

    def __init__(self, machine: str, state: str, action: str) -> None:
        super().__init__(f"{machine}: action {action!r} is not allowed in state {state!r}")
        self.machine = machine
        self.state = state
        self.action = action


class TransitionConflict(TransitionError):
    """Someone else changed the state first; the action was not applied."""


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str
    # Who may fire it: names of actor kinds the caller resolves (e.g. "reader", "staff",
    # "system"). The machine only checks membership; what each kind means lives with the caller.
    actors: frozenset[str]
    # The target may equal a source (e.g. re-routing to the next supplier): still an event.


@dataclass
class StateMachine:
    name: str
    states: tuple[str, ...]
    initial: str
    final: frozenset[str]
    transitions: tuple[Transition, ...]
    _by_action: dict[str, Transition] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        known = set(self.states)
        self._by_action = {}
        if self.initial not in known:
            raise ValueError(f"{self.name}: initial state {self.initial!r} is not declared")
        for t in self.transitions:
            if t.action in self._by_action:
                raise ValueError(f"{self.name}: action {t.action!r} is declared twice")
            unknown = (set(t.sources) | {t.target}) - known
            if unknown:
                raise ValueError(f"{self.name}: {t.action!r} uses undeclared states {unknown}")
            if set(t.sources) & self.final:
                raise ValueError(f"{self.name}: {t.action!r} starts from a final state")
            self._by_action[t.action] = t

    def transition(self, state: str, action: str) -> Transition:
        t = self._by_action.get(action)
        if t is None or state not in t.sources:
            raise TransitionNotAllowed(self.name, state, action)
        return t

    def allows(self, state: str, action: str) -> bool:
        t = self._by_action.get(action)
        return t is not None and state in t.sources

    def actions_from(self, state: str, actor_kinds: Iterable[str] | None = None) -> list[str]:
        """Actions that can start from `state`; with `actor_kinds`, only those they may fire."""
        kinds = None if actor_kinds is None else set(actor_kinds)
        return [
            t.action
            for t in self.transitions
            if state in t.sources and (kinds is None or kinds & t.actors)
        ]

    def is_final(self, state: str) -> bool:
        return state in self.final


def table(*rows: tuple[str, Iterable[str], str, Iterable[str]]) -> tuple[Transition, ...]:
    """Build transitions from compact rows: (action, sources, target, actors)."""
    return tuple(
        Transition(action=a, sources=frozenset(s), target=t, actors=frozenset(who))
        for a, s, t, who in rows
    )
