"""Loads into the union catalogue: members' files in, works with merged holdings out, kept
right as records change and go."""

from __future__ import annotations

import copy
import gzip

import pymarc
import pytest

from kede.catalog import services
from kede.catalog.indexing import rebuild
from kede.catalog.ingest import CSV_TEMPLATE_HEADER, HUMANITIES_SOCIAL_SCIENCES
from kede.catalog.ingest.readers import read_records
from kede.catalog.models import CatalogRecord, Holding, Work
from kede.catalog.selectors import works_search
from kede.demo import BUNDLED_MARC
from kede.ill.models import Request

pytestmark = pytest.mark.django_db


def real_records(n: int = 40) -> list[pymarc.Record]:
    """Records of the Library of Congress set bundled with Kede (records nobody here wrote)."""
    path = sorted(BUNDLED_MARC.glob("*.xml.gz"))[0]
    found = [r.record for r in read_records(gzip.decompress(path.read_bytes())) if r.record]
    return [r for r in found if r.get("245") and r.get("001")][:n]


def real_books(n: int) -> list[pymarc.Record]:
    """Monographs only: a serial's ISSN alone says two records are one serial."""
    return [r for r in real_records(400) if str(r.leader)[7] == "m"][:n]


def as_file(records: list[pymarc.Record]) -> bytes:
    return b"".join(r.as_marc() for r in records)


def edited(record: pymarc.Record, local_id: str, **changes) -> pymarc.Record:
    """The same record as another library catalogued it: its own id, its own holding."""
    other = copy.deepcopy(record)
    other.remove_fields("001")
    other.add_ordered_field(pymarc.Field(tag="001", data=local_id))
    if "title" in changes:
        title = other["245"]
        title.delete_subfield("a")
        title.add_subfield("a", changes["title"], 0)
    if changes.get("drop_isbn"):
        other.remove_fields("020")
    if changes.get("deleted"):
        other.leader = other.leader[:5] + "d" + other.leader[6:]
    return other


def source(network, code):
    return services.source_add(institution=network[code], name=f"{code} catalogue")


def work_of(src, local_id) -> Work:
    return CatalogRecord.objects.get(source=src, local_id=local_id).work


def test_two_libraries_records_of_one_book_become_one_work_with_two_holdings(network):
    records = real_records(20)
    pku, fdu = source(network, "PKU"), source(network, "FDU")
    first = services.catalogue_load(source=pku, data=as_file(records), file_name="pku.mrc")
    # FDU sends the same books under its own ids, some without their ISBN
    theirs = [
        edited(r, f"fdu-{i}", drop_isbn=i % 2 == 0) for i, r in enumerate(records)
    ]  # fmt: skip
    second = services.catalogue_load(source=fdu, data=as_file(theirs), file_name="fdu.mrc")
    assert first.works_created == 20
    assert second.works_created == 0
    for i, record in enumerate(records):
        work = work_of(pku, record["001"].data)
        assert work == work_of(fdu, f"fdu-{i}")
        assert sorted(work.holdings.values_list("institution__code", flat=True)) == ["FDU", "PKU"]


def test_loading_the_same_file_again_changes_no_work(network):
    records = real_records(15)
    pku = source(network, "PKU")
    services.catalogue_load(source=pku, data=as_file(records))
    before = sorted(CatalogRecord.objects.values_list("local_id", "work_id"))
    again = services.catalogue_load(source=pku, data=as_file(records))
    assert (again.works_created, again.works_merged, again.works_split) == (0, 0, 0)
    assert again.records_updated == 15
    assert sorted(CatalogRecord.objects.values_list("local_id", "work_id")) == before


