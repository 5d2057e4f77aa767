"""Serial holdings and coverage: textual holdings, 853/863 pairs, KBART, and the question
"is volume 12 of 1998 held?". Pure: no database."""

from __future__ import annotations

import gzip
import io
import re
import warnings
from collections import Counter
from datetime import date
from pathlib import Path

import pymarc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kede.catalog.serials import (
    Coverage,
    Embargo,
    KbartError,
    MarcHoldingsField,
    Span,
    check_coverage,
    coverage_from_kbart,
    covers,
    fields_from_record,
    group_by_location,
    holdings_by_location,
    holdings_from_fields,
    holdings_statements,
    kbart_changes,
    parse_embargo,
    parse_enumeration,
    parse_textual_holdings,
    read_kbart,
    read_kbart_file,
)

SHARED = Path(__file__).resolve().parents[4].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason="the shared real-data folder is not beside this checkout"
)
TODAY = date(2024, 6, 15)


def spans(text: str) -> list[str]:
    return [str(s) for s in parse_textual_holdings(text).spans]


def field(tag: str, *pairs: str) -> MarcHoldingsField:
    """field("863", "81.1", "a1-15") -> 863 $8 1.1 $a 1-15 (each pair is code + value)."""
    return MarcHoldingsField(tag, tuple((p[0], p[1:]) for p in pairs))


# --- textual holdings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("v.1(1975)-v.20(1994)", ["v.1(1975)-v.20(1994)"]),
        ("v.1-20 (1975-1994)", ["v.1(1975)-v.20(1994)"]),
        ("1-15, 17-", ["v.1-v.15", "v.17-"]),
        ("v.12:no.3 (1998:Mar.)-", ["v.12:no.3(1998)-"]),
        ("1998-2005", ["1998-2005"]),
        ("1998-2005年", ["1998-2005"]),
        ("第1卷(1975)-", ["v.1(1975)-"]),
        ("1巻1号(1975)-", ["v.1:no.1(1975)-"]),
        ("第1卷第2期-第5卷", ["v.1:no.2-v.5"]),
        # a comma between numbers and their years (older style), gaps, an open end
        (
            "34-41, 1981-88; [43,1990]; 44, 1991-",
            ["v.34(1981)-v.41(1988)", "[v.43(1990)]", "v.44(1991)-"],
        ),
        # the end of a range written short inherits the higher levels
        ("Bd.37:Heft 1-2 (1916)", ["v.37:no.1(1916)-v.37:no.2(1916)"]),
        ("v.1-3:no.26 (1767:Dec.21-1770:June 25)", ["v.1(1767)-v.3:no.26(1770)"]),
        ("v.1:no.2-v.4 (1978-1982:June)", ["v.1:no.2(1978)-v.4(1982)"]),
        # a list of issues of one volume, with its year after the last
        ("v.184:no.1-4, 6 (1999)", ["v.184:no.1(1999)-v.184:no.4(1999)", "v.184:no.6(1999)"]),
        # year-first numbering: the number after the year is an issue
        ("1995:no.1-1998:no.53", ["no.1(1995)-no.53(1998)"]),
        ("1983:v.1-2", ["v.1(1983)-v.2(1983)"]),
        # combined volumes and years
        ("v.25/26-27/28 (2003/2004-2005/2006)", ["v.25(2003)-v.28(2006)"]),
        ("2003-2005/2006", ["2003-2006"]),
        (
            "knj.9/10,14/15-41 (1959,1963/1965-1994)",
            ["v.9(1959)-v.10(1959)", "v.14(1963)-v.41(1994)"],
        ),
        ("17th-18th (1975-1976)", ["v.17(1975)-v.18(1976)"]),
        ("V. 417 NO. 21A (JUN 2011)", ["v.417:no.21(2011)"]),
        ("LIBRARY HAS: 1983-1984 1989-1991", ["1983-1984", "1989-1991"]),
        ("Available from 2000.", ["2000-"]),
        ("v.5- to date", ["v.5-"]),
        ("[v.50(1933)]-v.193(2005)", ["v.50(1933)-v.193(2005)"]),
        ("[102-1797]", ["[v.102-v.1797]"]),
        ("<1>-", ["v.1-"]),
    ],
)
def test_textual_holdings_are_read_into_spans(statement, expected):
    # when
    coverage = parse_textual_holdings(statement)
    # then
    assert [str(s) for s in coverage.spans] == expected
    assert coverage.unparsed == ""


