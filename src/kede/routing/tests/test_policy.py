"""Ranking policies: order and explanations, exclusions, refused configs; fuzzed; a small
simulated year. No database."""

import dataclasses
import datetime
import importlib.util
import itertools
import math
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kede.routing.policy import (
    CRITERIA,
    MEMBER,
    PARTNER,
    Candidate,
    Policy,
    PolicyError,
    RequestFacts,
    Weighted,
    eligible,
    rank,
)
from kede.routing.rota import Calendar, Outcome
from kede.routing.stats import SupplierStats, from_outcomes

REPO = Path(__file__).resolve().parents[4]
SIM = REPO / "bench" / "routing_sim.py"
MONDAY = datetime.date(2025, 3, 3)

REQUEST = RequestFacts(
    requester="USST",
    requester_institution="USST",
    service_type="copy",
    today=MONDAY,
    region="EAST",
    region_group="east",
    format="article",
    requester_group="undergraduate_college",
)


def policy(**weights: float) -> Policy:
    return Policy.from_config(
        {"criteria": [{"name": name, "weight": w} for name, w in weights.items()]}
    )


def history(filled: int, not_held: int = 0, silent: int = 0) -> SupplierStats:
    return from_outcomes(
        [(Outcome.FILLED, 0.5, False)] * filled
        + [(Outcome.UNFILLED, None, True)] * not_held
        + [(Outcome.TIMED_OUT, None, False)] * silent
    )


# --- ranking ------------------------------------------------------------------------------------


def test_a_reliable_nearby_supplier_outranks_a_cheap_unreliable_one_and_says_why():
    # given FDU (same region, fills nearly everything, 12.00) and a cheap college far away that
    # often has nothing on the shelf
    fdu = Candidate("FDU", region="EAST", region_group="east", price=12, stats=history(19, 1))
    cheap = Candidate("XJC", region="W1", region_group="west", price=2, stats=history(5, 5, 5))
    ranking = policy(fill_rate=4, holdings_accuracy=2, price=1, same_region=1)

    # when ranked
    ranked = rank([cheap, fdu], REQUEST, ranking)

    # then FDU comes first, every criterion explains itself, and the points add up
    assert [r.supplier for r in ranked] == ["FDU", "XJC"]
    top = ranked[0]
    assert [s.criterion for s in top.breakdown] == [
        "fill_rate",
        "holdings_accuracy",
        "price",
        "same_region",
    ]
    assert [s.reason for s in top.breakdown] == [
        "filled 92% of copy requests (19 of 20)",
        "'not held / not on shelf' in 1 of 20 look-ups (94% accurate)",
        "charges 12.00 for a copy (half marks at 20.00)",
        "in the requester's region (EAST)",
    ]
    assert ranked[1].breakdown[3].reason == "in region W1, not the requester's (EAST)"
    assert sum(s.points for s in top.breakdown) == pytest.approx(top.score)
    assert sum(s.weight for s in top.breakdown) == pytest.approx(1.0)
    assert top.explain().splitlines()[0] == f"FDU (member): score {top.score:.3f}"


def test_a_library_of_the_requesters_own_institution_comes_first():
    # given a sister library of the requester's university and a stronger library elsewhere
    sister = Candidate("USST-MED", institution="USST", stats=history(5))
    other = Candidate("PKU", institution="PKU", stats=history(50))

    # when same_institution weighs most
    ranked = rank([other, sister], REQUEST, policy(same_institution=5, fill_rate=1))

    # then the request is filled locally
    assert [r.supplier for r in ranked] == ["USST-MED", "PKU"]
    assert ranked[0].breakdown[0].reason == "part of the requester's own institution (USST)"


def test_load_and_lend_borrow_balance_spare_busy_net_lenders():
    # given a big library carrying a full load that lends far more than it borrows, and a
    # small one with room that borrows more than it lends
    big = Candidate("BIG", open_requests=40, capacity=40, lent=900, borrowed=100)
    small = Candidate("SMALL", open_requests=1, capacity=4, lent=10, borrowed=60)

    # when ranked on load and balance
    ranked = rank([big, small], REQUEST, policy(load=1, lend_borrow_balance=1))

    # then the small one is asked first, and the figures are shown
    assert [r.supplier for r in ranked] == ["SMALL", "BIG"]
    assert [s.reason for s in ranked[1].breakdown] == [
        "40 open requests for a capacity of 40",
        "lent 900, borrowed 100",
    ]
    assert ranked[1].breakdown[0].value == 0.0


