"""Learned supplier statistics: priors, updates, pooling. No database."""

import datetime

import pytest

from kede.routing.policy import Candidate, Policy, RequestFacts, rank
from kede.routing.rota import Outcome
from kede.routing.stats import (
    NO_HISTORY,
    Prior,
    StatsError,
    SupplierStats,
    days_per_fill,
    fill_rate,
    from_outcomes,
    holdings_accuracy,
    observe,
    pooled_prior,
    timeout_chance,
    timeout_rate,
    turnaround_days,
)

FILLED = (Outcome.FILLED, 1.0, False)
NOT_HELD = (Outcome.UNFILLED, None, True)
IN_USE = (Outcome.UNFILLED, None, False)
SILENT = (Outcome.TIMED_OUT, None, False)


def test_a_new_supplier_with_no_history_gets_the_prior():
    # given a prior and a supplier that has answered nothing
    prior = Prior(fill_rate=0.8, turnaround_days=1.5, holdings_accuracy=0.9)

    # when its estimates are read
    estimates = (
        fill_rate(NO_HISTORY, prior),
        turnaround_days(NO_HISTORY, prior),
        holdings_accuracy(NO_HISTORY, prior),
    )

    # then they are exactly the prior's
    assert estimates == (0.8, 1.5, 0.9)
    assert timeout_rate(NO_HISTORY) == 0.0


def test_a_new_supplier_is_neither_favoured_nor_shut_out():
    # given a proven good supplier, a proven poor one, and a newcomer, with the prior pooled
    # from the network's record
    good = from_outcomes([FILLED] * 18 + [IN_USE] * 2)
    poor = from_outcomes([FILLED] * 8 + [NOT_HELD] * 8 + [SILENT] * 4)
    prior = pooled_prior([good, poor])
    policy = Policy.from_config(
        {"criteria": [{"name": "fill_rate", "weight": 1}], "prior": _as_config(prior)}
    )
    request = RequestFacts(requester="R", service_type="copy", today=datetime.date(2025, 3, 3))
    candidates = [
        Candidate("POOR", stats=poor),
        Candidate("NEW"),
        Candidate("GOOD", stats=good),
    ]

    # when they are ranked on fill rate
    ranked = rank(candidates, request, policy)

    # then the newcomer sits between them, at the network's average, and says so
    assert [r.supplier for r in ranked] == ["GOOD", "NEW", "POOR"]
    assert prior.fill_rate == pytest.approx(26 / 40)
    assert ranked[1].breakdown[0].reason == "no copy history yet: the network's prior, 65%"


def test_each_outcome_updates_the_counts_it_concerns():
    # given one attempt of each kind
    stats = from_outcomes(
        [
            (Outcome.FILLED, 2.0, False),
            (Outcome.UNFILLED, None, True),
            (Outcome.REJECTED_CONDITION, None, False),
            (Outcome.TIMED_OUT, None, False),
            (Outcome.FILLED, None, False),
        ]
    )

    # then every ended attempt is answered, all but the timeout were checked, and only the
    # timed fill counts for turnaround
    assert stats == SupplierStats(
        answered=5, filled=2, checked=4, not_held=1, timed_out=1, supplied=1, turnaround_days=2
    )
    assert timeout_rate(stats) == pytest.approx(0.2)


def test_estimates_move_from_the_prior_towards_the_record():
    # given a prior of 75% fills and a supplier that filled 40 of 40
    prior = Prior(fill_rate=0.75, fill_strength=4)
    stats = from_outcomes([FILLED] * 40)

    # then its fill rate is the Beta posterior mean
    assert fill_rate(stats, prior) == pytest.approx((0.75 * 4 + 40) / 44)
    assert turnaround_days(stats, Prior(turnaround_days=2, turnaround_strength=3)) == (
        pytest.approx((2 * 3 + 40) / 43)
    )