def test_a_new_series_is_noted_because_volume_numbers_start_again():
    coverage = parse_textual_holdings(
        "v.1(1845)-v.14(1859),n.s.:v.1(1859)-v.187(1952),v.190(1954)-"
    )
    assert len(coverage.spans) == 3
    assert "series" in coverage.note
    # volume 12 of 1900 is in the new series, volume 12 of 1856 in the old one, 1953 is a gap
    assert covers(coverage, year=1900, volume=12, today=TODAY) is True
    assert covers(coverage, year=1856, volume=12, today=TODAY) is True
    assert covers(coverage, year=1953, today=TODAY) is False


def test_incomplete_lacking_and_rolling_statements():
    incomplete = parse_textual_holdings("v.1-10 incomplete")
    assert incomplete.note == "incomplete" and all(s.incomplete for s in incomplete.spans)

    lacks = parse_textual_holdings("v.1-20 (1975-1994) (lacks v.5)")
    assert spans("v.1-20 (1975-1994) (lacks v.5)") == ["v.1(1975)-v.20(1994)"]
    assert [str(s) for s in lacks.lacking] == ["v.5"]

    for text in ("Current 5 years", "Latest 5 yrs.", "近5年"):
        [span] = parse_textual_holdings(text).spans
        assert span.open_end and span.embargo == (Embargo("R", 5, "Y"),), text


def test_what_cannot_be_read_is_returned_not_guessed():
    # a note that is not holdings at all
    note = parse_textual_holdings("*Continued by:Judisches Litteratur-Blatt (Magdeburg,")
    assert note.spans == () and note.unparsed.startswith("*Continued by")
    # counts of film reels are not volumes
    reels = parse_textual_holdings("Microfiche 1-38 in binder")
    assert reels.spans == () and "Microfiche 1-38" in reels.unparsed
    # a bad year is kept aside, the rest is still read
    typo = parse_textual_holdings("v.1-4  (11986-1987)")
    assert [str(s) for s in typo.spans] == ["v.1-v.4(1987)"]
    assert typo.unparsed == "(11986-1987)"
    # a word in the middle
    special = parse_textual_holdings("V. 72 NO. 23 SPECIAL (DEC 2009)")
    assert [str(s) for s in special.spans] == ["v.72:no.23(2009)"] and special.unparsed == "SPECIAL"
    # nothing at all
    assert parse_textual_holdings("") == Coverage()


# --- 853/863 pairs, 866-868, locations ------------------------------------------------------


def test_enumeration_is_read_with_its_captions():
    captions = field("853", "81", "av.", "bno.", "i(year)", "j(month)")
    span, problem = parse_enumeration(captions, field("863", "81.1", "a1-15", "b1-4", "i1975-1989"))
    assert (span, problem) == (
        Span(
            start_year=1975,
            start_volume=1,
            start_issue=1,
            end_year=1989,
            end_volume=15,
            end_issue=4,
        ),
        "",
    )
    # a year used as the first level: the number after it is an issue
    year_captions = field("853", "84", "a(yr.)", "bno.", "u2", "vc")
    span, _ = parse_enumeration(year_captions, field("863", "84.1", "a2008", "b33"))
    assert span == Span(start_year=2008, start_issue=33, end_year=2008, end_issue=33)
    # an open, provisional run
    span, _ = parse_enumeration(
        field("853", "81", "av.", "i(year)"), field("863", "81", "a<1>-", "i<1915>-")
    )
    assert span == Span(start_year=1915, start_volume=1, open_end=True)
    # values that are not numbers are reported, not guessed
    span, problem = parse_enumeration(None, field("863", "astuff"))
    assert span is None and problem == "$a stuff"


def test_supplements_and_indexes_are_kept_apart_from_the_main_run():
    # given one holding with a textual summary, a pattern/enumeration pair, a supplement and
    # an index
    holding = holdings_from_fields(
        [
            field("853", "82", "av.", "bno.", "i(year)"),
            field("863", "82.1", "a5-83", "i1988-2008"),
            field("866", "81", "av.84: no.1-3 (2008)", "zIn stacks"),
            field("867", "81", "av.1-3 suppl. (1990)"),
            field("868", "81", "av.1-40 (1988-2004)"),
        ],
        location="PHYSICS JOURNALS",
    )
    # then
    assert [str(s) for s in holding.basic.spans] == [
        "v.5(1988)-v.83(2008)",
        "v.84:no.1(2008)-v.84:no.3(2008)",
    ]
    assert [str(s) for s in holding.indexes.spans] == ["v.1(1988)-v.40(2004)"]
    assert [str(s) for s in holding.supplements.spans] == ["v.1(1990)-v.3(1990)"]
    assert holding.public_notes == ("In stacks",)
    assert covers(holding.basic, volume=84, issue=2, today=TODAY) is True
    assert covers(holding.basic, volume=84, issue=5, today=TODAY) is False