def test_a_record_changed_into_another_book_leaves_its_work(network):
    [record] = real_books(1)
    pku, fdu = source(network, "PKU"), source(network, "FDU")
    services.catalogue_load(source=pku, data=as_file([record]))
    services.catalogue_load(source=fdu, data=as_file([edited(record, "f1")]))
    shared = work_of(pku, record["001"].data)
    assert work_of(fdu, "f1") == shared
    # FDU corrects its record: it was a different book all along
    corrected = edited(record, "f1", title="Zoological notes from the Yangtze basin",
                       drop_isbn=True)  # fmt: skip
    corrected.remove_fields("010", "035", "100", "260", "264")
    run = services.catalogue_load(source=fdu, data=as_file([corrected]))
    assert run.works_split == 1
    assert work_of(fdu, "f1") != work_of(pku, record["001"].data)
    holders = work_of(pku, record["001"].data).holdings.values_list("institution__code", flat=True)
    assert list(holders) == ["PKU"]


def test_a_record_that_links_two_works_merges_them_and_requests_follow(network):
    [record] = real_books(1)
    pku, fdu, scu = source(network, "PKU"), source(network, "FDU"), source(network, "SCU")
    # PKU's record and a damaged FDU record (title typo, no ISBN) land in separate works...
    services.catalogue_load(source=pku, data=as_file([record]))
    title = record["245"]["a"]
    garbled = edited(record, "f1", title="Proceedings " + title[::-1], drop_isbn=True)
    garbled.remove_fields("010", "035", "100", "700")
    services.catalogue_load(source=fdu, data=as_file([garbled]))
    a, b = work_of(pku, record["001"].data), work_of(fdu, "f1")
    if a == b:
        pytest.skip("the matcher already joins these two")
    request = Request.objects.create(
        reader=network.readers["USST"], requester=network["USST"], title="x", work=b
    )
    # ...until FDU corrects its record: it is the same book again, and the works merge
    run = services.catalogue_load(source=fdu, data=as_file([edited(record, "f1")]))
    assert run.works_merged == 1
    assert work_of(fdu, "f1") == work_of(pku, record["001"].data)
    request.refresh_from_db()
    assert request.work == work_of(pku, record["001"].data)
    assert scu  # a third library, not involved


def test_a_deleted_record_takes_its_holding_and_a_lone_work_with_it(network):
    records = real_records(2)
    pku = source(network, "PKU")
    services.catalogue_load(source=pku, data=as_file(records))
    gone = records[0]["001"].data
    work_id = work_of(pku, gone).id
    run = services.catalogue_load(
        source=pku, data=as_file([edited(records[0], gone, deleted=True)])
    )
    assert run.records_deleted == 1
    assert not Holding.objects.filter(institution=network["PKU"], local_id=gone).exists()
    assert not Work.objects.filter(id=work_id).exists()
    assert Work.objects.filter(id=work_of(pku, records[1]["001"].data).id).exists()


def test_bad_records_are_listed_with_their_reason_and_the_load_goes_on(network):
    good = real_records(3)
    broken = b"00042nam  2200025   4500\x1e\x1d"  # a leader and nothing else
    untitled = copy.deepcopy(good[0])
    untitled.remove_fields("245", "001")
    untitled.add_ordered_field(pymarc.Field(tag="001", data="no-title-1"))
    data = good[0].as_marc() + broken + untitled.as_marc() + good[1].as_marc() + good[2].as_marc()
    run = services.catalogue_load(source=source(network, "SCU"), data=data, file_name="x.mrc")
    assert run.status == "done"
    assert run.records_added == 3
    reasons = {r["category"] for r in run.report["rejected"]}
    assert {"no-title"} <= reasons
    assert run.report["outcomes"]["rejected"] == len(run.report["rejected"]) >= 2
    assert all(r["reason"] for r in run.report["rejected"])


