"""The ingest readers: every format, told from content, on real files and on hostile bytes."""

from __future__ import annotations

import gzip
import io
import json
import unicodedata
from pathlib import Path

import pymarc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kede.catalog.ingest.readers import (
    FORMAT_CSV,
    FORMAT_ISO2709,
    FORMAT_MARC_JSON,
    FORMAT_MARCXML,
    RecordStream,
    detect_format,
    read_csv,
    read_iso2709,
    read_marc_json,
    read_marcxml,
    read_records,
)
from kede.catalog.tests.test_marc import SHARED_MARC, needs_shared


def shared(name: str) -> bytes:
    path = SHARED_MARC / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the shared real-data folder")
    return path.read_bytes()


def sample_record(
    title: str = "Shi ji", vernacular: str = "史記", local_id: str = "b1"
) -> pymarc.Record:
    record = pymarc.Record()
    record.leader = pymarc.Leader("00000nam a2200000 a 4500")
    record.add_field(pymarc.Field("001", data=local_id))
    record.add_field(pymarc.Field("008", data="990101s1959    cc            000 0 chi d"))
    record.add_field(
        pymarc.Field(
            "245",
            pymarc.Indicators("1", "0"),
            [pymarc.Subfield("6", "880-01"), pymarc.Subfield("a", title)],
        )
    )
    record.add_field(
        pymarc.Field(
            "880",
            pymarc.Indicators("1", "0"),
            [pymarc.Subfield("6", "245-01/$1"), pymarc.Subfield("a", vernacular)],
        )
    )
    return record


def iso(*records: pymarc.Record) -> bytes:
    return b"".join(r.as_marc() for r in records)


def marcxml(*records: pymarc.Record, namespace: bool = True) -> bytes:
    body = b"".join(pymarc.record_to_xml(r, namespace=False) for r in records)
    ns = b' xmlns="http://www.loc.gov/MARC21/slim"' if namespace else b""
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<collection'
        + ns
        + b">\n"
        + body
        + b"\n</collection>\n"
    )


def titles(results) -> list[str]:
    return [r.record["245"]["a"] if r.record else f"ERROR: {r.error}" for r in results]


def well_formed(results) -> list:
    """Every result is a record or a reason, never both, never an internal error."""
    results = list(results)
    for result in results:
        assert (result.record is None) != (result.error == ""), result
        assert not result.error.startswith("internal error"), result.error
        assert result.position >= 1
    return results


# --- format detection -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (iso(sample_record()), FORMAT_ISO2709),
        (marcxml(sample_record()), FORMAT_MARCXML),
        (b"\xef\xbb\xbf  <record/>", FORMAT_MARCXML),
        (sample_record().as_json().encode(), FORMAT_MARC_JSON),
        (b"[" + sample_record().as_json().encode() + b"]", FORMAT_MARC_JSON),
        ("local_id,title,author\r\nb1,史记,司马迁\r\n".encode(), FORMAT_CSV),
        ("题名;著者\n史记;司马迁\n".encode("gb18030"), FORMAT_CSV),
    ],
)
def test_the_format_is_told_by_content_gzip_or_not(data, expected):
    assert RecordStream(data).format == expected
    assert RecordStream(gzip.compress(data)).format == expected


def test_unknown_and_empty_content_is_one_rejection_with_the_reason():
    [unknown] = well_formed(read_records(b"%PDF-1.7 this is not a catalogue"))
    assert "unrecognised format" in unknown.error
    [empty] = well_formed(read_records(b""))
    assert empty.error == "the file is empty"


# --- ISO 2709 -------------------------------------------------------------------------------


def test_a_broken_length_is_rejected_and_reading_resumes_at_the_next_terminator():
    # given three records, the second with a wrong length in its leader
    good1, bad, good2 = (iso(sample_record(f"Title {n}", local_id=f"b{n}")) for n in (1, 2, 3))
    bad = b"%05d" % (len(bad) + 7) + bad[5:]
    # when the file is read
    results = well_formed(read_records(good1 + bad + good2))
    # then the first and third are read and the second is rejected, saying what is wrong
    assert titles(results)[0] == "Title 1" and titles(results)[2] == "Title 3"
    assert results[1].record is None
    assert f"record length of {len(bad) + 7} bytes" in results[1].error
    assert results[1].offset == len(good1) and results[1].position == 2