def test_each_852_location_has_its_own_holdings():
    # given a bibliographic record with holdings for two locations, as merged records have
    record = pymarc.Record()
    record.add_field(pymarc.Field(tag="001", data="x1"))
    for loc, statement in (("IVY", "v.1-4 (1986-1987)"), ("PHYSICS", "v.5-83 (1988-2008)")):
        record.add_field(
            pymarc.Field(tag="852", indicators=[" ", " "], subfields=[pymarc.Subfield("b", loc)])
        )
        record.add_field(
            pymarc.Field(
                tag="866",
                indicators=[" ", "0"],
                subfields=[pymarc.Subfield("8", "1"), pymarc.Subfield("a", statement)],
            )
        )
    # when
    ivy, physics = holdings_by_location(record)
    # then
    assert (ivy.location, physics.location) == ("IVY", "PHYSICS")
    assert covers(ivy.basic, volume=3, today=TODAY) and not covers(physics.basic, volume=3)
    assert covers(physics.basic, year=1998, today=TODAY)


# --- the question ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "question", "answer"),
    [
        ("v.1(1975)-v.20(1994)", {"volume": 12}, True),
        ("v.1(1975)-v.20(1994)", {"year": 1998}, False),
        ("v.1(1975)-v.20(1994)", {"volume": 12, "year": 1986}, True),
        ("1-15, 17-", {"volume": 16}, False),
        ("1-15, 17-", {"volume": 300}, True),
        ("v.12:no.3 (1998:Mar.)-", {"volume": 12, "issue": 1}, False),
        ("v.12:no.3 (1998:Mar.)-", {"volume": 12, "issue": 4}, True),
        ("v.12:no.3 (1998:Mar.)-", {"volume": 12}, None),  # only part of v.12
        ("v.12:no.3 (1998:Mar.)-", {"year": 2030}, False),  # not published yet
        ("1998-2005", {"year": 2001}, True),
        ("1998-2005", {"volume": 3}, None),  # years only, nothing to infer from
        ("v.1-20", {"year": 1986}, None),
        ("Current 5 years", {"year": 2021}, True),
        ("Current 5 years", {"year": 2015}, False),
        ("[v.2-9, 1991-2000]", {"volume": 5}, None),  # held, with gaps
        ("v.1-20 (1975-1994) (lacks v.5)", {"volume": 5}, False),
        ("v.1-20 (1975-1994) (lacks v.5)", {"volume": 6}, True),
        ("*Continued by: Revue ATEE.", {"year": 1997}, None),
    ],
)
def test_covers_answers_true_false_or_cannot_say(statement, question, answer):
    assert covers(parse_textual_holdings(statement), today=TODAY, **question) is answer


def test_a_year_is_inferred_from_volume_numbers_and_the_reason_says_so():
    # given volumes with years at both ends of one run, and a later run of volumes only
    coverage = parse_textual_holdings("v.1(1975)-v.20(1994), v.22-30")
    # when asked by year
    held = check_coverage(coverage, year=1998, today=TODAY)
    gap = check_coverage(coverage, year=1995, today=TODAY)  # would be v.21
    # then
    assert held.covered is True and "inferred from v.1=1975 and v.20=1994" in held.reason
    assert gap.covered is False


def test_embargo_and_rolling_windows_move_with_today():
    moving_wall = Coverage(
        spans=(Span(start_year=2000, open_end=True, embargo=(Embargo("P", 1, "Y"),)),)
    )
    assert covers(moving_wall, year=2023, today=TODAY) is True
    assert covers(moving_wall, year=2024, today=TODAY) is False
    assert covers(moving_wall, year=2024, today=date(2026, 1, 1)) is True
    recent = Coverage(
        spans=(Span(start_year=2000, open_end=True, embargo=(Embargo("R", 6, "M"),)),)
    )
    assert covers(recent, year=2022, today=TODAY) is False
    assert covers(recent, year=2024, today=TODAY) is True