def test_partners_come_after_members_whatever_their_score():
    # given a partner that would win on fill rate
    partner = Candidate("NLC", kind=PARTNER, stats=history(100))
    member = Candidate("WHU", stats=history(1, 1))

    # when ranked
    ranked = rank([partner, member], REQUEST, policy(fill_rate=1))

    # then the member is still asked first
    assert [(r.supplier, r.tier) for r in ranked] == [("WHU", MEMBER), ("NLC", PARTNER)]
    assert ranked[1].score > ranked[0].score


def test_days_per_fill_weighs_fill_rate_turnaround_and_silence_together():
    # given a library that fills 95% but takes four days, and one that fills half in half a day
    slow_fill, quick_fill, no = (
        (Outcome.FILLED, 4.0, False),
        (Outcome.FILLED, 0.5, False),
        (Outcome.UNFILLED, None, False),
    )
    sure = Candidate("SURE", stats=from_outcomes([slow_fill] * 19 + [no]))
    quick = Candidate("QUICK", stats=from_outcomes([quick_fill, no] * 10))
    # when ranked on fill rate alone, and on days per fill
    by_rate = rank([quick, sure], REQUEST, policy(fill_rate=1))
    by_days = rank([quick, sure], REQUEST, policy(days_per_fill=1))
    # then the sure one wins on rate, but the reader waits less starting with the quick one
    assert [r.supplier for r in by_rate] == ["SURE", "QUICK"]
    assert [r.supplier for r in by_days] == ["QUICK", "SURE"]
    assert by_days[0].breakdown[0].reason == (
        "1.6 days per copy filled: fills 54%, answers in 0.8 days, silent past its 2 days "
        "1% of the time"
    )


def test_a_supplier_that_often_stays_silent_costs_its_whole_response_time():
    # given two libraries alike but for silences, the silent one stating three days
    calm = Candidate("CALM", stats=history(8, not_held=2))
    silent = Candidate("SILENT", calendar=Calendar(response_days=3), stats=history(8, silent=2))
    # when ranked on days per fill
    ranked = rank([silent, calm], REQUEST, policy(days_per_fill=1))
    # then the one that answers is asked first
    assert [r.supplier for r in ranked] == ["CALM", "SILENT"]


def test_a_loan_policy_counts_the_books_shipping():
    # given a loan policy that knows its couriers, a lender in the region and a slightly
    # quicker one beyond the region group
    loan = Policy.from_config(
        {
            "criteria": [{"name": "days_per_fill", "weight": 1}],
            "shipping_days": {"same_region": 0.5, "same_region_group": 1, "elsewhere": 2},
        }
    )
    near = Candidate("NEAR", region="EAST", region_group="east", stats=history(10))
    quick = from_outcomes([(Outcome.FILLED, 0.1, False)] * 10)
    far = Candidate("FAR", region="W1", region_group="west", stats=quick)
    facts = dataclasses.replace(REQUEST, service_type="loan")
    # when a loan is ranked, the book's journey counts; for a copy (no shipping) it does not
    assert [r.supplier for r in rank([far, near], facts, loan)] == ["NEAR", "FAR"]
    assert [r.supplier for r in rank([far, near], facts, policy(days_per_fill=1))] == [
        "FAR",
        "NEAR",
    ]
    [far_ranked] = [r for r in rank([far], facts, loan)]
    assert far_ranked.breakdown[0].reason.endswith("then 2.0 days' shipping")
    assert loan.to_config()["shipping_days"] == {
        "same_region": 0.5,
        "same_region_group": 1.0,
        "elsewhere": 2.0,
    }


def test_ties_go_to_the_first_criterion_then_to_the_supplier_id():
    # given three candidates with the same weighted score: A and C cheap but not local, B local
    # but dear (price 20 = half marks)
    a = Candidate("A", price=0)
    b = Candidate("B", price=20, region="EAST")
    c = Candidate("C", price=0)
    ranking = policy(price=1, same_region=0.5)

    # when ranked in any order
    orders = {
        tuple(r.supplier for r in rank(xs, REQUEST, ranking)) for xs in ([a, b, c], [c, b, a])
    }

    # then the order is always the same
    assert orders == {("A", "C", "B")}


# --- exclusions ---------------------------------------------------------------------------------


def test_exclusions_say_why():
    # given a candidate list with every kind of unsuitable supplier
    closed = Calendar(closed_dates=frozenset({MONDAY}))
    candidates = [
        Candidate("USST"),
        Candidate("FDU"),
        Candidate("FDU"),
        Candidate("LOANS", services=frozenset({"loan"})),
        Candidate("NOART", excluded_formats=frozenset({"article"})),
        Candidate("NOUG", excluded_groups=frozenset({"undergraduate_college"})),
        Candidate("SHUT", calendar=closed),
        Candidate("WHU", services=frozenset({"copy"})),
    ]

    # when filtered
    kept, excluded = eligible(candidates, REQUEST)

    # then only FDU and WHU remain, and everyone else has a reason
    assert [c.supplier for c in kept] == ["FDU", "WHU"]
    assert [(e.supplier, e.code, e.reason) for e in excluded] == [
        ("USST", "requester", "is the requesting library"),
        ("FDU", "duplicate", "is already a candidate"),
        ("LOANS", "service", "does not offer copy"),
        ("NOART", "format", "does not supply article"),
        ("NOUG", "group", "does not supply libraries of group undergraduate_college"),
        ("SHUT", "closed", "is closed on 2025-03-03"),
    ]