def test_a_broken_directory_is_rejected_with_the_entry_named():
    data = bytearray(iso(sample_record()))
    directory_entry_2 = 24 + 12
    data[directory_entry_2 + 3 : directory_entry_2 + 7] = b"0999"  # field length past the end
    [result] = well_formed(read_records(bytes(data)))
    assert "directory entry 2 (tag 008)" in result.error and "runs past the end" in result.error


def test_a_truncated_file_keeps_what_came_before_the_cut():
    data = iso(sample_record("One"), sample_record("Two"))
    results = well_formed(read_records(data[:-40]))
    assert titles(results)[0] == "One"
    assert "the file ends inside a record" in results[1].error


def test_utf8_records_that_say_marc8_and_marc8_records_that_say_utf8_are_read_in_their_real_set():
    # given a UTF-8 record whose leader/09 says MARC-8
    record = sample_record("Étude", "東京")
    data = bytearray(record.as_marc())
    data[9:10] = b" "
    [lying_utf8] = well_formed(read_records(bytes(data)))
    # then it is read as UTF-8, with a warning
    assert lying_utf8.record["245"]["a"] == "Étude" and lying_utf8.encoding == "utf-8"
    assert any("says MARC-8 but the text is UTF-8" in w for w in lying_utf8.warnings)
    # given a MARC-8 record (ANSEL: acute accent 0xE2 before the letter) whose leader says UTF-8
    marc8 = bytearray(sample_record("XXtude", "x").as_marc())
    at = marc8.index(b"XXtude")
    marc8[at : at + 2] = b"\xe2E"
    [lying_marc8] = well_formed(read_records(bytes(marc8)))
    assert lying_marc8.record["245"]["a"] == "Étude" and lying_marc8.encoding == "marc-8"
    assert any("says UTF-8 but the text is MARC-8" in w for w in lying_marc8.warnings)


def test_text_in_neither_utf8_nor_marc8_is_rejected_with_where():
    # given a record in Windows-1251 (Cyrillic), neither UTF-8 nor MARC-8
    record = sample_record("x" * 20, "y")
    data = bytearray(record.as_marc())
    at = data.index(b"x" * 20)
    data[at : at + 20] = "Пушкин Александр Серг".encode("cp1251")[:20]
    data[9:10] = b" "
    [result] = well_formed(read_records(bytes(data)))
    assert "neither UTF-8 nor MARC-8" in result.error and "(field 245)" in result.error


@needs_shared
def test_marc8_files_become_proper_unicode():
    results = well_formed(read_records(shared("marc4j/test__resources__cyrillic_capital_e.mrc")))
    first = results[0].record
    assert results[0].encoding == "marc-8"
    vernacular = next(f for f in first.get_fields("880") if f["6"].startswith("245"))
    assert vernacular["a"].startswith("Вор, шпион и убийца")
    assert first["100"]["a"].startswith("Buĭda, I︠U︡riĭ")  # composed, with the ligature halves


@needs_shared
def test_marc8_numeric_character_references_become_characters():
    # given the same Greek record as MARC-8, where LC's lossless conversion wrote the letters
    # MARC-8 has no code for as "&#x03AC;" (an acute on the "&"), and as UTF-8 MARCXML
    raw = shared("marc4j/test__resources__greekmissingcharsetchange.mrc")
    assert b"&#x0397;" in raw
    marc8 = well_formed(read_records(raw))[1].record
    utf8 = well_formed(read_records(shared("marc4j/test__resources__OCLC_814388508.xml")))[0].record
    # then both read the same text
    for tag in ("245", "260", "700"):
        linked = next(f for f in marc8.get_fields("880") if f["6"].startswith(tag))
        expected = next(f for f in utf8.get_fields("880") if f["6"].startswith(tag))
        assert linked["a"] == unicodedata.normalize("NFC", expected["a"]), tag
    assert "&#x" not in str(marc8)


