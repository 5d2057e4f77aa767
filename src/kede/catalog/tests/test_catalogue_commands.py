"""`kede catalog …`: sources, loads with their reports, harvests, the index and the scope."""

from __future__ import annotations

import functools
import gzip
import io
import json
from datetime import UTC, datetime

import pymarc
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kede.catalog import oai
from kede.catalog.ingest.readers import read_records
from kede.catalog.models import CatalogRecord, Holding, IngestRun, ScopePolicy, Source
from kede.catalog.tests.oai_server import LiveServer, MarcRepository, marcxml_records, oai_app
from kede.catalog.tests.oai_server import stamped as stamped_times
from kede.demo import BUNDLED_MARC

pytestmark = pytest.mark.django_db


def kede_catalog(*args: str) -> str:
    out = io.StringIO()
    call_command("catalog", *args, stdout=out, stderr=out)
    return out.getvalue()


def real_records(n: int) -> list[pymarc.Record]:
    path = sorted(BUNDLED_MARC.glob("*.xml.gz"))[0]
    found = [r.record for r in read_records(gzip.decompress(path.read_bytes())) if r.record]
    return [r for r in found if r.get("245") and r.get("001")][:n]


@pytest.fixture
def marc_file(tmp_path):
    """Five real records and one without a title, as an ISO 2709 file."""
    records = real_records(5)
    untitled = pymarc.Record(force_utf8=True)
    untitled.add_field(pymarc.Field(tag="001", data="untitled-1"))
    path = tmp_path / "members.mrc"
    path.write_bytes(b"".join(r.as_marc() for r in [*records[:3], untitled, *records[3:]]))
    return path


def test_add_source_and_list_sources(network, tmp_path):
    # given a mapping in a JSON file
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"name": "Our Koha", "holdings_tag": "952", "local_id": ["001"]}))
    # when an upload source and an OAI-PMH source are added
    kede_catalog("add-source", "usst", "--name", "USST export", "--mapping", str(mapping))
    out = kede_catalog(
        "add-source", "FDU", "--name", "FDU OAI", "--oai", "https://oai.example.org/oai",
        "--set", "books", "--set", "theses", "--mapping", "symphony",
    )  # fmt: skip
    # then both are stored as asked
    harvested = Source.objects.get(name="FDU OAI")
    assert out.startswith(f"{harvested.id}\tFDU\toai")
    assert (harvested.oai_prefix, harvested.oai_sets.split()) == ("marc21", ["books", "theses"])
    assert harvested.mapping["holdings_tag"] == "999"
    assert Source.objects.get(name="USST export").mapping["name"] == "Our Koha"
    listed = json.loads(kede_catalog("sources", "--json"))
    by_name = {row["name"]: row for row in listed}
    assert by_name["FDU OAI"]["oai_sets"] == ["books", "theses"]
    assert by_name["USST export"]["kind"] == "upload"
    assert "FDU OAI" in kede_catalog("sources")


def test_a_bad_mapping_or_address_is_refused(network, tmp_path):
    with pytest.raises(CommandError, match="preset"):
        kede_catalog("add-source", "FDU", "--name", "x", "--mapping", "no-such-preset")
    with pytest.raises(CommandError, match="http"):
        kede_catalog("add-source", "FDU", "--name", "x", "--oai", "ftp://example.org")
    with pytest.raises(CommandError, match="No institution"):
        kede_catalog("add-source", "NOPE", "--name", "x")


def test_load_prints_the_counts_and_every_rejected_record_with_its_reason(network, marc_file):
    # when a member's file is loaded for its institution
    out = kede_catalog("load", str(marc_file), "--institution", "USST")
    # then the counts and the rejected record are printed
    run = IngestRun.objects.get()
    assert run.status == "done" and run.records_added == 5
    assert "accepted 5" in out and "rejected 1" in out
    assert "rejected members.mrc #4 untitled-1:" in out
    assert Holding.objects.filter(institution__code="USST").count() == 5
    # and its report reads the same later, or as JSON
    assert "rejected members.mrc #4 untitled-1:" in kede_catalog("report", str(run.id))
    data = json.loads(kede_catalog("report", str(run.id), "--json"))
    assert data["records_added"] == 5
    assert data["report"]["rejected"][0]["category"] == "no-title"


def test_load_into_a_named_source(network, marc_file):
    kede_catalog("add-source", "WHU", "--name", "WHU export")
    source = Source.objects.get(name="WHU export")
    kede_catalog("load", str(marc_file), "--source", str(source.id))
    assert CatalogRecord.objects.filter(source=source).count() == 5


def test_an_unreadable_file_exits_with_an_error(network, tmp_path, marc_file):
    # given a file that is no catalogue at all, beside a good one
    junk = tmp_path / "photo.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    # when both are loaded
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"photo\.jpg"):
        call_command(
            "catalog", "load", str(junk), str(marc_file), "--institution", "SCU",
            stdout=out, stderr=out,
        )  # fmt: skip
    # then the status says so, the reason is printed, and the good file was still loaded
    assert "unrecognised format" in out.getvalue()
    failed = IngestRun.objects.get(file_name="photo.jpg")
    assert failed.status == "failed" and "no record could be read" in failed.error
    assert IngestRun.objects.get(file_name="members.mrc").status == "done"
    with pytest.raises(CommandError, match=r"missing\.mrc"):
        kede_catalog("load", str(tmp_path / "missing.mrc"), "--institution", "SCU")


