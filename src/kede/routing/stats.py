"""What completed attempts teach about a supplier. Pure: no Django.

The centre keeps one `SupplierStats` per supplier and service type: a handful of counts, each
updated by `observe` when an attempt ends. The estimates the ranking uses are posterior means
under a `Prior`, so a supplier with no history gets exactly the prior — set it to the network's
average (`pooled_prior`) and a new member is neither favoured over proven suppliers nor shut
out behind them; a few answers later its own record speaks.

With `decay` < 1 every observation first shrinks the old counts, so a supplier that changed
(new staff, a move, a digitisation project) is judged by what it does now; the prior never
decays, so a long-silent supplier drifts back to the average rather than to zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from kede.routing.rota import Outcome


class StatsError(ValueError):
    """Statistics or a prior that cannot be right (negative counts, rates outside 0–1, …)."""


def _check_rate(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise StatsError(f"{name} must be a number from 0 to 1, got {value!r}")


def _check_count(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise StatsError(f"{name} must be a finite number ≥ 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class Prior:
    """What we assume of a supplier before it has answered anything. Strengths are in
    pseudo-observations: how many real answers it takes for the supplier's own record to
    weigh as much as the assumption."""

    fill_rate: float = 0.75
    fill_strength: float = 4.0
    turnaround_days: float = 2.0
    turnaround_strength: float = 3.0
    holdings_accuracy: float = 0.9
    holdings_strength: float = 5.0
    timeout_rate: float = 0.05  # silent past the stated response time
    timeout_strength: float = 4.0

    def __post_init__(self) -> None:
        _check_rate("prior fill_rate", self.fill_rate)
        _check_rate("prior holdings_accuracy", self.holdings_accuracy)
        _check_rate("prior timeout_rate", self.timeout_rate)
        _check_count("prior turnaround_days", self.turnaround_days)
        for name in (
            "fill_strength",
            "turnaround_strength",
            "holdings_strength",
            "timeout_strength",
        ):
            value = getattr(self, name)
            _check_count(f"prior {name}", value)
            if value == 0:
                raise StatsError(f"prior {name} must be > 0 (a new supplier needs an estimate)")


DEFAULT_PRIOR = Prior()


@dataclass(frozen=True, slots=True)
class SupplierStats:
    """Decayed counts for one supplier and one service type.

    `answered` counts every ended attempt (timeouts included: for the requester, silence is a
    failure); `checked` those where the supplier looked for the item (every answer but a
    timeout); `not_held` the "not held / not on shelf" answers among them; `turnaround_days`
    the sum of days from sending to supplying over `supplied` fills."""

    answered: float = 0.0
    filled: float = 0.0
    checked: float = 0.0
    not_held: float = 0.0
    timed_out: float = 0.0
    supplied: float = 0.0
    turnaround_days: float = 0.0

    def __post_init__(self) -> None:
        for name in self.__slots__:
            _check_count(name, getattr(self, name))
        # Small slack: decayed floats drift by an ulp or two.
        eps = 1e-9 * (1.0 + self.answered)
        if self.filled > self.answered + eps or self.checked > self.answered + eps:
            raise StatsError("filled and checked cannot exceed answered")
        if self.not_held > self.checked + eps:
            raise StatsError("not_held cannot exceed checked")
        if self.supplied > self.filled + eps:
            raise StatsError("supplied cannot exceed filled")


NO_HISTORY = SupplierStats()


def observe(
    stats: SupplierStats,
    outcome: Outcome,
    *,
    days: float | None = None,
    not_held: bool = False,
    decay: float = 1.0,
) -> SupplierStats:
    """The stats after one more attempt ended with `outcome`.

    `days`: for a fill, the days from sending to supplying (leave None if unknown: the fill
    still counts for the fill rate). `not_held`: for an unfilled answer, whether the reason was
    "not held / not on shelf" (the holdings-accuracy signal). A conditional answer the
    requester rejected counts as answered and checked, not filled: the supplier had the item."""
    if outcome is Outcome.PENDING:
        raise StatsError("a pending attempt teaches nothing yet")
    if not (0.0 < decay <= 1.0):
        raise StatsError(f"decay must be in (0, 1], got {decay!r}")
    if not_held and outcome is not Outcome.UNFILLED:
        raise StatsError(f"not_held only applies to an unfilled answer, not {outcome.value}")
    if days is not None and (outcome is not Outcome.FILLED or not days >= 0 or days == math.inf):
        raise StatsError(f"days only applies to a fill and must be finite ≥ 0, got {days!r}")
    s = stats
    filled = outcome is Outcome.FILLED
    timed_out = outcome is Outcome.TIMED_OUT
    timed = filled and days is not None
    return SupplierStats(
        answered=s.answered * decay + 1.0,
        filled=s.filled * decay + filled,
        checked=s.checked * decay + (not timed_out),
        not_held=s.not_held * decay + not_held,
        timed_out=s.timed_out * decay + timed_out,
        supplied=s.supplied * decay + timed,
        turnaround_days=s.turnaround_days * decay + (days if timed else 0.0),
    )


def fill_rate(stats: SupplierStats, prior: Prior = DEFAULT_PRIOR) -> float:
    """Posterior mean of the fill probability under a Beta prior."""
    return (prior.fill_rate * prior.fill_strength + stats.filled) / (
        prior.fill_strength + stats.answered
    )


def turnaround_days(stats: SupplierStats, prior: Prior = DEFAULT_PRIOR) -> float:
    """Mean days from sending to supplying, shrunk towards the prior when fills are few."""
    return (prior.turnaround_days * prior.turnaround_strength + stats.turnaround_days) / (
        prior.turnaround_strength + stats.supplied
    )


def holdings_accuracy(stats: SupplierStats, prior: Prior = DEFAULT_PRIOR) -> float:
    """Posterior mean of the share of look-ups that did not end in "not held / not on shelf"."""
    return (prior.holdings_accuracy * prior.holdings_strength + stats.checked - stats.not_held) / (
        prior.holdings_strength + stats.checked
    )


def timeout_rate(stats: SupplierStats) -> float:
    """Share of attempts that got no answer in time (raw, as shown to staff)."""
    return stats.timed_out / stats.answered if stats.answered else 0.0


def timeout_chance(stats: SupplierStats, prior: Prior = DEFAULT_PRIOR) -> float:
    """Posterior mean of the chance that the supplier stays silent past its response time."""
    return (prior.timeout_rate * prior.timeout_strength + stats.timed_out) / (
        prior.timeout_strength + stats.answered
    )


class Speed(NamedTuple):
    """Days per fill and the three estimates it is made of."""

    days_per_fill: float
    fill_rate: float
    turnaround_days: float
    timeout_chance: float


def speed(stats: SupplierStats, response_days: float, prior: Prior = DEFAULT_PRIOR) -> Speed:
    """`days_per_fill` with the fill rate, turnaround and timeout chance it is made of."""
    p = fill_rate(stats, prior)
    t = turnaround_days(stats, prior)
    q = timeout_chance(stats, prior)
    return Speed(((1.0 - q) * t + q * response_days) / max(p, 1e-6), p, t, q)


def days_per_fill(
    stats: SupplierStats, response_days: float, prior: Prior = DEFAULT_PRIOR
) -> float:
    """Expected business days an attempt at this supplier costs, per fill it brings:
    E[days of one attempt] / P(it fills), where an attempt lasts the supplier's turnaround when
    it answers and its whole response time when it stays silent.

    Asking suppliers in increasing order of this figure minimises the expected time until a
    request is filled when attempts succeed independently (Smith's rule for sequencing tests:
    i goes before j when t_i / p_i < t_j / p_j). It is what fill rate and turnaround each say
    half of: a library that fills 95% in four days and one that fills 50% in half a day are
    told apart by how long the reader waits, not by either rate alone. (The time an unfilled
    answer takes is not recorded, so it is taken to be the turnaround of a fill.)"""
    return speed(stats, response_days, prior).days_per_fill


def from_outcomes(
    outcomes: Iterable[tuple[Outcome, float | None, bool]], *, decay: float = 1.0
) -> SupplierStats:
    """Stats rebuilt from a supplier's history, oldest first: (outcome, days, not_held)."""
    stats = NO_HISTORY
    for outcome, days, not_held in outcomes:
        stats = observe(stats, outcome, days=days, not_held=not_held, decay=decay)
    return stats


