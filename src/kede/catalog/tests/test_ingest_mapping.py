"""Field mappings per source: validation, JSON, presets on real exports, preview."""

from __future__ import annotations

import json

import pymarc
import pytest

from kede.catalog.ingest.errors import MappingError
from kede.catalog.ingest.mapping import (
    PRESETS,
    FieldMapping,
    FieldRef,
    HoldingData,
    extract_holdings,
    local_id_of,
    preview,
    suggest_preset,
)
from kede.catalog.ingest.readers import read_records
from kede.catalog.tests.test_marc import SHARED_MARC, needs_shared


def shared_records(name: str) -> list[pymarc.Record]:
    path = SHARED_MARC / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the shared real-data folder")
    return [r.record for r in read_records(path.read_bytes()) if r.record is not None]


def record(*fields: tuple) -> pymarc.Record:
    out = pymarc.Record()
    out.leader = pymarc.Leader("00000nam a2200000 a 4500")
    for spec in fields:
        if isinstance(spec[1], str):
            out.add_field(pymarc.Field(spec[0], data=spec[1]))
        else:
            tag, subfields = spec
            out.add_field(
                pymarc.Field(
                    tag, pymarc.Indicators(" ", " "), [pymarc.Subfield(c, v) for c, v in subfields]
                )
            )
    return out


# --- specs and validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("001", FieldRef("001")),
        ("999$a", FieldRef("999", "a")),
        (" 035 $a ", FieldRef("035", "a")),
        ("852$h$i", FieldRef("852", "hi")),
        ({"field": "035$a", "prefix": "(Sirsi) "}, FieldRef("035", "a", "(Sirsi) ")),
    ],
)
def test_field_specs_parse(spec, expected):
    assert FieldRef.parse(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("99$a", "is not a field such as 001 or 035$a"),
        ("001$a", "001 is a control field; it has no subfields"),
        ("245", "245 needs a subfield, as in 245$a"),
        ("035$-", "'-' is not a subfield code"),
        ("035$aa", "a subfield code is given twice"),
        (42, "is not a field such as 001 or 035$a"),
        ({"field": "035$a", "prefix": "x" * 60}, "prefix must be text of at most 50"),
    ],
)
def test_bad_field_specs_say_what_is_wrong(spec, message):
    with pytest.raises(MappingError) as caught:
        FieldRef.parse(spec, setting="local_id")
    assert any(message in e and e.startswith("local_id") for e in caught.value.errors)


def test_a_bad_mapping_lists_every_problem_by_setting():
    with pytest.raises(MappingError) as caught:
        FieldMapping.from_dict(
            {
                "local_id": ["001", "999"],
                "holdings_tag": "008",
                "barcode": "p!",
                "copies": "ab",
                "item_tag": "876",
                "item_link": "8-0",
                "colour": "red",
            }
        )
    errors = caught.value.errors
    assert "colour: unknown setting" in errors
    assert "local_id: 999 needs a subfield, as in 999$a" in errors
    # the rest is checked once the specs are sound
    with pytest.raises(MappingError) as caught:
        FieldMapping.from_dict(
            {
                "holdings_tag": "008",
                "barcode": "p!",
                "copies": "ab",
                "item_tag": "876",
                "item_link": "8-0",
            }
        )
    assert set(caught.value.errors) == {
        "holdings_tag: 008 is a control field; holdings need a data field",
        "barcode: '!' is not a subfield code (a letter or digit)",
        "copies: give one subfield code",
        "item_barcode: give the item field's barcode subfield",
        "item_link: '8-0' is not written as holdings-code=item-code, such as 8=0",
    }


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_json(name):
    mapping = PRESETS[name]
    again = FieldMapping.from_dict(json.loads(json.dumps(mapping.to_dict())))
    assert again == mapping


def test_a_prefix_filter_picks_the_local_id_among_035s():
    mapping = FieldMapping(local_id=(FieldRef("035", "a", "(Sirsi)"), FieldRef("001")))
    rec = record(("001", "x9"), ("035", [("a", "(OCoLC)123")]), ("035", [("a", "(Sirsi) a444")]))
    assert local_id_of(rec, mapping) == "a444"
    assert local_id_of(record(("001", " x9 ")), mapping) == "x9"


# --- holdings -------------------------------------------------------------------------------


def test_standard_852_holdings_and_the_implicit_holding():
    rec = record(
        ("001", "b1"),
        ("050", [("a", "PL2658.E8"), ("b", "S5 1959")]),
        ("852", [("b", "MAIN"), ("c", "STACKS"), ("h", "PL2658.E8"), ("i", "S5"), ("p", "3001")]),
        ("852", [("b", "EAST"), ("c", "RARE"), ("p", "3002")]),
    )
    assert extract_holdings(rec, PRESETS["marc21-852"]) == [
        HoldingData("b1", "PL2658.E8 S5", "MAIN / STACKS", "3001", 1),
        HoldingData("b1", "PL2658.E8 S5 1959", "EAST / RARE", "3002", 1),  # call number from 050
    ]
    problems: list[str] = []
    bare = record(("001", "b2"), ("090", [("a", "DS735"), ("b", ".W695")]))
    assert extract_holdings(bare, PRESETS["marc21-852"], problems=problems) == [
        HoldingData("b2", "DS735 .W695", implicit=True)
    ]
    assert problems == ["no 852 field: counted as one copy without location"]