def test_harvest_loads_an_oai_source(network, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    repo = MarcRepository(batch_size=4)
    records = marcxml_records(BUNDLED_MARC / "dataset__dnb.xml.gz", 6)
    start = datetime(2021, 5, 1, tzinfo=UTC).replace(tzinfo=None)
    for i, (xml, when) in enumerate(zip(records, stamped_times(start, 6), strict=True)):
        repo.add(f"oai:test:{i}", xml, [], when)
    with LiveServer(oai_app(repo)) as live:
        kede_catalog("add-source", "SCU", "--name", "SCU OAI", "--oai", live.url)
        source = Source.objects.get(name="SCU OAI")
        out = kede_catalog("harvest", "--source", str(source.id))
        assert "harvest: 2 pages, 6 records" in out
        assert CatalogRecord.objects.filter(source=source).count() == 6
        # every active OAI source, when none is named
        again = kede_catalog("harvest")
        assert f"of source {source.id}: done" in again
        # or every active OAI source of one member
        assert f"of source {source.id}: done" in kede_catalog("harvest", "--institution", "scu")
        assert kede_catalog("harvest", "--institution", "FDU") == "no active OAI-PMH source\n"


def test_harvest_of_a_repository_that_is_not_there_fails(network, monkeypatch):
    monkeypatch.setattr(oai, "RetryPolicy", functools.partial(oai.RetryPolicy, attempts=1))
    source = Source.objects.create(
        institution=network["SCU"], name="gone", kind="oai", oai_url="http://127.0.0.1:9/oai"
    )
    with pytest.raises(CommandError, match=str(source.id)):
        kede_catalog("harvest", "--source", str(source.id))
    assert IngestRun.objects.get(source=source).status == "failed"


def test_scope_show_preset_and_set(network, tmp_path):
    assert json.loads(kede_catalog("scope", "show"))["name"] == "Everything"
    kede_catalog("scope", "preset", "humanities")
    shown = json.loads(kede_catalog("scope", "show"))
    assert shown["include"]["clc"] == ["A-K"]
    rule = tmp_path / "scope.json"
    rule.write_text(json.dumps({"name": "Law", "include": {"clc": ["D9"]}}))
    kede_catalog("scope", "set", str(rule))
    assert ScopePolicy.objects.get().rule["include"] == {"clc": ["D9"]}
    rule.write_text(json.dumps({"name": "Bad", "include": {"clc": ["banana"]}}))
    with pytest.raises(CommandError, match="banana"):
        kede_catalog("scope", "set", str(rule))
    with pytest.raises(CommandError, match="No scope preset"):
        kede_catalog("scope", "preset", "sciences")


def test_reindex_and_the_simple_loader(network, marc_file):
    out = kede_catalog("load-marc", str(marc_file), "--institution", "PKU")
    assert "read 6" in out and "rejected 1" in out
    assert kede_catalog("reindex").startswith("indexed ")


# ---- the batched load path under the commands -----------------------------------------------


def with_holding(record: pymarc.Record, call_number: str, barcode: str) -> pymarc.Record:
    record.remove_fields("852")
    record.add_ordered_field(
        pymarc.Field(
            tag="852",
            indicators=[" ", " "],
            subfields=[
                pymarc.Subfield("b", "Stacks"),
                pymarc.Subfield("h", call_number),
                pymarc.Subfield("p", barcode),
            ],
        )
    )
    return record


def test_a_reload_changes_holdings_in_place(network, tmp_path):
    records = [with_holding(r, f"CALL {i}", f"B{i}") for i, r in enumerate(real_records(3))]
    path = tmp_path / "h.mrc"
    path.write_bytes(b"".join(r.as_marc() for r in records))
    kede_catalog("load", str(path), "--institution", "WHU")
    first = {h.local_id: h.id for h in Holding.objects.filter(institution__code="WHU")}
    # the library moves one book and sends everything again
    with_holding(records[1], "NEW CALL", "B1")
    path.write_bytes(b"".join(r.as_marc() for r in records))
    out = kede_catalog("load", str(path), "--institution", "WHU")
    assert "records added 0, updated 3" in out
    holdings = {h.local_id: h for h in Holding.objects.filter(institution__code="WHU")}
    assert {k: h.id for k, h in holdings.items()} == first  # the same rows, changed in place
    moved = holdings[records[1]["001"].data]
    assert (moved.call_number, moved.location, moved.barcode) == ("NEW CALL", "Stacks", "B1")


def test_a_record_sent_twice_or_deleted_in_one_file_ends_as_the_file_says(network, tmp_path):
    a, b = real_records(2)
    changed = with_holding(pymarc.Record(force_utf8=True), "LATER", "X")
    changed.leader = a.leader
    for f in a.fields:
        if f.tag != "852":
            changed.add_ordered_field(f)
    with_holding(changed, "LATER", "X")
    deleted = pymarc.Record(force_utf8=True, leader=b.leader[:5] + "d" + b.leader[6:])
    deleted.add_field(pymarc.Field(tag="001", data=b["001"].data))
    path = tmp_path / "twice.mrc"
    path.write_bytes(b"".join(r.as_marc() for r in [a, b, changed, deleted]))
    kede_catalog("load", str(path), "--institution", "SASS")
    run = IngestRun.objects.get()
    assert (run.records_added, run.records_deleted) == (2, 1)
    [holding] = Holding.objects.filter(institution__code="SASS")
    assert holding.local_id == a["001"].data and holding.call_number == "LATER"
    assert CatalogRecord.objects.filter(local_id=b["001"].data, source=run.source).count() == 0
