"""De-duplication of real MARC records: hard negatives from whole MARC records, the display
record, and quality on the labelled set bench/data/marc_dupes_gold.tsv. No database."""

import importlib.util
import sys
from pathlib import Path

import pymarc
import pytest
from pymarc import Field, Indicators, Subfield

from kede.catalog.dedup import (
    MatchRecord,
    blocking_keys,
    carrier_of,
    choose_display,
    cluster,
    display_quality,
    match,
)
from kede.catalog.marc import read_marc_file

REPO = Path(__file__).resolve().parents[4]
BENCH = REPO / "bench" / "dedup_marc.py"
SHARED_MARC = REPO.parent / "shared" / "data" / "marc"
needs_shared = pytest.mark.skipif(
    not SHARED_MARC.is_dir(), reason="the shared real-data folder is not beside this checkout"
)


def _f008(date1: str, *, date2: str = "    ", kind: str = "s", form: str = " ", lang="eng"):
    """A books 008: date entered, date type, dates, place, …, form of item (23), language."""
    return f"960101{kind}{date1}{date2}enk     {form}     001 1 {lang} d"


def _marc(
    control: str,
    *,
    title: str = "Pride and prejudice /",
    nonfiling: str = "0",
    part: str = "",
    author: str = "Austen, Jane,",
    edition: str = "",
    publisher: str = "Penguin Books,",
    date: str = "1996.",
    date1: str = "1996",
    date2: str = "    ",
    kind: str = "s",
    form: str = " ",
    lang: str = "eng",
    isbns: tuple[str, ...] = ("0140434267",),
    lccn: str = "",
    leader: str = "00000cam a2200000 a 4500",
    extra: tuple[Field, ...] = (),
) -> pymarc.Record:
    record = pymarc.Record(leader=leader)
    record.add_field(Field(tag="001", data=control))
    record.add_field(
        Field(tag="008", data=_f008(date1, date2=date2, kind=kind, form=form, lang=lang))
    )
    if lccn:
        record.add_field(Field("010", Indicators(" ", " "), [Subfield("a", lccn)]))
    for isbn in isbns:
        record.add_field(Field("020", Indicators(" ", " "), [Subfield("a", isbn)]))
    record.add_field(Field("100", Indicators("1", " "), [Subfield("a", author)]))
    subfields = [Subfield("a", title)] + ([Subfield("n", part)] if part else [])
    record.add_field(Field("245", Indicators("1", nonfiling), subfields))
    if edition:
        record.add_field(Field("250", Indicators(" ", " "), [Subfield("a", edition)]))
    record.add_field(
        Field(
            "260",
            Indicators(" ", " "),
            [Subfield("a", "London :"), Subfield("b", publisher), Subfield("c", date)],
        )
    )
    for field in extra:
        record.add_field(field)
    return record


def _pair(a: pymarc.Record, b: pymarc.Record):
    return match(MatchRecord.from_marc(a, source="A"), MatchRecord.from_marc(b, source="B"))


# --- hard negatives from whole MARC records ---------------------------------------------------


def test_the_same_record_from_two_libraries_merges():
    # given one library's record and another's with other local fields and a typo'd imprint
    a = _marc("a1")
    b = _marc(
        "b7",
        publisher="Penguin,",
        extra=(Field("590", Indicators(" ", " "), [Subfield("a", "Gift")]),),
    )
    # when matched
    decision = _pair(a, b)
    # then the shared ISBN decides
    assert decision.same, decision.reason


def test_print_and_e_book_of_one_edition_are_not_merged_even_sharing_an_isbn():
    # given the print book, and the e-book record that lists the print ISBN as well as its own
    online = (
        Field("007", data="cr cn|||||||||"),
        Field("338", Indicators(" ", " "), [Subfield("a", "online resource"), Subfield("b", "cr")]),
    )
    print_book = _marc("p1")
    e_book = _marc("e1", form="o", isbns=("9780141439518 (ebook)", "0140434267"), extra=online)
    # when matched
    decision = _pair(print_book, e_book)
    # then print and electronic stay apart before the ISBN is looked at
    assert not decision.same
    assert decision.reason == "print vs electronic"


def test_an_e_book_known_only_by_its_300_is_electronic():
    record = _marc(
        "e2",
        extra=(Field("300", Indicators(" ", " "), [Subfield("a", "1 online resource (345 p.)")]),),
    )
    assert carrier_of(record) == "electronic"
    assert MatchRecord.from_marc(record).is_electronic