def test_nothing_asked_or_nothing_read_cannot_say():
    assert check_coverage(parse_textual_holdings("v.1-5"), today=TODAY).covered is None
    assert covers(Coverage(unparsed="Guide"), year=2000, today=TODAY) is None


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1600, 2100),
    st.integers(0, 60),
    st.integers(1500, 2150),
)
def test_a_run_of_years_holds_exactly_its_years(start, length, year):
    coverage = Coverage(spans=(Span(start_year=start, end_year=start + length),))
    assert covers(coverage, year=year, today=TODAY) is (start <= year <= start + length)


# --- KBART ----------------------------------------------------------------------------------

KBART_HEADER = (
    "publication_title\tprint_identifier\tonline_identifier\tdate_first_issue_online\t"
    "num_first_vol_online\tnum_first_issue_online\tdate_last_issue_online\tnum_last_vol_online\t"
    "num_last_issue_online\ttitle_url\tfirst_author\ttitle_id\tembargo_info\tcoverage_depth\t"
    "notes\tpublisher_name"
)


def kbart(*rows: str) -> list:
    return list(read_kbart("\n".join([KBART_HEADER, *rows]) + "\n"))


def test_a_kbart_row_gives_its_coverage_and_identifiers():
    [result] = kbart(
        "Animal Conservation\t1367-9430\t1469-1795\t1998-02-01\t1\t01\t2005-11-01\t8\t04\t"
        "http://x\t\tANI\t\tfulltext\t\tCUP"
    )
    row = result.row
    assert (row.print_issn, row.online_issn, row.title_id) == ("1367-9430", "1469-1795", "ANI")
    assert [str(s) for s in row.coverage.spans] == ["v.1:no.1(1998)-v.8:no.4(2005)"]
    assert covers(row.coverage, year=2003, volume=6, today=TODAY) is True
    assert covers(row.coverage, year=2006, today=TODAY) is False


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ("\t1367-9430", "line 2: publication_title is empty"),
        (
            "T\t\t\t19x8",
            "line 2: date_first_issue_online '19x8' is not YYYY, YYYY-MM or YYYY-MM-DD",
        ),
        ("T\t\t\t2001-02-30", "line 2: date_first_issue_online '2001-02-30' is not a real date"),
        (
            "T\t\t\t2002-12-01\t\t\t2002-09-30",
            "line 2: coverage ends (2002-09-30) before it starts (2002-12-01)",
        ),
        (
            "T\t\t\t\t\t\t\t\t\t\t\t\t1 year",
            "line 2: embargo_info '1 year' is not P or R, a number and D, M or Y (e.g. P1Y, R6M)",
        ),
        ("T" + "\t" * 16 + "surplus", "line 2: 17 fields, header has 16 (extra: 'surplus')"),
    ],
)
def test_a_bad_kbart_row_is_refused_with_a_precise_reason(row, error):
    [result] = kbart(row)
    assert result.row is None and result.error == error


def test_questionable_kbart_values_are_warned_about_and_the_row_kept():
    [result] = kbart("T\tn/a\t1469-1795\t2000\t\t\t\t\t\t\t\t\tP1Y\tFull text")
    assert result.row is not None
    assert "line 2: print_identifier 'n/a' is neither an ISSN nor an ISBN" in result.warnings
    assert result.row.coverage_depth == "fulltext"
    [span] = result.row.coverage.spans
    assert span.open_end and span.embargo == (Embargo("P", 1, "Y"),)


def test_not_a_kbart_file_is_refused_once():
    [result] = read_kbart("Title\tISBN\tAuthor\nA book\t123\tMe\n")
    assert (
        result.error
        == "not a KBART header: no publication_title column (found: title, isbn, author)"
    )
    assert [r.error for r in read_kbart(b"")] == ["empty file: no header"]


def test_embargo_syntax():
    assert parse_embargo("R10Y;P30D") == (Embargo("R", 10, "Y"), Embargo("P", 30, "D"))
    with pytest.raises(KbartError):
        parse_embargo("P1Y;P2Y")
    coverage, warnings_ = coverage_from_kbart({"num_first_issue_online": "S1"})
    assert coverage.spans == () and warnings_ == [
        "num_first_issue_online 'S1' is not a number; ignored"
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(max_size=12), max_size=18).map("\t".join), max_size=6))
def test_any_kbart_rows_give_rows_or_reasons(rows):
    for result in read_kbart("\n".join([KBART_HEADER, *rows])):
        assert (result.row is None) != (result.error == "")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_kbart_rows_or_reasons(data):
    for result in read_kbart(data):
        assert (result.row is None) != (result.error == "")