@needs_shared
def test_structurally_broken_records_in_real_files_are_rejected_and_the_rest_read():
    # given real files kept as broken fixtures by the projects that wrote them
    cases = {
        "marc4j/test__resources__bad_hathi_records.mrc": "no record terminator",
        "pymarc/test__bad_records.mrc": "base address",
        "marc4j/test__resources__pride-and-prejudice-with-many-errors.mrc": (
            "not a whole number of 12-byte entries"
        ),
        "catmandu-marc/t__bu_bibs.mrc": "counted characters, not bytes",
    }
    for name, reason in cases.items():
        results = well_formed(read_records(shared(name)))
        rejected = [r for r in results if r.record is None]
        # then each file has rejections saying what is wrong, and readable records besides
        assert any(reason in r.error for r in rejected), (name, [r.error for r in rejected])
        assert any(r.record is not None for r in results), name
    many = well_formed(
        read_records(shared("marc4j/test__resources__pride-and-prejudice-with-many-errors.mrc"))
    )
    assert (
        sum(r.record is None for r in many) == 16 and sum(r.record is not None for r in many) > 350
    )


@needs_shared
def test_a_junk_byte_in_leader_22_is_repaired_not_fatal():
    # Stanford's test records have 0xED where MARC21 fixes leader/20-23 as "4500"; pymarc
    # refuses them all. The structure is sound, so they are read, with a warning.
    results = well_formed(
        read_records(shared("stanford-solr-marc/stanford-sw__test__data__idTests.mrc"))
    )
    assert len(results) == 6 and all(r.record is not None for r in results)
    assert all(any("leader/22" in w for w in r.warnings) for r in results)
    assert str(results[0].record.leader).endswith("4500")


@needs_shared
def test_every_file_in_the_corpus_gives_records_or_reasons():
    read = rejected = 0
    for path in sorted(SHARED_MARC.rglob("*")):
        if path.is_file():
            results = well_formed(read_records(path.read_bytes()))
            assert results, path.name
            read += sum(r.record is not None for r in results)
            rejected += sum(r.record is None for r in results)
    assert read > 11000
    assert 100 < rejected < 300


# Files where we read some records otherwise than pymarc, on purpose: their charset flag lies
# (UTF-8 that says MARC-8 and back), their UTF-8 is invalid, MARC-8 writes characters as
# numeric references, a Greek record never switches back to the default set, subfield codes or
# indicators are control characters. The tests above pin each kind.
PYMARC_DIFFERS = {
    "test__resources__bad-characters-in-various-fields.mrc",
    "test__resources__greekmissingcharsetchange.mrc",
    "test__resources__not_unimarc_errors_3.mrc",
    "test__utf8_invalid.mrc",
    "test__utf8_without_leader_flag.dat",
    "core__test__data__nonlatinscripts.mrc",
    "stanford-sw__test__data__authorTests.mrc",
    "test__test_support__bad_subfield_code.marc",
    "zdb-solrmarc__examples__stanfordBlacklight__test__data__authorTests.mrc",
    "zdb-solrmarc__test__data__nonlatinscripts.mrc",
}


def fields_of(record: pymarc.Record) -> list:
    return [
        (f.tag, f.indicators and tuple(f.indicators), [(s.code, s.value) for s in f.subfields])
        if not f.is_control_field()
        else (f.tag, f.data)
        for f in record.fields
    ]


@pytest.mark.filterwarnings("ignore")
def test_every_real_iso2709_record_reads_as_pymarc_reads_it(capsys):
    """pymarc is the reference: on every record of every real ISO 2709 file that it reads,
    our reader gives the same leader, fields, indicators and subfields (the text converted
    from MARC-8 alike)."""
    compared = 0
    for path in sorted(SHARED_MARC.rglob("*")):
        data = path.read_bytes() if path.is_file() else b""
        if path.name in PYMARC_DIFFERS or detect_format(data[:8192]) != FORMAT_ISO2709:
            continue
        try:
            theirs = list(pymarc.MARCReader(data, to_unicode=True, permissive=True))
        except Exception:  # noqa: S112 - pymarc gives up on the file: nothing to compare
            continue
        ours = list(read_records(data))
        if len(ours) != len(theirs):
            continue  # broken framing: each side resynchronises its own way
        for mine, reference in zip(ours, theirs, strict=True):
            if mine.record is None or reference is None:
                continue
            assert fields_of(mine.record) == fields_of(reference), (path.name, mine.position)
            compared += 1
    capsys.readouterr()  # pymarc prints what it cannot convert
    assert compared > 5500


# --- MARCXML --------------------------------------------------------------------------------