def test_items_follow_their_holdings_field_when_no_link_is_given():
    mapping = PRESETS["alma"].with_changes(item_link="")
    rec = record(
        ("001", "b1"),
        ("852", [("b", "A"), ("h", "K1")]),
        ("876", [("p", "i1")]),
        ("876", [("p", "i2")]),
        ("852", [("b", "B"), ("h", "K2")]),
        ("876", [("p", "i3")]),
    )
    assert [(h.location, h.barcode) for h in extract_holdings(rec, mapping)] == [
        ("A", "i1"),
        ("A", "i2"),
        ("B", "i3"),
    ]


def test_a_copy_count_subfield():
    mapping = PRESETS["alma-ava"]
    rec = record(
        ("001", "b1"), ("AVA", [("b", "MAIN"), ("c", "Stacks"), ("d", "K825"), ("f", "3")])
    )
    assert extract_holdings(rec, mapping) == [HoldingData("b1", "K825", "MAIN / Stacks", "", 3)]


@needs_shared
def test_alma_852_with_linked_876_items():
    [rec] = shared_records("bibdata-princeton/spec__fixtures__files__alma__full_dump__2.xml")
    assert extract_holdings(rec, PRESETS["alma"]) == [
        HoldingData("222222222", "MT182 .R6 1992", "MUS / music", "18635", 1)
    ]
    three = shared_records(
        "bibdata-princeton/spec__fixtures__files__alma__full_dump__three_records_one_bad_utf8.xml"
    )
    barcodes = [h.barcode for r in three for h in extract_holdings(r, PRESETS["alma"])]
    assert barcodes == ["32101108804400", "32101108835859", "32101108823012"]


@needs_shared
def test_symphony_999_items():
    [rec] = shared_records("searchworks/spec__fixtures__files__marcbib_xml.xml")
    assert extract_holdings(rec, PRESETS["symphony"]) == [
        HoldingData("aBibOnly", "DO1 .A8133 V.402", "STACKS / GREEN", "3610521071365", 1)
    ]


@needs_shared
def test_koha_952_items_and_biblionumber():
    [rec] = shared_records("mod-rs/service__src__test__resources__zresponsexml__koha-chatham.xml")
    assert rec["999"]["c"] == "100087"
    assert extract_holdings(rec, PRESETS["koha"]) == [
        HoldingData("100087", "580.1 G733v", "CHATHAM / CIRC2", "31437000069572", 1)
    ]


@needs_shared
def test_an_aleph_export_with_items_under_another_tag_is_one_edit_away():
    # MIT's Aleph records carry the Z30 item subfields under 876
    records = shared_records("marc4j/test__resources__pride-and-prejudice-fixed.mrc")
    rec = next(r for r in records if r.get("001") and r["001"].data == "000807790")
    mapping = PRESETS["aleph"].with_changes(holdings_tag="876")
    assert extract_holdings(rec, mapping) == [
        HoldingData("000807790", "PR4030 1983", "HUM / STACK", "39080013593071", 1)
    ]


@needs_shared
def test_the_suggested_preset_fits_each_system():
    cases = {
        "bibdata-princeton/spec__fixtures__files__alma__full_dump__2.xml": "alma",
        "searchworks/spec__fixtures__files__marcbib_xml.xml": "symphony",
        "mod-rs/service__src__test__resources__zresponsexml__koha-chatham.xml": "koha",
        "marc-to-argot/spec__data__duke__stats1.mrc": "iii-945",
    }
    for name, preset in cases.items():
        assert suggest_preset(shared_records(name)) == preset, name


@needs_shared
def test_preview_rows_show_what_a_mapping_makes_and_what_it_misses():
    records = shared_records(
        "bibdata-princeton/spec__fixtures__files__alma__full_dump__three_records_one_bad_utf8.xml"
    )
    rows = preview([None, *records], PRESETS["alma"], limit=2)
    assert [row.position for row in rows] == [2, 3]
    assert rows[0].title.startswith("Aleksandr Vedernikov") and rows[0].problems == ()
    assert rows[0].holdings[0].barcode == "32101108804400"
    # the wrong system's mapping shows at once: no items, one implicit copy per record
    wrong = preview(records, PRESETS["symphony"], limit=1)
    assert wrong[0].problems == ("no 999 field: counted as one copy without location",)
    assert (
        wrong[0].holdings[0].implicit and wrong[0].holdings[0].call_number == "ML422.V43 C44 2021"
    )