def test_on_a_day_every_candidate_is_closed_none_is_left_out():
    # given a national holiday: both holders declared it closed
    holiday = Calendar(closed_dates=frozenset({MONDAY}))
    candidates = [Candidate("FDU", calendar=holiday), Candidate("WHU", calendar=holiday)]

    # when filtered
    kept, excluded = eligible(candidates, REQUEST)

    # then both stay (their clocks stop until they reopen) rather than the request ending
    assert [c.supplier for c in kept] == ["FDU", "WHU"]
    assert excluded == []


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (["fill_rate"], "a policy is a mapping with a 'criteria' list, got list ['fill_rate']"),
        ({}, "criteria: missing: list the criteria and their weights"),
        ({"criteria": []}, "criteria: must name at least one criterion"),
        (
            {"criteria": {"fill_rate": 1}},
            "criteria: must be a list of {name, weight}, got a mapping",
        ),
        (
            {"criteria": [{"name": "fillrate", "weight": 1}]},
            "criteria[0].name: unknown criterion 'fillrate' (did you mean 'fill_rate'?) "
            "(known: same_institution, same_region, same_region_group, price, fill_rate, "
            "turnaround, days_per_fill, load, lend_borrow_balance, holdings_accuracy)",
        ),
        (
            {"criteria": [{"name": "price", "weight": 1}, {"name": "price", "weight": 2}]},
            "criteria[1].name: 'price' is already criteria[0]",
        ),
        (
            {"criteria": [{"name": "price", "weight": -1}]},
            "criteria[0].weight: must be ≥ 0, got -1",
        ),
        (
            {"criteria": [{"name": "price", "weight": "3"}]},
            "criteria[0].weight: must be a number, got str '3'",
        ),
        (
            {"criteria": [{"name": "price", "weight": True}]},
            "criteria[0].weight: must be a number, got bool True",
        ),
        (
            {"criteria": [{"name": "price", "weight": math.nan}]},
            "criteria[0].weight: must be a finite number, got nan",
        ),
        (
            {"criteria": [{"name": "price", "weight": 0}, {"name": "load", "weight": 0.0}]},
            "criteria: at least one weight must be > 0 (all are 0)",
        ),
        ({"criteria": [{"name": "price"}]}, "criteria[0]: missing 'weight'"),
        (
            {"criteria": [{"name": "price", "weight": 1, "wieght": 2}]},
            "criteria[0].wieght: unknown key (only 'name' and 'weight')",
        ),
        (
            {"criteria": ["price"]},
            "criteria[0]: must be a mapping with 'name' and 'weight', got str 'price'",
        ),
        (
            {"criterias": [], "criteria": [{"name": "price", "weight": 1}]},
            "criterias: unknown setting (did you mean 'criteria'?) "
            "(known: criteria, price_scale, prior, shipping_days, turnaround_scale)",
        ),
        (
            {"criteria": [{"name": "price", "weight": 1}], "shipping_days": {"region": 1}},
            "shipping_days.region: unknown setting (did you mean 'same_region'?) "
            "(known: same_region, same_region_group, elsewhere)",
        ),
        (
            {"criteria": [{"name": "price", "weight": 1}], "shipping_days": {"elsewhere": -1}},
            "shipping_days.elsewhere: must be ≥ 0, got -1",
        ),
        (
            {"criteria": [{"name": "price", "weight": 1}], "price_scale": 0},
            "price_scale: must be > 0, got 0",
        ),
        (
            {"criteria": [{"name": "price", "weight": 1}], "prior": {"fill_rate": 1.5}},
            "prior: prior fill_rate must be a number from 0 to 1, got 1.5",
        ),
        (
            {"criteria": [{"name": "price", "weight": 1}], "prior": {"fill": 0.5}},
            "prior.fill: unknown setting",
        ),
    ],
)
def test_bad_policies_are_refused_with_a_precise_message(config, message):
    # when the centre saves a malformed policy
    with pytest.raises(PolicyError) as refused:
        Policy.from_config(config)

    # then it is refused, saying exactly what is wrong and where
    assert str(refused.value).startswith(message)


