"""The simple loader on real records written by other libraries."""

from pathlib import Path

import pymarc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kede.catalog.marc import MarcError, bib_from_record, read_marc_file
from kede.demo import BUNDLED_MARC

SHARED_MARC = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "marc"
needs_shared = pytest.mark.skipif(
    not SHARED_MARC.is_dir(), reason="the shared real-data folder is not beside this checkout"
)


def test_bundled_real_records_read_with_titles_and_ids():
    results = [r for path in sorted(BUNDLED_MARC.glob("*.xml.gz")) for r in read_marc_file(path)]
    good = [r.record for r in results if r.record]
    assert len(good) > 600
    assert all(b.title and b.local_id for b in good)
    assert any(b.isbns for b in good) and any(b.issns for b in good)
    assert {"book", "serial"} <= {b.format for b in good}
    assert all(len(i) == 13 for b in good for i in b.isbns)


@needs_shared
def test_deliberately_broken_files_are_reported_record_by_record_and_reading_goes_on():
    # given files that real projects keep as broken fixtures
    broken = sorted(SHARED_MARC.glob("*/*bad*.mrc")) + sorted(SHARED_MARC.glob("*/*error*.mrc"))
    assert broken
    # when they are read
    outcomes = [r for path in broken for r in read_marc_file(path)]
    # then every bad record has a reason, and good ones in the same files still come through
    bad = [r for r in outcomes if r.record is None]
    assert bad and all(r.error for r in bad)
    assert any(r.record for r in outcomes)


@needs_shared
def test_cjk_records_keep_their_script():
    path = SHARED_MARC / "marc-to-argot" / "spec__data__unc__vern_isbn1.mrc"
    [result] = list(read_marc_file(path))
    assert result.record is not None
    assert result.record.isbns


def test_a_record_without_a_title_is_refused_with_the_reason():
    record = pymarc.Record()
    record.add_field(pymarc.Field(tag="001", data="x1"))
    with pytest.raises(MarcError, match="no title"):
        bib_from_record(record)


def test_xml_with_entities_is_refused(tmp_path):
    path = tmp_path / "evil.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<collection><record><datafield tag='245'><subfield code='a'>&x;</subfield>"
        "</datafield></record></collection>"
    )
    [result] = list(read_marc_file(path))
    assert result.record is None and "DTD" in result.error


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes_give_records_or_reasons_never_a_crash(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "f.mrc"
    path.write_bytes(data)
    for result in read_marc_file(path):
        assert (result.record is None) != (result.error == "")
