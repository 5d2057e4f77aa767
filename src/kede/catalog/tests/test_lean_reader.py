"""The lean reader (kede.catalog.ingest.lean and the readers that build it) against pymarc, the
reference, on every real ISO 2709 and MARCXML file of the shared corpus, and on hostile bytes.

pymarc reads each record on its own here: our framing gives the record's bytes, and
`pymarc.MARCReader(to_unicode=True, permissive=True)` reads the same bytes, so a broken record
earlier in a file does not shift the comparison. Where the two read a record differently on
purpose, the reason is named below and checked, not just allowed.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import logging
import warnings
from collections.abc import Iterator
from functools import cache

import pymarc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kede.catalog.ingest import DEFAULT_MAPPING, PRESETS, extract_bib, extract_holdings
from kede.catalog.ingest.bib import _clean
from kede.catalog.ingest.lean import Field, Record, as_lean, from_pymarc
from kede.catalog.ingest.readers import (
    FORMAT_ISO2709,
    FORMAT_MARCXML,
    _Reject,
    decode_iso2709,
    detect_format,
    read_iso2709,
    read_records,
)
from kede.catalog.marc import clean
from kede.catalog.tests.test_ingest_readers import PYMARC_DIFFERS, fields_of
from kede.catalog.tests.test_marc import SHARED_MARC

# ISO 2709 files with records we read otherwise than pymarc, on purpose, besides those in
# test_ingest_readers.PYMARC_DIFFERS (charset flags that lie, invalid UTF-8, MARC-8 numeric
# references, a Greek record that never switches back, control characters as codes):
ISO_DIFFERS = PYMARC_DIFFERS | {
    # a directory entry with tag "0 2": we drop that field with a warning, pymarc keeps it
    "test__bad_indicator.dat",
    # leader/09 says MARC-8 but the text is valid UTF-8: we read UTF-8 (with a warning),
    # pymarc reads the UTF-8 bytes as MARC-8 and gets mojibake
    "test__testunimarc.dat",
}
# Records pymarc reads and we reject: their text is Windows-1251 (or other single-byte
# text), neither UTF-8 nor MARC-8; pymarc turns it into MARC-8 garbage.
NEITHER_CHARSET = "neither UTF-8 nor MARC-8"


def _quiet() -> contextlib.AbstractContextManager:
    """pymarc logs odd indicators and prints MARC-8 characters it cannot map."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    stack.callback(logging.disable, logging.NOTSET)
    return stack