def test_a_small_library_loads_the_csv_template_and_its_books_are_found(network):
    csv = (
        CSV_TEMPLATE_HEADER
        + "c1,史记,司马迁,中华书局,1959,9787101003048,,,chi,K204.2/1,古籍阅览室,"
        + "30001234;30001235,2\r\n"
        + 'c2,The making of the English working class,"Thompson, E. P.",Gollancz,1963,'
        + "9780394703220,,,eng,HD8389 .T5,Stacks,,1\r\n"
    ).encode()
    run = services.catalogue_load(source=source(network, "SASS"), data=csv, file_name="t.csv")
    assert run.records_added == 2
    # the second is a book the consortium already has: SASS becomes one more holder
    assert network.work.holdings.filter(institution__code="SASS").exists()
    holding = Holding.objects.get(institution__code="SASS", local_id="c1")
    assert (holding.copies, holding.location) == (2, "古籍阅览室")
    rebuild()
    assert [w.title for w in works_search("史記").works] == ["史记"]  # traditional finds simplified


def chinese_book(local_id: str, title: str, clc: str) -> pymarc.Record:
    record = pymarc.Record(force_utf8=True)
    record.leader = record.leader[:6] + "am" + record.leader[8:]
    record.add_field(
        pymarc.Field(tag="001", data=local_id),
        pymarc.Field(tag="084", indicators=[" ", " "],
                     subfields=[pymarc.Subfield("a", clc), pymarc.Subfield("2", "clc")]),
        pymarc.Field(tag="245", indicators=["0", "0"], subfields=[pymarc.Subfield("a", title)]),
    )  # fmt: skip
    return record


def test_the_consortium_scope_rejects_what_it_does_not_collect(network):
    services.scope_set(consortium=network["PKU"].region.consortium,
                       rule=HUMANITIES_SOCIAL_SCIENCES.to_dict())  # fmt: skip
    books = [chinese_book("s1", "史记", "K204.2"), chinese_book("s2", "高等数学", "O13")]
    run = services.catalogue_load(source=source(network, "SASS"), data=as_file(books))
    assert run.records_added == 1
    [rejected] = run.report["rejected"]
    assert (rejected["local_id"], rejected["category"]) == ("s2", "out-of-scope")
    assert "O13" in rejected["reason"]


def test_a_bad_mapping_is_refused_with_its_reason(network):
    src = source(network, "PKU")
    with pytest.raises(services.ValidationError):
        services.source_set_mapping(source=src, mapping={"local_id": "banana"})
    with pytest.raises(services.ValidationError):
        services.source_set_mapping(source=src, mapping="no-such-preset")


def published_later(record: pymarc.Record, years: int) -> pymarc.Record:
    """The same record dated `years` later, without its ISBN: a later printing catalogued as
    a new edition would be."""
    later = copy.deepcopy(record)
    later.remove_fields("020")
    fixed = later["008"]
    year = int(fixed.data[7:11])
    fixed.data = fixed.data[:7] + str(year + years) + fixed.data[11:]
    for field in later.get_fields("260", "264"):
        for code in ("c",):
            for value in field.get_subfields(code):
                field.delete_subfield(code)
                field.add_subfield(code, value.replace(str(year), str(year + years)))
    return later


def test_a_record_changed_since_another_load_met_it_is_compared_as_it_now_is(network):
    # a book whose year is known, so a later date makes it another publication
    [record] = [r for r in real_books(60) if r["008"] and r["008"].data[7:11].isdigit()][:1]
    pku, scu, whu = source(network, "PKU"), source(network, "SCU"), source(network, "WHU")
    services.catalogue_load(source=pku, data=as_file([record]))
    # SCU's copy, without the ISBN, is matched against PKU's record and joins its work
    services.catalogue_load(source=scu, data=as_file([edited(record, "s1", drop_isbn=True)]))
    assert work_of(scu, "s1") == work_of(pku, record["001"].data)
    # PKU's record is corrected: it is a printing twenty years later
    run = services.catalogue_load(source=pku, data=as_file([published_later(record, 20)]))
    assert run.works_split == 1
    # WHU's copy of the first printing joins SCU's, not PKU's as PKU's record was before
    services.catalogue_load(source=whu, data=as_file([edited(record, "w1", drop_isbn=True)]))
    assert work_of(whu, "w1") == work_of(scu, "s1") != work_of(pku, record["001"].data)