def test_large_print_and_regular_print_are_not_merged():
    decision = _pair(_marc("r1", isbns=()), _marc("l1", isbns=(), form="d"))
    assert not decision.same
    assert "carrier" in decision.reason


def test_first_and_second_edition_are_not_merged():
    first = _marc("ed1", isbns=())
    second = _marc("ed2", isbns=(), edition="2nd ed.")
    decision = _pair(first, second)
    assert not decision.same
    assert "edition" in decision.reason


def test_volumes_of_a_set_with_the_set_isbn_are_not_merged():
    # given two volumes, each carrying the ISBN of the whole set, the part in 245 $n
    vol1 = _marc("v1", title="Collected works.", part="Volume 1", isbns=("0140434267 (set)",))
    vol2 = _marc("v2", title="Collected works.", part="Volume 2", isbns=("0140434267 (set)",))
    decision = _pair(vol1, vol2)
    assert not decision.same
    assert "volume" in decision.reason


def test_a_reprint_of_another_year_is_not_merged_even_with_the_same_isbn_and_lccn():
    # given a 1981 book and its 1991 reissue that kept ISBN and LCCN
    original = _marc("r81", date="c1981.", date1="1981", lccn="81005215")
    reissue = _marc("r91", date="c1991.", date1="1991", lccn="81005215")
    decision = _pair(original, reissue)
    assert not decision.same
    assert "years" in decision.reason


def test_a_one_year_gap_must_be_explained_by_the_records():
    # given yearly session laws: same title, printer and form, one year apart
    acts = dict(
        title="Acts and resolutions of the General Assembly.", author="South Carolina.", isbns=()
    )
    y1815 = _marc("s15", date="1815.", date1="1815", **acts)
    y1816 = _marc("s16", date="1816.", date1="1816", **acts)
    # and a book whose two records differ by the copyright date one of them gives
    c1858 = _marc("m1", date="1859 [c1858]", date1="1859", isbns=())
    d1858 = _marc("m2", date="1858.", date1="1858", isbns=())
    # when matched
    # then the unexplained gap keeps the laws apart, the explained one merges the book
    assert not _pair(y1815, y1816).same
    assert _pair(c1858, d1858).same


def test_a_translation_is_not_merged_with_its_original():
    decision = _pair(_marc("en", isbns=()), _marc("fr", isbns=(), lang="fre"))
    assert not decision.same
    assert "language" in decision.reason


def test_a_sound_disc_and_a_cassette_of_one_reading_are_not_merged():
    disc = _marc(
        "sd",
        isbns=(),
        leader="00000nim a2200000 a 4500",
        extra=(Field("007", data="sd fsngnnmmned"),),
    )
    tape = _marc(
        "ss",
        isbns=(),
        leader="00000nim a2200000 a 4500",
        extra=(Field("007", data="ss lunjlcmnnue"),),
    )
    assert carrier_of(disc) == "sound/disc"
    assert not _pair(disc, tape).same


def test_parts_of_a_series_whose_titles_each_have_other_words_are_not_merged():
    # given two sub-series of one series, from one publisher in one year, no numbers in common
    series = "Europäische Hochschulschriften = European university studies."
    law = _marc("h2", title=f"{series} Reihe 2, Rechtswissenschaft", isbns=(), author="")
    politics = _marc("h31", title=f"{series} Reihe 31, Politik", isbns=(), author="")
    decision = _pair(law, politics)
    assert not decision.same
    assert "titles differ in" in decision.reason


def test_a_record_with_double_encoded_text_merges_with_the_clean_one():
    # given a record exported with its UTF-8 read as Latin-1, no identifier to lean on
    clean = _marc(
        "c1",
        title="Les piétons téméraires /",
        author="Rieben, Pierre-André.",
        isbns=(),
        publisher="L'Age d'homme,",
    )
    broken = _marc(
        "c1x",
        title="Les pi\u00c3\u00a9tons t\u00c3\u00a9m\u00c3\u00a9raires /",
        author="Rieben, Pierre-Andr\u00c3\u00a9.",
        isbns=(),
        publisher="L'Age d'homme,",
    )
    a, b = MatchRecord.from_marc(clean), MatchRecord.from_marc(broken)
    assert blocking_keys(a) & blocking_keys(b)
    assert match(a, b).same