@cache
def corpus() -> tuple[tuple[str, str, bytes], ...]:
    """(name, format, bytes) of every ISO 2709 and MARCXML file, gzip undone."""
    files = []
    for path in sorted(SHARED_MARC.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        kind = detect_format(data[:8192])
        if kind in (FORMAT_ISO2709, FORMAT_MARCXML):
            files.append((path.name, kind, data))
    assert len(files) > 1000, "the shared real-data folder must be beside the checkout"
    return tuple(files)


def signature(record) -> tuple:
    """Leader, then every field: tag and data, or tag, indicators, (code, value) pairs."""
    return (str(record.leader), fields_of(record))


def iso_pairs() -> Iterator[tuple[str, object, pymarc.Record | None, bytes]]:
    """(file, our result, pymarc's record of the same bytes or None, the bytes) for every
    record position of every real ISO 2709 file that our framing delimits."""
    for name, kind, data in corpus():
        if kind != FORMAT_ISO2709:
            continue
        for result in read_records(data):
            head = data[result.offset : result.offset + 5] if result.offset is not None else b""
            if not head.isdigit():
                continue  # no record length to frame by: nothing for pymarc to read either
            chunk = data[result.offset : result.offset + int(head)]
            theirs = list(pymarc.MARCReader(chunk, to_unicode=True, permissive=True))
            yield name, result, theirs[0] if theirs else None, chunk


# --- ISO 2709 ---------------------------------------------------------------------------------


def test_every_real_iso2709_record_reads_field_by_field_as_pymarc_reads_it():
    compared = differing = bibs = 0
    with _quiet():
        for name, result, theirs, _chunk in iso_pairs():
            if theirs is None:
                continue  # pymarc cannot read it (we may: a junk leader byte, a lying length)
            if result.record is None:
                # then the only records pymarc reads and we refuse are in no charset at all
                assert NEITHER_CHARSET in result.error, (name, result.position, result.error)
                continue
            mine = result.record
            assert isinstance(mine, Record)
            if signature(mine) != signature(theirs):
                assert name in ISO_DIFFERS, (name, result.position)
                differing += 1
                continue
            compared += 1
            # and the same bibliographic data and holdings come out of both
            assert extract_bib(mine) == extract_bib(theirs), (name, result.position)
            assert extract_holdings(mine, DEFAULT_MAPPING) == extract_holdings(
                theirs, DEFAULT_MAPPING
            )
            bibs += 1
    assert compared > 6000 and bibs == compared
    assert differing < 40


def test_the_records_that_differ_on_purpose_differ_for_the_reasons_given():
    with _quiet():
        for name, result, theirs, _chunk in iso_pairs():
            if name not in ("test__bad_indicator.dat", "test__testunimarc.dat"):
                continue
            assert theirs is not None and result.record is not None
            if name == "test__bad_indicator.dat":
                assert any(
                    "not three letters or digits; field dropped" in w for w in result.warnings
                )
                dropped = [f for f in theirs.fields if not f.tag.isalnum()]
                assert [f.tag for f in dropped] == ["0 2"]
                kept = [f for f in fields_of(theirs) if f[0].isalnum()]
                assert fields_of(result.record) == kept
            else:
                assert result.encoding == "utf-8"
                assert any("the text is UTF-8; read as UTF-8" in w for w in result.warnings)


def test_decode_gives_the_record_read_records_gives_and_pymarc_round_trips():
    with _quiet():
        checked = 0
        for name, result, theirs, chunk in iso_pairs():
            if result.record is None:
                continue
            # decoding the record's bytes alone gives what the stream gave
            alone, encoding = decode_iso2709(chunk)
            assert signature(alone) == signature(result.record) and encoding == result.encoding
            # the cold paths: to pymarc and back, and pymarc's records brought in (OAI-PMH)
            assert signature(result.record.to_pymarc()) == signature(result.record)
            assert signature(from_pymarc(result.record.to_pymarc())) == signature(result.record)
            if theirs is not None and name not in ISO_DIFFERS:
                assert signature(as_lean(theirs)) == signature(theirs)
            checked += 1
    assert checked > 6500


# MARCXML files with a record we read otherwise than pymarc, and why.
XML_DIFFERS = {
    # a <record> left open with the next <record> inside it: pymarc's reader starts over at
    # the inner record (its leader and fields replace the outer's), we keep the outer record
    # as written; the inner one is not a child of the collection and is not read
    "zdb-solrmarc__examples__stanfordBlacklight__test__data__subjectTests.xml",
}

# --- MARCXML ----------------------------------------------------------------------------------


def test_every_real_marcxml_record_reads_as_pymarc_reads_it():
    """Where pymarc reads the file whole, record for record. We read on past what pymarc
    gives up on, and we refuse what it invents: a missing leader (pymarc makes up a blank
    one), a field whose tag is not three letters or digits (pymarc keeps "RELATED", pads "42"
    to "042"; we drop it with a warning)."""
    compared = 0
    with _quiet():
        for name, kind, data in corpus():
            if kind != FORMAT_MARCXML:
                continue
            try:
                theirs = pymarc.parse_xml_to_array(io.BytesIO(data))
            except Exception:  # noqa: S112 - pymarc gives up on the whole file
                continue
            ours = list(read_records(data))
            mine = [r for r in ours if r.record is not None]
            if len(mine) != len(theirs):
                refused = [r.error for r in ours if r.record is None]
                assert refused, name
                assert all(
                    "no leader" in e or "no MARC records" in e or "no XML element" in e
                    for e in refused
                ), (name, refused)
                continue
            for result, reference in zip(mine, theirs, strict=True):
                assert isinstance(result.record, Record)
                if signature(result.record) == signature(reference):
                    assert extract_bib(result.record) == extract_bib(reference), name
                    compared += 1
                    continue
                if name in XML_DIFFERS:
                    continue
                # then every difference is a field we dropped, and said so
                assert any("dropped" in w for w in result.warnings), name
                kept = iter(fields_of(reference))
                assert all(f in kept for f in fields_of(result.record)), name
                assert str(result.record.leader) == str(reference.leader), name
    assert compared > 3500


# --- the pymarc API the code base reads -------------------------------------------------------


def test_a_lean_record_answers_as_a_pymarc_record_does():
    # given a real record read both ways
    name, _kind, data = next(
        f for f in corpus() if f[0] == "test_support__data__test_data.utf8.mrc"
    )
    with _quiet():
        theirs = next(iter(pymarc.MARCReader(data, to_unicode=True, permissive=True)))
    [mine] = [r.record for r in read_records(data)][:1]
    assert name and mine is not None
    # then the calls the catalogue, dedup, serials and the pages make agree
    assert mine.get_fields("245", "100") and [f.tag for f in mine.get_fields("880", "245")] == [
        f.tag for f in theirs.get_fields("880", "245")
    ]
    for tag in ("001", "008", "245", "999"):
        assert (mine.get(tag) is None) == (theirs.get(tag) is None)
    title, reference = mine["245"], theirs["245"]
    assert title["a"] == reference["a"] and title.get("z") is None and "a" in title
    assert title.indicators == reference.indicators and title.indicator2 == reference.indicator2
    assert title.get_subfields("a", "b") == reference.get_subfields("a", "b")
    assert [tuple(s) for s in title] == [tuple(s) for s in reference.subfields]
    assert title.value() == reference.value() and str(title) == str(reference)
    assert mine["001"].data == theirs["001"].data and mine["001"].is_control_field()
    assert mine.as_dict() == theirs.as_dict() and mine.as_json() == theirs.as_json()
    assert mine.as_marc() == theirs.as_marc() and str(mine) == str(theirs)
    # and the edits the tests make work, on a copy
    other = copy.deepcopy(mine)
    other.remove_fields("001")
    other.add_ordered_field(pymarc.Field(tag="001", data="x1"), Field.control("003", "Kede"))
    other["245"].delete_subfield("a")
    other["245"].add_subfield("a", "New title", 0)
    assert [f.tag for f in other.fields[:2]] == ["001", "003"] and other["245"]["a"] == "New title"
    assert mine["001"].data == theirs["001"].data  # the original is untouched
    held = pymarc.Record()
    held.add_field(*mine.fields)
    assert held.as_marc()[24:] == mine.as_marc()[24:]  # pymarc can write lean fields


def test_control_fields_are_decided_by_tag_as_pymarc_decides():
    assert Field.control("245", "text").control_field is False  # pymarc: a data field
    assert Field.make("001", "1", "2", [("a", "x")]).control_field is True
    assert Field.make("245", "1", "0", [("", "no code"), ("ab", "long")]).parts == [
        " no code",
        "along",
    ]


def test_clean_without_regex_is_kede_catalog_marc_clean():
    with _quiet():
        for _name, result, _theirs, _chunk in list(iso_pairs())[::7]:
            if result.record is not None:
                for f in result.record.fields:
                    for p in f.parts:
                        assert _clean(p[1:]) == clean(p[1:])


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
@settings(max_examples=300, deadline=None)
def test_clean_agrees_on_any_text(text):
    assert _clean(text) == clean(text)


# --- hostile bytes ----------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read_whole(record: Record) -> None:
    """Everything the pipeline reads of a record, forced (subfields are split lazily)."""
    for f in record.fields:
        assert f.parts is not None
        str(f)
    extract_bib(record)
    extract_holdings(record, PRESETS["alma"])


@cache
def real_chunks() -> tuple[bytes, ...]:
    chunks = []
    with _quiet():
        for _name, result, _theirs, chunk in iso_pairs():
            if result.record is not None and len(chunk) < 4000:
                chunks.append(chunk)
    return tuple(chunks[::25])


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_give_a_record_or_a_precise_reason(data):
    for chunk in (data, b"%05d" % (len(data) + 5) + data):
        try:
            record, encoding = decode_iso2709(chunk)
        except _Reject as exc:
            assert str(exc)
        else:
            assert encoding in ("ascii", "utf-8", "marc-8")
            _read_whole(record)
        for result in read_iso2709(io.BytesIO(chunk)):
            assert (result.record is None) != (result.error == ""), result
            assert not result.error.startswith("internal error")


@FUZZ
@given(st.data())
def test_mutated_real_records_give_a_record_or_a_precise_reason(data):
    chunks = real_chunks()
    chunk = bytearray(data.draw(st.sampled_from(chunks)))
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(chunk) - 1))
        chunk[at] = data.draw(st.sampled_from([0x1D, 0x1E, 0x1F, 0x20, 0x30, 0x39, 0xC3, 0xE2]))
    with _quiet():
        results = list(read_records(bytes(chunk)))
    assert results
    for result in results:
        assert (result.record is None) != (result.error == ""), result
        assert not result.error.startswith("internal error"), result.error
        if result.record is not None:
            _read_whole(result.record)