def pooled_prior(
    stats: Iterable[SupplierStats],
    *,
    fill_strength: float = 4.0,
    turnaround_strength: float = 3.0,
    holdings_strength: float = 5.0,
    timeout_strength: float = 4.0,
    fallback: Prior = DEFAULT_PRIOR,
) -> Prior:
    """A prior centred on the network's pooled record for one service type, so that a new
    supplier starts at the average; where the network has no history yet, the fallback's."""
    answered = filled = checked = not_held = supplied = days = silent = 0.0
    for s in stats:
        answered += s.answered
        filled += s.filled
        checked += s.checked
        not_held += s.not_held
        supplied += s.supplied
        days += s.turnaround_days
        silent += s.timed_out
    return Prior(
        fill_rate=_clamp(filled / answered) if answered else fallback.fill_rate,
        fill_strength=fill_strength,
        turnaround_days=days / supplied if supplied else fallback.turnaround_days,
        turnaround_strength=turnaround_strength,
        holdings_accuracy=(
            _clamp((checked - not_held) / checked) if checked else fallback.holdings_accuracy
        ),
        holdings_strength=holdings_strength,
        timeout_rate=_clamp(silent / answered) if answered else fallback.timeout_rate,
        timeout_strength=timeout_strength,
    )


def _clamp(rate: float) -> float:
    # Decayed counts are floats: a ratio may land an ulp outside 0–1.
    return min(1.0, max(0.0, rate))
