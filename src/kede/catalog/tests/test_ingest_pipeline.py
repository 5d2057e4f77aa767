"""The whole ingest: one upload in, one outcome per record, and a report that adds up."""

from __future__ import annotations

import gzip
import json

import pymarc
import pytest

from kede.catalog.ingest import (
    HUMANITIES_SOCIAL_SCIENCES,
    PRESETS,
    IngestReport,
    ingest,
    ingest_all,
    ingest_results,
)
from kede.catalog.ingest.pipeline import results_from_records
from kede.catalog.tests.test_marc import SHARED_MARC, needs_shared


def record(local_id: str, title: str, *extra: tuple, status: str = "n") -> pymarc.Record:
    out = pymarc.Record()
    out.leader = pymarc.Leader(f"00000{status}am a2200000 a 4500")
    if local_id:
        out.add_field(pymarc.Field("001", data=local_id))
    if title:
        out.add_field(
            pymarc.Field("245", pymarc.Indicators("0", "0"), [pymarc.Subfield("a", title)])
        )
    for tag, subfields in extra:
        out.add_field(
            pymarc.Field(
                tag, pymarc.Indicators(" ", " "), [pymarc.Subfield(c, v) for c, v in subfields]
            )
        )
    return out


def upload(*records: pymarc.Record) -> bytes:
    return b"".join(r.as_marc() for r in records)


def test_each_record_gets_one_outcome_and_the_report_adds_up():
    # given an upload with every kind of record a member sends
    good = record(
        "b1", "史记", ("084", [("a", "K204.2"), ("2", "clc")]), ("852", [("b", "MAIN"), ("p", "1")])
    )
    broken = bytearray(record("b2", "Broken").as_marc())
    broken[0:5] = b"99999"
    data = (
        upload(good)
        + bytes(broken)
        + upload(
            record("", "No id"),
            record("b4", ""),
            record("b5", "Programming", ("084", [("a", "TP312"), ("2", "clc")])),
            record("b6", "", status="d"),
            record("b7", "Unclassified"),
        )
    )
    # when it is ingested with the humanities and social sciences scope
    outcomes, report = ingest_all(gzip.compress(data), scope=HUMANITIES_SOCIAL_SCIENCES)
    # then every record has its outcome, in order, with the reason when it is not kept
    assert [(o.position, o.status, o.category) for o in outcomes] == [
        (1, "accepted", "in-scope"),
        (2, "rejected", "unreadable"),
        (3, "rejected", "no-local-id"),
        (4, "rejected", "no-title"),
        (5, "rejected", "out-of-scope"),
        (6, "deleted", ""),
        (7, "accepted", "unclassified"),
    ]
    assert outcomes[0].holdings[0].location == "MAIN" and outcomes[0].bib.title == "史记"
    assert outcomes[2].reason == "no local record id (001)"
    assert outcomes[3].reason == "no title (245 $a)" and outcomes[3].local_id == "b4"
    assert outcomes[4].reason.startswith("out of scope: CLC TP312")
    assert outcomes[5].local_id == "b6"
    assert outcomes[6].holdings[0].implicit
    # and the report counts each once
    assert report.read == 7 and (report.accepted, report.deleted, report.rejected_total) == (
        2,
        1,
        4,
    )
    assert report.formats == {"iso2709": 1}
    assert [(r.position, r.category, r.local_id) for r in report.rejected] == [
        (2, "unreadable", ""),
        (3, "no-local-id", ""),
        (4, "no-title", "b4"),
        (5, "out-of-scope", "b5"),
    ]
    assert report.rejected[0].offset == len(upload(good))
    json.dumps(report.as_dict())


def test_a_local_id_seen_twice_is_kept_with_a_warning():
    outcomes, report = ingest_all(upload(record("b1", "First"), record("b1", "Second")))
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    assert outcomes[1].warnings == ("local id 'b1' also at record 1; this one replaces it",)
    assert report.warnings == 1


def test_the_mapping_decides_the_local_id_and_holdings():
    koha = record(
        "ctrl-1",
        "Koha record",
        ("952", [("a", "CHATHAM"), ("c", "CIRC"), ("o", "580.1 G733v"), ("p", "314370")]),
        ("999", [("c", "100087")]),
    )
    [outcome] = ingest(upload(koha), mapping=PRESETS["koha"])
    assert outcome.local_id == "100087"
    assert [(h.barcode, h.location, h.call_number) for h in outcome.holdings] == [
        ("314370", "CHATHAM / CIRC", "580.1 G733v")
    ]


def test_harvested_records_take_the_same_path():
    report = IngestReport()
    outcomes = list(
        ingest_results(results_from_records([record("h1", "Harvested"), None]), report=report)
    )
    assert [o.status for o in outcomes] == ["accepted", "rejected"]
    assert report.categories["unreadable"] == 1


@needs_shared
def test_every_file_of_the_real_corpus_gives_outcomes_that_add_up():
    report = IngestReport(max_listed=100000)
    count = 0
    for path in sorted(SHARED_MARC.rglob("*")):
        if not path.is_file():
            continue
        for outcome in ingest(
            path.read_bytes(),
            scope=HUMANITIES_SOCIAL_SCIENCES,
            report=report,
            source=path.name,
        ):
            count += 1
            if outcome.status == "accepted":
                assert outcome.bib.title and outcome.local_id and outcome.holdings
            elif outcome.status == "rejected":
                assert outcome.reason and outcome.category
                assert not outcome.reason.startswith("internal error"), (path.name, outcome)
    assert report.read == count > 11000
    assert sum(report.outcomes.values()) == sum(report.categories.values()) + report.deleted
    assert report.categories["unreadable"] > 100
    assert report.categories["out-of-scope"] > 300
    assert report.accepted > 9000
    assert len(report.rejected) == report.rejected_total
    rejected_files = {r.source for r in report.rejected if r.category == "unreadable"}
    assert "t__bu_bibs.mrc" in rejected_files and "test__bad_records.mrc" in rejected_files


@needs_shared
def test_a_real_alma_incremental_export_with_deletions():
    path = (
        SHARED_MARC
        / "bibdata-princeton"
        / "spec__fixtures__files__alma__incremental_11_records.xml"
    )
    if not path.is_file():
        pytest.skip("the Alma incremental export is not in the shared folder")
    outcomes, report = ingest_all(path.read_bytes(), mapping=PRESETS["alma"])
    assert report.read == 11 and report.deleted == 6
    assert [o.position for o in outcomes if o.status == "deleted"] == [5, 7, 8, 9, 10, 11]
