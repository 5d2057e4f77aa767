"""A rota's stored explanation gives back the decision's scores and reasons. No database."""

import datetime
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from kede.routing import snapshot
from kede.routing.policy import CRITERIA, PARTNER, Candidate, Policy, RequestFacts, rank
from kede.routing.rota import Outcome
from kede.routing.stats import from_outcomes

FACTS = RequestFacts(
    requester="USST",
    requester_institution="USST",
    service_type="copy",
    today=datetime.date(2026, 3, 2),
    region="EAST",
    region_group="east",
    format="book",
    requester_group="undergraduate_college",
)
EVERYTHING = Policy.from_config({"criteria": [{"name": n, "weight": 1} for n in CRITERIA]})

outcomes = st.lists(
    st.sampled_from(
        [
            (Outcome.FILLED, 0.7, False),
            (Outcome.FILLED, None, False),
            (Outcome.UNFILLED, None, True),
            (Outcome.UNFILLED, None, False),
            (Outcome.TIMED_OUT, None, False),
            (Outcome.REJECTED_CONDITION, None, False),
        ]
    ),
    max_size=40,
)
candidates = st.builds(
    lambda i, region, price, open_, cap, lent, borrowed, history, decay, partner: Candidate(
        supplier=f"S{i}",
        institution=f"S{i}",
        region=region,
        region_group={"EAST": "east", "SW": "west"}.get(region, ""),
        kind=PARTNER if partner else "member",
        price=price,
        open_requests=open_,
        capacity=cap,
        lent=lent,
        borrowed=borrowed,
        stats=from_outcomes(history, decay=decay),
    ),
    st.integers(0, 10_000),
    st.sampled_from(["EAST", "SW", ""]),
    st.floats(0, 500, allow_nan=False),
    st.integers(0, 300),
    st.integers(0, 60),
    st.integers(0, 900),
    st.integers(0, 900),
    outcomes,
    st.sampled_from([1.0, 0.995, 0.9]),
    st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(candidates, min_size=1, max_size=12, unique_by=lambda c: c.supplier))
def test_the_stored_facts_rank_to_the_same_scores_and_reasons(cands):
    # given a decision
    ranked = rank(cands, FACTS, EVERYTHING)
    # when it is stored as JSON and explained again
    stored = json.loads(
        json.dumps(
            {
                "request": snapshot.request_json(FACTS),
                "ranked": [
                    {
                        "code": r.supplier,
                        "kind": r.tier,
                        "facts": snapshot.candidate_facts(r.candidate),
                    }
                    for r in ranked
                ],
            }
        )
    )
    again = snapshot.explain(stored["request"], stored["ranked"], EVERYTHING)
    # then every score is the same to 1e-6 and every reason reads the same
    for r in ranked:
        back = again[r.supplier]
        assert abs(back.score - r.score) < 1e-6
        assert [s.criterion for s in back.breakdown] == [s.criterion for s in r.breakdown]
        for a, b in zip(back.breakdown, r.breakdown, strict=True):
            assert abs(a.value - b.value) < 1e-6
            assert a.message == b.message