def test_marcxml_namespaced_unnamespaced_prefixed_and_single_records_are_read():
    record = sample_record("Lunyu", "論語")
    prefixed = pymarc.record_to_xml(record, namespace=True).replace(b"<record", b"<marc:record", 1)
    for data in (
        marcxml(record),
        marcxml(record, namespace=False),
        pymarc.record_to_xml(record, namespace=True),
        b'<x:collection xmlns:x="http://www.loc.gov/MARC21/slim">'
        + pymarc.record_to_xml(record).replace(b"<", b"<x:").replace(b"<x:/", b"</x:")
        + b"</x:collection>",
    ):
        [result] = well_formed(read_records(data))
        assert result.record["245"]["a"] == "Lunyu", data[:80]
        assert result.record.get_fields("880")[0]["a"] == "論語"
    assert prefixed  # a prefix on the record alone is covered by the x: case above


def test_records_inside_oai_pmh_are_read_and_a_broken_one_is_skipped_in_context():
    # given an OAI-PMH page whose second record is not well-formed
    def wrap(body: bytes) -> bytes:
        return (
            b"<record><header><identifier>x</identifier></header><metadata>"
            + body
            + b"</metadata></record>\n"
        )

    good = [pymarc.record_to_xml(sample_record(f"T{n}"), namespace=True) for n in (1, 2, 3)]
    broken = good[1].replace(b"<subfield", b"<subfield <<", 1)
    page = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        b"<ListRecords>\n"
        + wrap(good[0])
        + wrap(broken)
        + wrap(good[2])
        + b"</ListRecords></OAI-PMH>\n"
    )
    # when it is read
    results = well_formed(read_records(page))
    # then the first and third MARC records come through and the second is rejected
    assert titles(results)[0] == "T1" and titles(results)[-1] == "T3"
    assert [r.record is None for r in results] == [False, True, False]
    assert "not well-formed XML" in results[1].error and results[1].line == 4


@needs_shared
def test_a_record_that_is_not_well_formed_is_rejected_and_the_next_one_read():
    results = well_formed(read_records(shared("ruby-marc/test__three-records-second-bad.xml")))
    assert [r.record is not None for r in results] == [True, False, True]
    assert results[1].line == 72 and "line 72" in results[1].error


@pytest.mark.parametrize(
    "doctype",
    [
        b'<!DOCTYPE collection [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        b'<!DOCTYPE collection [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        b'<!DOCTYPE collection SYSTEM "http://example.org/marc.dtd">',
        b"<!DOCTYPE collection>",
    ],
)
def test_xml_with_a_dtd_is_refused_and_no_entity_is_expanded(doctype):
    body = marcxml(sample_record("&x;&b;")).replace(b"&amp;x;&amp;b;", b"&x;&b;")
    data = body.replace(b"\n<collection", b"\n" + doctype + b"\n<collection", 1)
    results = well_formed(read_records(data))
    assert len(results) == 1 and results[0].record is None
    assert "refused" in results[0].error and "DTD" in results[0].error


def test_an_undeclared_entity_is_a_rejection_not_an_expansion():
    data = marcxml(sample_record("Title")).replace(b"Title", b"&secret;")
    [result] = well_formed(read_records(data))
    assert result.record is None and "secret" in result.error


def test_fields_with_broken_tags_are_dropped_with_a_warning_and_the_record_kept():
    data = marcxml(sample_record("Kept")).replace(b'tag="008"', b'tag="RELATED"')
    [result] = well_formed(read_records(data))
    assert result.record["245"]["a"] == "Kept" and result.record.get("008") is None
    assert any("'RELATED'" in w for w in result.warnings)


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int = -1) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


@pytest.mark.parametrize(
    "make",
    [
        lambda records: iso(*records),
        lambda records: marcxml(*records),
        lambda records: b"\n".join(r.as_json().encode() for r in records),
    ],
)
def test_big_files_are_streamed_not_read_whole(make):
    # given a file of a few megabytes
    records = [sample_record(f"Title {n}", local_id=f"b{n}") for n in range(12000)]
    stream = CountingStream(make(records))
    size = len(stream.getvalue())
    # when the first record is taken
    first = next(read_records(stream))
    # then only the first block or so has been read
    assert first.record is not None
    assert stream.taken < size / 2


# --- MARC-in-JSON ---------------------------------------------------------------------------


