"""Scope rules (which classes a consortium keeps) and the load report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from kede.catalog.ingest.bib import ClassNumber
from kede.catalog.ingest.errors import ScopeError
from kede.catalog.ingest.report import IngestReport, Rejection
from kede.catalog.ingest.scope import (
    HUMANITIES_SOCIAL_SCIENCES,
    KEEP_EVERYTHING,
    PRESETS,
    ScopeRule,
)


@dataclass
class Bib:
    classifications: list[ClassNumber] = field(default_factory=list)


def classed(*numbers: str) -> Bib:
    """Bib("clc:K825.6", "lcc:QA76.73") -> a record with those class numbers."""
    return Bib([ClassNumber(*n.split(":", 1), tag="") for n in numbers])


HSS = HUMANITIES_SOCIAL_SCIENCES


@pytest.mark.parametrize(
    ("numbers", "keep"),
    [
        (("clc:K825.6",), True),  # biography, history
        (("clc:I247.5",), True),  # Chinese novels
        (("clc:A81",), True),
        (("clc:TP312",), False),  # programming languages
        (("clc:O413.1",), False),  # physics
        (("lcc:PL2658.E8",), True),
        (("lcc:HB171",), True),
        (("lcc:KF801",), True),
        (("lcc:QA76.73",), False),
        (("lcc:GB651",), False),  # hydrology: excluded from G
        (("lcc:GV706",), True),  # recreation stays
        (("ddc:823.914",), True),
        (("ddc:005.133",), False),  # computing: excluded from 000-099
        (("ddc:020",), True),
        (("ddc:530.4",), False),
        (("lcc:QA76.73", "clc:K825"), True),  # one number in range is enough
        (("ddc:005.1", "clc:K825"), False),  # an excluded number drops the record
    ],
)
def test_humanities_and_social_sciences(numbers, keep):
    assert HSS.decide(classed(*numbers)).keep is keep


def test_decisions_say_why():
    assert HSS.decide(classed("clc:K825.6")).reason == "in scope: CLC K825.6 is in A-K"
    out = HSS.decide(classed("clc:TP312", "lcc:QA76.73"))
    assert (out.keep, out.category) == (False, "out-of-scope")
    assert out.reason == (
        "out of scope: CLC TP312, LCC QA76.73 outside the kept ranges (CLC A-K; LCC A-H, J-N, P, Z)"
    )
    excluded = HSS.decide(classed("ddc:005.133"))
    assert excluded.reason == "out of scope: DDC 005.133 is in the excluded range 004-006"


def test_records_without_a_usable_class_number_follow_the_rule():
    for bib in (classed(), classed("udc:94(510)"), classed("lcc:IN PROCESS"), classed("ddc:FIC")):
        kept = HSS.decide(bib)
        assert (kept.keep, kept.category) == (True, "unclassified")
    strict = ScopeRule(name="strict", include={"clc": ["A-K"]}, unclassified="reject")
    assert strict.decide(classed()).keep is False
    assert "no CLC, LCC or DDC class number" in strict.decide(classed()).reason
    # an LCC number is no use to a rule that only sets CLC ranges
    only_lcc = strict.decide(classed("lcc:PL2658"))
    assert (only_lcc.keep, only_lcc.category) == (False, "unclassified")


def test_lc_numbers_compare_as_numbers_and_clc_and_dewey_as_prefixes():
    lc = ScopeRule(name="LC", include={"lcc": ["QA76-QA76.9"]})
    assert lc.decide(classed("lcc:QA76.73")).keep
    assert not lc.decide(classed("lcc:QA761")).keep  # QA761 is not under QA76
    assert not lc.decide(classed("lcc:QA77")).keep
    assert not lc.decide(classed("lcc:QA7")).keep
    clc = ScopeRule(name="CLC", include={"clc": ["TP3"]})
    assert clc.decide(classed("clc:TP312.8")).keep and not clc.decide(classed("clc:TP27")).keep
    dewey = ScopeRule(name="DDC", include={"ddc": ["37"]})
    assert dewey.decide(classed("ddc:371.33")).keep and not dewey.decide(classed("ddc:380")).keep


def test_range_notation_people_type_is_accepted():
    rule = ScopeRule.from_dict({"name": "x", "include": {"clc": ["a – k", "Ｔ Ｐ ３"], "lcc": "P"}})
    assert rule.include == {"clc": ("A-K", "TP3"), "lcc": ("P",)}


def test_a_bad_rule_lists_every_problem():
    with pytest.raises(ScopeError) as caught:
        ScopeRule.from_dict(
            {
                "name": "",
                "include": {"clc": ["A-", "K-A", "TP3"], "bliss": ["A"], "lcc": ["7"]},
                "exclude": "ddc",
                "unclassified": "maybe",
                "extra": 1,
            }
        )
    assert caught.value.errors == ["extra: unknown setting"]
    with pytest.raises(ScopeError) as caught:
        ScopeRule.from_dict(
            {
                "name": "",
                "include": {"clc": ["A-", "K-A", "TP3"], "bliss": ["A"], "lcc": ["7"]},
                "exclude": "ddc",
                "unclassified": "maybe",
            }
        )
    assert caught.value.errors == [
        "name: give a name of 1 to 100 characters",
        "unclassified: 'maybe' must be keep or reject",
        "include.clc: 'A-' is not a range such as A-K or TP3",
        "include.clc: 'K-A' runs backwards",
        "include.bliss: unknown scheme (use clc, lcc, ddc)",
        "include.lcc: '7' is not a LCC range such as A-H or QA76-QA76.9",
        'exclude: give ranges per scheme, such as {"clc": ["A-K"]}',
    ]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_rules_round_trip_through_json(name):
    rule = PRESETS[name]
    again = ScopeRule.from_dict(json.loads(json.dumps(rule.to_dict())))
    assert again == rule
    assert again.decide(classed("clc:TP312")) == rule.decide(classed("clc:TP312"))


def test_keep_everything_keeps_everything():
    assert KEEP_EVERYTHING.decide(classed("clc:TP312")).keep
    assert KEEP_EVERYTHING.decide(classed()).keep


# --- the report -----------------------------------------------------------------------------


def test_the_report_counts_everything_but_lists_only_so_many():
    report = IngestReport(max_listed=2)
    for n in range(5):
        report.add_rejected(Rejection(position=n + 1, category="out-of-scope", reason="r"))
    report.add_accepted(category="in-scope", holdings=2, copies=3)
    report.add_deleted()
    assert (report.read, report.accepted, report.deleted, report.rejected_total) == (7, 1, 1, 5)
    assert len(report.rejected) == 2 and report.rejected_unlisted == 3
    data = json.loads(json.dumps(report.as_dict()))
    assert data["categories"] == {"out-of-scope": 5, "in-scope": 1}
    assert data["rejected"][0] == {
        "position": 1,
        "category": "out-of-scope",
        "reason": "r",
        "local_id": "",
        "offset": None,
        "line": None,
        "source": "",
    }
    total = IngestReport(max_listed=3)
    total.merge(report)
    total.merge(report)
    assert total.rejected_total == 10 and len(total.rejected) == 3 and total.copies == 6
