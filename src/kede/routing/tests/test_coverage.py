"""Holders of a journal are checked against their holdings statements for the volume asked
for: those that lack it are not asked, those whose statement cannot say are asked last."""

import dataclasses
import datetime
import json

import pytest

from kede.catalog.models import Holding
from kede.catalog.serials import parse_textual_holdings
from kede.ill import routing, services
from kede.routing import snapshot
from kede.routing.coverage import (
    COVERED,
    NOT_COVERED,
    UNKNOWN,
    Asked,
    asked_from,
    coverage_from_json,
    holder_coverage,
)
from kede.routing.models import RotaPlan
from kede.routing.policy import Candidate, Policy, RequestFacts, eligible, rank
from kede.routing.rota import Outcome
from kede.routing.selectors import plan_view
from kede.routing.stats import from_outcomes

TODAY = datetime.date(2026, 3, 2)


def spans(text: str) -> list[dict]:
    """A statement as the catalogue stores it with a holding."""
    return json.loads(
        json.dumps([dataclasses.asdict(s) for s in parse_textual_holdings(text).spans])
    )


# ---- what a citation asks for ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("volume", "issue", "year", "asked"),
    [
        ("12", "3", "1998", Asked(year=1998, volume=12, issue=3)),
        ("Vol. 12", "", "", Asked(volume=12)),
        ("第12卷", "", "1998", Asked(year=1998, volume=12)),
        ("", "", "1998", Asked(year=1998)),
        ("12-13", "", "1998", Asked(year=1998)),  # a range is not guessed at
        ("NS 4 (2)", "", "", None),
        ("", "5", "", None),  # an issue alone says nothing of the run
        ("", "", "98", None),  # not a year
        ("", "", "", None),
    ],
)
def test_the_volume_and_year_are_read_from_the_citation(volume, issue, year, asked):
    assert asked_from(volume=volume, issue=issue, year=year) == asked


def test_what_was_asked_is_written_out():
    assert str(Asked(year=1998, volume=12, issue=3)) == "v.12:no.3 (1998)"
    assert str(Asked(year=1998)) == "1998"
    assert str(Asked(volume=7)) == "v.7"


# ---- one holder's answer (no database) --------------------------------------------------------


@pytest.mark.parametrize(
    ("statements", "state"),
    [
        ([spans("v.1(1975)-v.20(1994)")], COVERED),
        ([spans("v.30(2004)-")], NOT_COVERED),
        ([spans("v.30(2004)-"), spans("1980-1990")], COVERED),  # print and film: either will do
        ([spans("v.30(2004)-"), []], UNKNOWN),  # another holding without a statement
        ([[]], UNKNOWN),  # no statement at all
        ([spans("[v.2-20]")], UNKNOWN),  # held with gaps not listed
        ([spans("v.1-20")], COVERED),  # by volume alone
        (["not json at all"], UNKNOWN),
        ([[{"start_year": "1975", "end_year": 1994}]], UNKNOWN),  # a malformed span is skipped
    ],
)
def test_a_holders_statements_decide_whether_it_has_the_volume(statements, state):
    held = holder_coverage(statements, Asked(year=1986, volume=12), TODAY)
    assert held.state == state


def test_the_stored_spans_read_back_into_the_catalogues_structure():
    coverage = coverage_from_json(json.dumps(spans("v.1(1975)-v.20(1994); v.30(2004)-")))
    assert str(coverage) == "v.1(1975)-v.20(1994), v.30(2004)-"
    assert coverage_from_json({"not": "a list"}).spans == ()


FACTS = RequestFacts(
    requester="USST",
    requester_institution="USST",
    service_type="copy",
    today=TODAY,
    region="EAST",
    region_group="east",
    format="serial",
    asked="v.12 (1986)",
)
POLICY = Policy.from_config({"criteria": [{"name": "fill_rate", "weight": 1}]})


def test_a_holder_whose_statement_lacks_the_volume_is_excluded_with_the_reason():
    lacking = Candidate("A", coverage=NOT_COVERED, holdings="v.30(2004)-")
    kept, excluded = eligible([lacking, Candidate("B", coverage=COVERED)], FACTS)
    assert [c.supplier for c in kept] == ["B"]
    [why] = excluded
    assert (why.supplier, why.code) == ("A", "coverage")
    assert why.reason == "holds v.30(2004)- by its holdings statement, not v.12 (1986)"


def test_holders_whose_statement_cannot_say_are_ranked_after_those_it_confirms():
    # given a holder with a far better record whose statement cannot say, and a confirmed one
    good = from_outcomes([(Outcome.FILLED, 0.5, False)] * 30)
    poor = from_outcomes([(Outcome.UNFILLED, None, False)] * 5)
    unknown = Candidate("A", coverage=UNKNOWN, stats=good)
    confirmed = Candidate("B", coverage=COVERED, holdings="v.1(1975)-", stats=poor)
    # when they are ranked
    ranked = rank([unknown, confirmed], FACTS, POLICY)
    # then the confirmed holder comes first, and each says why, with no share of the score
    assert [r.supplier for r in ranked] == ["B", "A"]
    assert ranked[1].score > ranked[0].score
    first, second = (r.breakdown[0] for r in ranked)
    assert (first.criterion, first.weight, first.value) == ("coverage", 0.0, 1.0)
    assert first.reason == "its holdings statement (v.1(1975)-) includes v.12 (1986)"
    assert second.reason.startswith("no holdings statement: whether it has v.12 (1986)")
    assert abs(sum(s.points for s in ranked[1].breakdown) - ranked[1].score) < 1e-12