def test_a_policy_built_in_code_gets_the_same_checks():
    with pytest.raises(PolicyError, match=r"criteria\[0\].weight: must be ≥ 0, got -2"):
        Policy(criteria=(Weighted("price", -2),))


def test_a_saved_policy_reads_back_the_same():
    saved = policy(fill_rate=5, turnaround=3, price=0.5)
    assert Policy.from_config(saved.to_config()) == saved


# --- fuzzing ------------------------------------------------------------------------------------

_counts = st.floats(min_value=0, max_value=1e9, allow_nan=False)
_share = st.floats(min_value=0, max_value=1)


@st.composite
def _stats(draw) -> SupplierStats:
    answered = draw(_counts)
    filled = answered * draw(_share)
    checked = answered * draw(_share)
    supplied = filled * draw(_share)
    return SupplierStats(
        answered=answered,
        filled=filled,
        checked=checked,
        not_held=checked * draw(_share),
        timed_out=(answered - checked) * draw(_share) if answered > checked else 0.0,
        supplied=supplied,
        turnaround_days=draw(_counts),
    )


_ids = st.sampled_from(["USST", "FDU", "WHU", "SCU", "PKU", "NLC", "NSTL"])
_names = st.sampled_from(["", "EAST", "W1", "east", "west", "USST"])
_whole = st.integers(min_value=0, max_value=10**9)
_candidate = st.builds(
    Candidate,
    supplier=_ids,
    institution=_names,
    region=_names,
    region_group=_names,
    kind=st.sampled_from([MEMBER, PARTNER]),
    services=st.frozensets(st.sampled_from(["copy", "loan"])),
    excluded_formats=st.frozensets(st.sampled_from(["article", "thesis"])),
    excluded_groups=st.frozensets(st.sampled_from(["undergraduate_college", "private"])),
    calendar=st.sampled_from([Calendar(), Calendar(closed_dates=frozenset({MONDAY}))]),
    price=st.floats(min_value=0, max_value=1e12, allow_nan=False),
    open_requests=_whole,
    capacity=_whole,
    lent=_whole,
    borrowed=_whole,
    stats=_stats(),
)
_weights = st.lists(
    st.tuples(
        st.sampled_from(sorted(CRITERIA)),
        st.one_of(st.just(0), st.floats(min_value=0, max_value=1e9, allow_nan=False)),
    ),
    min_size=1,
    unique_by=lambda pair: pair[0],
).filter(lambda pairs: any(w > 0 for _, w in pairs))


@settings(max_examples=300, deadline=None)
@given(candidates=st.lists(_candidate, max_size=40), weights=_weights)
def test_rank_never_crashes_and_returns_a_permutation_of_the_eligible(candidates, weights):
    # given arbitrary candidates and an arbitrary valid policy
    ranking = Policy.from_config({"criteria": [{"name": n, "weight": w} for n, w in weights]})

    # when the eligible ones are ranked
    kept, excluded = eligible(candidates, REQUEST)
    ranked = rank(kept, REQUEST, ranking)

    # then every eligible candidate appears exactly once, members before partners, best first,
    # and each score is the sum of its explained points
    assert sorted(map(id, (r.candidate for r in ranked))) == sorted(map(id, kept))
    assert len(kept) + len(excluded) == len(candidates)
    tiers = [r.tier for r in ranked]
    assert tiers == sorted(tiers, key=lambda t: t != MEMBER)
    for before, after in itertools.pairwise(ranked):
        if before.tier == after.tier:
            assert before.score >= after.score - 1e-9
    for r in ranked:
        assert -1e-9 <= r.score <= 1 + 1e-9
        assert math.isclose(sum(s.points for s in r.breakdown), r.score, abs_tol=1e-9)
        assert all(isinstance(s.reason, str) and s.reason for s in r.breakdown)


# --- a small simulated year ---------------------------------------------------------------------


def _simulator():
    spec = importlib.util.spec_from_file_location("routing_sim", SIM)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_a_small_simulated_year_kede_fills_more_than_cheapest_first_and_is_deterministic():
    # given the benchmark's simulated consortium and 2,000 requests
    sim = _simulator()

    # when the three policies run through the real ranking and rota code, twice
    first = sim.simulate(seed=3, requests=2000)
    again = sim.simulate(seed=3, requests=2000)

    # then Kede fills more, faster, and the same seed gives the same figures
    figures = first["policies"]
    kede, static = figures["kede"], figures["static_cheapest_first"]
    assert set(figures) == {"static_cheapest_first", "round_robin", "kede"}
    assert kede["fill_rate"] > static["fill_rate"]
    assert kede["mean_turnaround_days"] < static["mean_turnaround_days"]
    assert first == again