def test_from_marc_keeps_what_the_simple_loader_drops():
    record = _marc(
        "ocm00012345",
        title="The making of the English working class /",
        nonfiling="4",
        lccn="  63005236 ",
        extra=(Field("035", Indicators(" ", " "), [Subfield("a", "(OCoLC)99999")]),),
        leader="00000cam a22000008a 4500",
        date="1963, c1962.",
        date1="1963",
    )
    m = MatchRecord.from_marc(record, source="lib")
    assert m.id == ("lib", "ocm00012345")
    assert m.nonfiling == 4
    assert m.lccn.strip() == "63005236"
    assert {m.oclc, *m.oclcs} == {"99999", "12345"}
    assert m.carrier == "print"
    assert set(m.dates) == {1963, 1962}
    assert m.provisional  # leader/17 "8": a prepublication record


def test_a_cluster_of_real_looking_records_keeps_its_editions_apart():
    records = [
        MatchRecord.from_marc(_marc("x1"), source="A"),
        MatchRecord.from_marc(_marc("x2", publisher="Penguin,"), source="B"),
        MatchRecord.from_marc(_marc("x3", edition="2nd ed.", isbns=("0140620222",)), source="C"),
        MatchRecord.from_marc(_marc("x4", form="o", extra=(Field("007", data="cr"),)), source="D"),
    ]
    assert cluster(records) == [[("A", "x1"), ("B", "x2")], [("C", "x3")], [("D", "x4")]]


# --- the display record ---------------------------------------------------------------------


def test_choose_display_prefers_a_full_record_to_a_prepublication_one():
    # given a CIP record (leader/17 "8", no pagination) and the full record of the same book
    cip = _marc("cip", leader="00000cam a22000008a 4500")
    full = _marc(
        "full",
        leader="00000cam a2200000 a 4500",
        extra=(Field("300", Indicators(" ", " "), [Subfield("a", "xv, 324 p. ;")]),),
    )
    # when the display record is chosen
    # then it is the full one, wherever it stands
    assert choose_display([cip, full]) == 1
    assert choose_display([full, cip]) == 0


def test_choose_display_prefers_undamaged_text_and_lc_cataloguing():
    clean = _marc("ok", title="Les piétons téméraires /")
    broken = _marc(
        "bad",
        title="Les pi\u00c3\u00a9tons t\u00c3\u00a9m\u00c3\u00a9raires /",
        extra=(Field("650", Indicators(" ", "0"), [Subfield("a", "More subjects")]),),
    )
    lc = _marc("lc", extra=(Field("040", Indicators(" ", " "), [Subfield("a", "DLC")]),))
    assert choose_display([broken, clean]) == 1
    assert display_quality(lc) > display_quality(_marc("other"))
    assert choose_display([_marc("same1"), _marc("same2")]) == 0
    with pytest.raises(ValueError):
        choose_display([])


# --- the labelled real duplicates -----------------------------------------------------------


def _bench():
    spec = importlib.util.spec_from_file_location("dedup_marc", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_the_gold_set_is_labelled_and_identifies_records_stably():
    bench = _bench()
    # given the labelled set
    gold = bench.load_gold()
    # then it has a few hundred records, each once, with enough true pairs
    keys = [row.key for row in gold]
    assert len(keys) == len(set(keys)) >= 300
    assert len(bench.gold_pairs(gold)) >= 100
    assert all(row.file and row.position >= 1 and row.control_number for row in gold)


@needs_shared
def test_every_gold_record_resolves_in_the_corpus_through_the_loader():
    bench = _bench()
    gold = bench.load_gold()
    # when each labelled record is looked up by file and position
    found = bench.resolve(gold, SHARED_MARC)
    # then it is there, with the labelled 001, and the catalogue's own reader agrees
    assert set(found) == {row.key for row in gold}
    by_file: dict[str, dict[int, str]] = {}
    for row in gold:
        by_file.setdefault(row.file, {})[row.position] = row.control_number
    for file, positions in by_file.items():
        read = {
            r.position: r for r in read_marc_file(SHARED_MARC / file) if r.position in positions
        }
        assert {p: r.record.local_id for p, r in read.items() if r.record} == positions, file


@needs_shared
def test_duplicates_are_found_among_real_marc_records_without_merging_editions():
    bench = _bench()
    # given the labelled real records (editions, reprints, translations, e-books, large print,
    # audio of Austen's novels from many libraries; edited and re-encoded copies of records)
    # when they are blocked, matched and clustered as the catalogue does
    result = bench.evaluate(corpus=SHARED_MARC)
    # then hardly a pair is merged wrongly and nearly every duplicate is found
    assert result["pairs"]["precision"] >= 0.995, result["pairs"]
    assert result["pairs"]["recall"] >= 0.97, result["pairs"]
    assert result["clusters"]["precision"] >= 0.99, result["clusters"]
    assert result["blocking_recall"] >= 0.99