def test_without_a_volume_asked_nothing_changes():
    a, b = Candidate("A", stats=from_outcomes([(Outcome.FILLED, 0.5, False)])), Candidate("B")
    ranked = rank([b, a], dataclasses.replace(FACTS, asked=""), POLICY)
    assert [r.supplier for r in ranked] == ["A", "B"]
    assert all(s.criterion != "coverage" for r in ranked for s in r.breakdown)


def test_the_stored_explanation_gives_back_the_coverage_reasons():
    cands = [
        Candidate("A", coverage=UNKNOWN, holdings="[v.2-v.20]"),
        Candidate("B", coverage=COVERED, holdings="v.1(1975)-"),
    ]
    ranked = rank(cands, FACTS, POLICY)
    stored = json.loads(
        json.dumps(
            [
                {"code": r.supplier, "kind": r.tier, "facts": snapshot.candidate_facts(r.candidate)}
                for r in ranked
            ]
        )
    )
    again = snapshot.explain(snapshot.request_json(FACTS), stored, POLICY)
    for r in ranked:
        assert [s.reason for s in again[r.supplier].breakdown] == [s.reason for s in r.breakdown]
    # and facts stored before coverage was checked still read back
    old = snapshot.candidate_facts(Candidate("C"))
    assert snapshot.candidate_from("C", "member", old).coverage == ""


# ---- live requests (database) ----------------------------------------------------------------


def hold_serial(network, code: str, statement: str | None) -> None:
    """`code` holds the network's journal with this holdings statement (None: none given)."""
    Holding.objects.update_or_create(
        institution=network[code],
        local_id=f"{code.lower()}-s1",
        defaults={
            "work": network.serial,
            "coverage_text": statement or "",
            "coverage": spans(statement) if statement else [],
        },
    )


def ask_for_article(network, reader="USST", **citation):
    return services.request_submit(
        actor=network.readers[reader],
        citation=services.Citation(
            title="The moral economy", container_title="Past & present", **citation
        ),
        work=network.serial,
    )


def codes(institutions):
    return [i.code for i in institutions]


def test_holders_are_checked_against_the_volume_of_an_article(network):
    # given the journal held by WHU (v.1-20), FDU (from v.30), SCU (no statement) and
    # PKU (1980-1990 by years)
    Holding.objects.filter(work=network.serial, institution=network["WHU"]).update(
        coverage_text="v.1(1975)-v.20(1994)", coverage=spans("v.1(1975)-v.20(1994)")
    )
    hold_serial(network, "FDU", "v.30(2004)-")
    hold_serial(network, "SCU", None)
    hold_serial(network, "PKU", "1980-1990")
    # when USST's reader asks for an article of v.12 (1986)
    request = ask_for_article(network, volume="12", issue="3", year="1986")
    # then FDU, whose statement lacks it, is not asked, and says why; SCU, which gave no
    # statement, is asked after the holders whose statement includes it
    assert codes(routing.candidate_suppliers(request)) == ["PKU", "WHU", "SCU"]
    plan = RotaPlan.objects.get(request=request)
    [excluded] = plan.explanations["excluded"]
    assert (excluded["code"], excluded["why"]) == ("FDU", "coverage")
    assert excluded["params"] == {"holdings": "v.30(2004)-", "asked": "v.12:no.3 (1986)"}
    # and the rota page shows each holder's statement beside its scores
    view = plan_view(request, plan)
    [reason] = [e.reason for e in view.excluded]
    assert reason == "holds v.30(2004)- by its holdings statement, not v.12:no.3 (1986)"
    first = {row.institution.code: row.criteria[0] for row in view.rows}
    assert first["WHU"].label == "Holdings statement"
    assert first["WHU"].reason == (
        "its holdings statement (v.1(1975)-v.20(1994)) includes v.12:no.3 (1986)"
    )
    assert first["SCU"].reason.startswith("no holdings statement")


def test_a_request_without_volume_or_year_asks_every_holder(network):
    hold_serial(network, "FDU", "v.30(2004)-")
    request = ask_for_article(network)
    assert sorted(codes(routing.candidate_suppliers(request))) == ["FDU", "WHU"]
    plan = RotaPlan.objects.get(request=request)
    assert plan.explanations["excluded"] == []
    assert "asked" not in plan.explanations["request"]


def test_when_no_holder_has_the_volume_the_request_goes_to_the_partners(network):
    # given WHU holds v.1-20 only and PKU is the centre's partner for copies
    from kede.routing import services as routing_services

    Holding.objects.filter(work=network.serial).update(
        coverage_text="v.1(1975)-v.20(1994)", coverage=spans("v.1(1975)-v.20(1994)")
    )
    routing_services.partners_set(service_type="copy", institutions=[network["PKU"]])
    # when v.25 is asked for
    request = ask_for_article(network, volume="25")
    # then the partner is asked, not WHU
    assert codes(routing.candidate_suppliers(request)) == ["PKU"]
    assert request.supplies.get().supplier.code == "PKU"