# --- fuzzing the parsers --------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        *"0123456789-/:,;.()[] <>=&+?",
        "v.",
        "no.",
        "Jahrg.",
        "Bd.",
        "lacks ",
        "incomplete",
        "Current 5 years",
        "Dec.",
        "(1998)",
        "1975",
        "n.s.:",
        "reels",
        "第",
        "卷",
        "期",
        "年",
        "－",
        "\u3000",
        "Heft ",
        "ff.",
    ]
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join) | st.text(max_size=120))
def test_any_statement_parses_without_raising(text):
    coverage = parse_textual_holdings(text)
    assert isinstance(coverage.unparsed, str)
    for span in coverage.spans:
        assert (
            span.open_end
            or span.end_year is None
            or span.start_year is None
            or (isinstance(span.end_year, int))
        )
    assert covers(coverage, year=1998, volume=12, issue=3, today=TODAY) in (True, False, None)
    assert covers(coverage, year=1998, today=TODAY) in (True, False, None)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("abcdijkw8xz"), st.text(max_size=10)), max_size=8),
    st.lists(st.tuples(st.sampled_from("abcdijkw8xz"), st.text(max_size=10)), max_size=8),
)
def test_any_enumeration_parses_without_raising(captions, values):
    span, problem = parse_enumeration(
        MarcHoldingsField("853", tuple(captions)), MarcHoldingsField("863", tuple(values))
    )
    assert span is None or isinstance(span, Span)
    assert isinstance(problem, str)


# --- the real files -------------------------------------------------------------------------


def _records(path: Path) -> list[pymarc.Record]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if data.lstrip()[:1] == b"<":
            if b"<!DOCTYPE" in data[:2048] or b"<!ENTITY" in data:
                return []
            try:
                return pymarc.parse_xml_to_array(io.BytesIO(data))
            except Exception:
                return []
        reader = pymarc.MARCReader(io.BytesIO(data), to_unicode=True, permissive=True)
        return [r for r in reader if r is not None]


# Stanford's indexer tests fill holdings fields with placeholders ("mhld866a ind1 4 ind2 1",
# "keep me 2 (867)", "866a3open-"): not statements, so counted apart.
_PLACEHOLDER = re.compile(r"(?:keep|skip) me|mhld8\d\d|bib8\d\d|^8\d\da|^\$?astuff")


@needs_shared
def test_every_holdings_statement_in_the_real_marc_files(capsys):
    # given every 853-868 in the shared MARC files (several forks share files: each statement
    # is counted once per distinct text too)
    counts: dict[str, Counter[str]] = {"866-868": Counter(), "863-865": Counter()}
    distinct: dict[str, set[tuple[str, str]]] = {"866-868": set(), "863-865": set()}
    for path in sorted((SHARED / "marc").rglob("*")):
        if not path.is_file():
            continue
        for record in _records(path):
            for _location, fields in group_by_location(fields_from_record(record)):
                # when each statement is read
                for f, coverage in holdings_statements(fields):
                    text = " ".join(f"${c}{v}" for c, v in f.subfields if c != "8")
                    if f.tag >= "866" and not any(v.strip() for v in f.get("a")):
                        continue  # a note ($z) only
                    family = "866-868" if f.tag >= "866" else "863-865"
                    if _PLACEHOLDER.search(" ".join(f.get("a"))):
                        counts[family]["placeholder"] += 1
                        continue
                    kind = "full" if coverage.parsed_fully else "part" if coverage.spans else "none"
                    counts[family][kind] += 1
                    distinct[family].add((kind, f.tag + text))
    # then most are read in full, and every one without raising
    with capsys.disabled():
        for family, counter in counts.items():
            once = Counter(kind for kind, _ in distinct[family])
            print(f"\n{family}: {dict(counter)}; distinct texts: {dict(once)}")
    textual = counts["866-868"]
    assert textual["full"] + textual["part"] + textual["none"] > 600
    assert textual["full"] / (textual["full"] + textual["part"] + textual["none"]) > 0.8
    assert textual["full"] + textual["part"] > 0.85 * (
        textual["full"] + textual["part"] + textual["none"]
    )
    paired = counts["863-865"]
    assert paired["full"] / (paired["full"] + paired["part"] + paired["none"]) > 0.9