def test_holdings_accuracy_counts_not_held_answers_among_look_ups_only():
    # given 3 "not on shelf" in 10 look-ups, and 10 timeouts that looked up nothing
    stats = from_outcomes([NOT_HELD] * 3 + [FILLED] * 7 + [SILENT] * 10)
    prior = Prior(holdings_accuracy=0.9, holdings_strength=5)

    # then accuracy is judged on the 10 look-ups
    assert holdings_accuracy(stats, prior) == pytest.approx((0.9 * 5 + 7) / 15)


def test_decay_lets_recent_answers_outweigh_old_ones():
    # given a supplier that failed 50 times, then filled 50 times
    history = [IN_USE] * 50 + [FILLED] * 50

    # when the record decays
    decayed = from_outcomes(history, decay=0.9)
    flat = from_outcomes(history)

    # then it looks better than the flat average says
    assert fill_rate(decayed) > 0.9 > fill_rate(flat)


def test_days_per_fill_is_the_expected_days_of_an_attempt_over_its_chance_of_filling():
    # given a supplier that filled 6 (in 1 day each), said no twice and stayed silent twice
    prior = Prior(fill_rate=0.5, turnaround_days=2.0, timeout_rate=0.1)
    stats = from_outcomes([FILLED] * 6 + [IN_USE] * 2 + [SILENT] * 2)
    p = fill_rate(stats, prior)
    t = turnaround_days(stats, prior)
    q = timeout_chance(stats, prior)
    # then an attempt lasts its turnaround when it answers, its 3 response days when silent
    assert q == pytest.approx((0.1 * 4 + 2) / (4 + 10))
    assert days_per_fill(stats, 3, prior) == pytest.approx(((1 - q) * t + q * 3) / p)
    # and silence costs more where the stated response time is longer
    assert days_per_fill(stats, 5, prior) > days_per_fill(stats, 3, prior)


def test_the_pooled_prior_carries_the_networks_timeout_rate():
    prior = pooled_prior([from_outcomes([FILLED] * 3 + [SILENT]), from_outcomes([IN_USE] * 4)])
    assert prior.timeout_rate == pytest.approx(1 / 8)
    assert pooled_prior([]).timeout_rate == Prior().timeout_rate


def test_pooled_prior_falls_back_where_the_network_has_no_history():
    assert pooled_prior([]) == Prior()
    assert pooled_prior([NO_HISTORY], fallback=Prior(fill_rate=0.5)).fill_rate == 0.5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: observe(NO_HISTORY, Outcome.PENDING), "a pending attempt teaches nothing yet"),
        (
            lambda: observe(NO_HISTORY, Outcome.FILLED, not_held=True),
            "not_held only applies to an unfilled answer, not filled",
        ),
        (
            lambda: observe(NO_HISTORY, Outcome.UNFILLED, days=1.0),
            "days only applies to a fill",
        ),
        (lambda: observe(NO_HISTORY, Outcome.FILLED, days=-1.0), "must be finite ≥ 0"),
        (lambda: observe(NO_HISTORY, Outcome.FILLED, decay=0), r"decay must be in \(0, 1\]"),
        (lambda: SupplierStats(answered=1, filled=2), "filled and checked cannot exceed"),
        (lambda: SupplierStats(answered=-1), "answered must be a finite number ≥ 0"),
        (lambda: Prior(fill_rate=1.2), "prior fill_rate must be a number from 0 to 1"),
        (lambda: Prior(fill_strength=0), "prior fill_strength must be > 0"),
        (lambda: Prior(timeout_rate=-0.1), "prior timeout_rate must be a number from 0 to 1"),
        (lambda: Prior(timeout_strength=0), "prior timeout_strength must be > 0"),
    ],
)
def test_impossible_updates_and_priors_are_refused(call, message):
    with pytest.raises(StatsError, match=message):
        call()


def _as_config(prior: Prior) -> dict:
    return {name: getattr(prior, name) for name in prior.__slots__}