def test_marc_in_json_single_list_and_lines_with_a_broken_line_in_the_middle():
    one, two = sample_record("One").as_json(), sample_record("Two").as_json()
    assert titles(read_records(one.encode())) == ["One"]
    assert titles(read_records(f"[{one},\n{two}]".encode())) == ["One", "Two"]
    results = well_formed(read_records(f"{one}\n{{broken\n{two}\n".encode()))
    assert titles(results)[0] == "One" and titles(results)[2] == "Two"
    assert results[1].line == 2 and "not valid JSON" in results[1].error


def test_a_json_record_with_a_malformed_field_is_rejected_with_the_field_named():
    data = json.loads(sample_record().as_json())
    data["fields"][2]["245"]["subfields"] = "not a list"
    [result] = well_formed(read_records(json.dumps(data).encode()))
    assert result.error == "fields[3] (245): 'subfields' is not a list"


@needs_shared
def test_searchworks_json_fixtures_marc_in_json_and_folio_records_read_cocina_refused():
    lines = well_formed(read_records(shared("searchworks/spec__fixtures__files__titleTests.jsonl")))
    assert len(lines) == 59 and all(r.record is not None for r in lines)
    [single] = well_formed(read_records(shared("searchworks/spec__fixtures__files__444.json")))
    assert single.record["001"].data == "a444"
    [folio] = well_formed(read_records(shared("searchworks/spec__fixtures__files__a12451243.json")))
    assert folio.record is not None and folio.record.get("245") is not None
    [cocina] = well_formed(
        read_records(shared("searchworks/spec__fixtures__files__bc559yb0972.json"))
    )
    assert "not a MARC-in-JSON record" in cocina.error


# --- fuzzing --------------------------------------------------------------------------------

SEED = sample_record("Lunyu : zhu shu", "論語注疏")
CSV_SEED = "local_id,title,year,isbn,copies\nb1,史记,1959,7101003044,2\nb2,Lunyu,x,,0\n"
SEEDS = {
    read_iso2709: iso(SEED, sample_record("Second")),
    read_marcxml: marcxml(SEED, sample_record("Second")),
    read_marc_json: ("[" + SEED.as_json() + "," + sample_record("Second").as_json() + "]").encode(),
    read_csv: CSV_SEED.encode(),
}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("reader", list(SEEDS), ids=lambda r: r.__name__)
@FUZZ
@given(data=st.binary(max_size=2000))
def test_readers_never_crash_on_random_bytes(reader, data):
    well_formed(reader(io.BytesIO(data)))


@pytest.mark.parametrize("reader", list(SEEDS), ids=lambda r: r.__name__)
@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255), st.sampled_from("rid")),
        max_size=12,
    )
)
def test_readers_never_crash_on_damaged_real_shaped_files(reader, edits):
    data = bytearray(SEEDS[reader])
    for where, byte, how in edits:
        at = int(where * len(data)) if data else 0
        if how == "r" and data:
            data[at] = byte
        elif how == "i":
            data.insert(at, byte)
        elif data:
            del data[at]
    well_formed(reader(io.BytesIO(bytes(data))))


@FUZZ
@given(data=st.binary(max_size=3000))
def test_any_upload_gives_records_or_reasons(data):
    well_formed(read_records(data))
    well_formed(read_records(gzip.compress(data)[: len(data) // 2 + 10]))


def test_unreadable_gzip_is_reported_after_what_could_be_read():
    data = gzip.compress(iso(*(sample_record(f"T{n}", local_id=f"b{n}") for n in range(3000))))
    results = well_formed(read_records(data[: len(data) // 2]))
    assert results[0].record is not None
    assert "reading stopped" in results[-1].error


def test_a_size_limit_stops_reading_with_a_reason():
    data = iso(*(sample_record(f"T{n}", local_id=f"b{n}") for n in range(50)))
    results = well_formed(read_records(data, max_bytes=len(data) // 2))
    assert "larger than the limit" in results[-1].error
    assert 0 < sum(r.record is not None for r in results) < 50


def test_reader_functions_take_plain_streams(tmp_path: Path):
    path = tmp_path / "upload.mrc"
    path.write_bytes(iso(sample_record("From a file")))
    with path.open("rb") as handle:
        assert titles(read_records(handle)) == ["From a file"]