@needs_shared
def test_a_real_journal_held_at_two_locations():
    # given Virginia's record for Europhysics letters: v.1-4 by request, v.5- in Physics
    [record] = _records(SHARED / "marc" / "solrmarc" / "test__data__records__u79065.mrc")
    ivy, physics = holdings_by_location(record)
    # then the physics library answers for 1998 and for volume 84 no. 2
    assert covers(physics.basic, year=1998, today=TODAY) is True
    assert covers(physics.basic, volume=84, issue=2, today=TODAY) is True
    # the by-request copy has a typing error in its years: read as far as it goes
    assert ivy.basic.unparsed == "(11986-1987)"
    assert covers(ivy.basic, volume=3, today=TODAY) is True


@needs_shared
def test_every_kbart_file_is_read_row_by_row(capsys):
    report = {}
    for path in sorted((SHARED / "kbart" / "gokb").iterdir()):
        results = list(read_kbart_file(path))
        rows = [r for r in results if r.row]
        report[path.name] = (len(rows), [r.error for r in results if r.error])
    with capsys.disabled():
        for name, (good, errors) in report.items():
            print(f"\n{name}: {good} rows, {len(errors)} refused {errors[:2]}")
    journals = report["utils__testdata__ebooks__journals.cambridge.org_AllTitles_2015-07-14.txt"]
    assert journals == (468, [])
    # a CUFTS export from a load that failed: the two bad rows are named
    muse = report["utils__testdata__bulk_load__load_problems__project_muse_alltitles"]
    assert muse[0] == 644 and muse[1] == [
        "line 185: num_last_vol_online 7 is before num_first_vol_online 56",
        "line 621: coverage ends (2002-09-30) before it starts (2002-12-01)",
    ]
    assert report["utils__testdata__cufts__doaj"] == (10602, [])
    # files that are not title lists are refused once, at the header
    assert report["utils__testdata__ebooks__YBP1.tsv"][0] == 0
    assert report["utils__testdata__os_test__muse_journal_metadata_2013.tsv"][0] == 0


@needs_shared
def test_kbart_print_and_online_identifiers_and_coverage_of_a_real_list():
    path = (
        SHARED
        / "kbart"
        / "gokb"
        / "utils__testdata__ebooks__journals.cambridge.org_AllTitles_2015-07-14.txt"
    )
    rows = {r.row.title_id: r.row for r in read_kbart_file(path) if r.row}
    animal = rows["ANI"]
    assert (animal.print_issn, animal.online_issn) == ("1367-9430", "1469-1795")
    assert covers(animal.coverage, volume=8, issue=4, today=TODAY) is True
    assert covers(animal.coverage, volume=9, today=TODAY) is False
    # "n/a" for a print ISSN is kept as given, and there is no print ISSN
    apsipa = next(r for r in rows.values() if r.print_identifier == "n/a")
    assert apsipa.print_issn is None and apsipa.online_issn
    # e-books carry ISBNs in the same columns
    books = SHARED / "kbart" / "gokb" / "utils__testdata__Example_Ebook_Package_Original.txt"
    first = next(r.row for r in read_kbart_file(books) if r.row)
    assert (first.print_isbn, first.online_isbn) == ("9783030352448", "9783030352455")


@needs_shared
def test_an_updated_title_list_is_compared_with_the_one_before():
    # given a Springer package before and after an update
    folder = SHARED / "kbart" / "gokb"
    for stem in ("Example_Ebook_Package", "Example_Ebook_Package_Allfields"):
        old = [r.row for r in read_kbart_file(folder / f"utils__testdata__{stem}_Original.txt")]
        new = [r.row for r in read_kbart_file(folder / f"utils__testdata__{stem}_Changed.txt")]
        # when
        changes = kbart_changes([r for r in old if r], [r for r in new if r])
        # then the twenty-one titles taken out and the twenty-one put in are found by title_id
        assert (len(changes.added), len(changes.removed), len(changes.changed)) == (21, 21, 0)
        assert "10.1007/978-981-15-4630-3" in {r.title_id for r in changes.added}
        assert "10.1007/978-3-030-57638-7" in {r.title_id for r in changes.removed}


def test_a_changed_row_names_the_columns_that_changed():
    [before] = kbart("T\t\t1469-1795\t2000\t1\t\t\t\t\t\t\tX1\t\tfulltext")
    [after] = kbart("T\t\t1469-1795\t2001\t2\t\t\t\t\t\t\tX1\tP1Y\tfulltext")
    changes = kbart_changes([before.row], [after.row])
    assert [c[2] for c in changes.changed] == [
        ("date_first_issue_online", "num_first_vol_online", "embargo_info")
    ]
