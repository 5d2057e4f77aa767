"""The union catalogue's pages: a library uploads its catalogue and reads the load's report;
the centre sets field mappings and the scope; nobody sees another library's loads."""

from __future__ import annotations

import gzip

import pymarc
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from kede.catalog import services
from kede.catalog.ingest import HUMANITIES_SOCIAL_SCIENCES, PRESETS
from kede.catalog.ingest.readers import read_records
from kede.catalog.models import Holding, IngestRun, ScopePolicy, Source
from kede.conftest import PASSWORD
from kede.core.runtime import run_pending_tasks
from kede.demo import BUNDLED_MARC
from kede.portal.catalogue_views import MappingForm, ScopeForm

pytestmark = pytest.mark.django_db


def login(client, user) -> None:
    """Log in, in English (the words checked below are the English ones)."""
    assert client.login(username=user.username, password=PASSWORD)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})


def real_records(n: int) -> list[pymarc.Record]:
    path = sorted(BUNDLED_MARC.glob("*.xml.gz"))[0]
    found = [r.record for r in read_records(gzip.decompress(path.read_bytes())) if r.record]
    return [r for r in found if r.get("245") and r.get("001")][:n]


def untitled(local_id: str) -> pymarc.Record:
    record = pymarc.Record(force_utf8=True)
    record.add_field(pymarc.Field(tag="001", data=local_id))
    return record


def field(tag: str, **subfields: str) -> pymarc.Field:
    return pymarc.Field(
        tag=tag,
        indicators=[" ", " "],
        subfields=[pymarc.Subfield(code.lstrip("_"), v) for code, v in subfields.items()],
    )


def koha_record(number: str, title: str) -> pymarc.Record:
    """A Koha export: the id in 999 $c (no 001), items in 952."""
    record = pymarc.Record(force_utf8=True)
    record.leader = record.leader[:6] + "am" + record.leader[8:]
    record.add_field(
        pymarc.Field(tag="245", indicators=["0", "0"], subfields=[pymarc.Subfield("a", title)]),
        field("952", a="MAIN", c="Stacks", o=f"PL{number}", p=f"3900{number}"),
        field("999", c=number),
    )
    return record


def as_file(records: list[pymarc.Record]) -> bytes:
    return b"".join(r.as_marc() for r in records)


# ---- a library's own loads ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the worker closes its connection
def test_staff_upload_a_file_follow_its_load_and_read_its_report(client, network):
    # given USST's staff on the catalogue page, with no source yet
    login(client, network.staff["USST"])
    home = client.get(reverse("portal:catalogue"))
    assert home.status_code == 200
    assert "USST: catalogue (new)" in home.content.decode()
    # when they upload their export (five good records, one without a title)
    records = real_records(5)
    data = as_file([*records[:2], untitled("no-title-9"), *records[2:]])
    response = client.post(
        reverse("portal:catalogue-upload"),
        {"source": f"new:{network['USST'].id}", "file": SimpleUploadedFile("usst.mrc", data)},
    )
    # then it is stored and queued, and its page says so and follows it
    run = IngestRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:catalogue-run", args=[run.id])
    assert run.status == "queued" and run.file_name == "usst.mrc"
    stored = run.upload_name
    assert default_storage.exists(stored)
    page = client.get(response["Location"])
    assert page.status_code == 200 and page["Refresh"] == "5"
    assert 'class="state s-queued"' in page.content.decode()
    # when the worker runs the load
    run_pending_tasks()
    run.refresh_from_db()
    assert run.status == "done" and run.records_added == 5
    assert run.upload_name == "" and not default_storage.exists(stored)  # loaded: let go
    assert Holding.objects.filter(institution__code="USST", record__source=run.source).count() == 5
    # then the report shows the counts and the rejected record with its reason
    page = client.get(reverse("portal:catalogue-run", args=[run.id]))
    text = page.content.decode()
    assert "Refresh" not in page
    assert 'class="state s-done"' in text
    assert "no-title-9" in text and "no title" in text
    assert run.report["rejected"][0]["reason"] in text
    # and the source page lists the load
    source_page = client.get(reverse("portal:catalogue-source", args=[run.source_id]))
    assert reverse("portal:catalogue-run", args=[run.id]) in source_page.content.decode()


@pytest.mark.django_db(transaction=True)  # the worker closes its connection
def test_a_whole_catalogue_upload_withdraws_the_titles_the_library_no_longer_has(client, network):
    # given USST's catalogue of four titles, loaded from the page
    login(client, network.staff["USST"])
    records = real_records(4)
    client.post(
        reverse("portal:catalogue-upload"),
        {
            "source": f"new:{network['USST'].id}",
            "file": SimpleUploadedFile("a.mrc", as_file(records)),
        },
    )
    run_pending_tasks()
    source = IngestRun.objects.get().source
    # when they send it again, one title fewer, marked as their whole catalogue
    response = client.post(
        reverse("portal:catalogue-upload"),
        {
            "source": str(source.id),
            "file": SimpleUploadedFile("b.mrc", as_file(records[:3])),
            "whole_catalogue": "on",
        },
    )
    run_pending_tasks()
    # then the title they no longer have is gone, and the load's page says so
    assert Holding.objects.filter(institution__code="USST", record__source=source).count() == 3
    text = client.get(response["Location"]).content.decode()
    assert "The file was the whole catalogue: 1 title it no longer holds was withdrawn." in text


def test_the_rejected_records_are_listed_a_page_at_a_time(client, network):
    source = services.source_add(institution=network["SCU"], name="SCU export")
    run = services.catalogue_load(
        source=source, data=as_file([untitled(f"u{i:03}") for i in range(60)]), file_name="u.mrc"
    )
    login(client, network.staff["SCU"])
    first = client.get(reverse("portal:catalogue-run", args=[run.id])).content.decode()
    second = client.get(reverse("portal:catalogue-run", args=[run.id]) + "?page=2")
    assert "u000" in first and "u049" in first and "u050" not in first
    assert "u050" in second.content.decode() and "u059" in second.content.decode()
    assert "60 records rejected" in first


def test_an_unusable_upload_is_refused_on_the_page(client, network):
    login(client, network.staff["USST"])
    response = client.post(
        reverse("portal:catalogue-upload"),
        {"source": f"new:{network['USST'].id}", "file": SimpleUploadedFile("empty.mrc", b"")},
    )
    assert response.status_code == 400
    assert "id_file_error" in response.content.decode()
    assert not IngestRun.objects.exists()


@pytest.mark.django_db(transaction=True)  # the worker closes its connection
def test_a_file_that_is_no_catalogue_ends_failed_with_the_reason(client, network):
    source = services.source_add(institution=network["FDU"], name="FDU export")
    login(client, network.staff["FDU"])
    client.post(
        reverse("portal:catalogue-upload"),
        {
            "source": str(source.id),
            "fixed": "1",
            "file": SimpleUploadedFile("x.pdf", b"%PDF-1.4 not a catalogue"),
        },
    )
    run_pending_tasks()
    run = IngestRun.objects.get()
    assert run.status == "failed"
    page = client.get(reverse("portal:catalogue-run", args=[run.id])).content.decode()
    assert "unrecognised format" in page


def test_staff_never_see_another_librarys_sources_or_loads(client, network):
    # given a load of FDU's
    fdu = services.source_add(institution=network["FDU"], name="FDU export")
    run = services.catalogue_load(source=fdu, data=as_file(real_records(2)), file_name="f.mrc")
    # when SCU's staff look for it
    login(client, network.staff["SCU"])
    assert "FDU export" not in client.get(reverse("portal:catalogue")).content.decode()
    # then it is not there
    for url in (
        reverse("portal:catalogue-source", args=[fdu.id]),
        reverse("portal:catalogue-run", args=[run.id]),
        reverse("portal:catalogue-mapping", args=[fdu.id]),
    ):
        assert client.get(url).status_code == 404, url
    upload = client.post(
        reverse("portal:catalogue-upload"),
        {"source": str(fdu.id), "fixed": "1", "file": SimpleUploadedFile("x.mrc", b"x")},
    )
    assert upload.status_code == 404
    assert IngestRun.objects.count() == 1
    # and a reader has no catalogue page at all
    client.logout()
    login(client, network.readers["FDU"])
    assert client.get(reverse("portal:catalogue")).status_code == 403
    assert client.get(reverse("portal:catalogue-run", args=[run.id])).status_code == 404


def test_the_centre_sees_every_librarys_sources(client, network):
    services.source_add(institution=network["FDU"], name="FDU export")
    services.source_add(institution=network["WHU"], name="WHU OAI", kind="oai",
                        oai_url="https://oai.example.org/")  # fmt: skip
    login(client, network.centre_admin)
    text = client.get(reverse("portal:catalogue")).content.decode()
    assert "FDU export" in text and "WHU OAI" in text
    assert reverse("portal:catalogue-scope") in text


def test_the_csv_template_comes_with_example_rows_and_column_help(client, network):
    login(client, network.staff["USST"])
    response = client.get(reverse("portal:catalogue-template"))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufefflocal_id,title,author")
    assert "史记" in text and "The making of the English working class" in text
    home = client.get(reverse("portal:catalogue")).content.decode()
    assert "<code>call_number</code>" in home and "one per copy" in home
    # and the template, filled in, loads
    source = services.source_add(institution=network["USST"], name="USST list")
    run = services.catalogue_load(source=source, data=response.content, file_name="t.csv")
    assert run.records_added == 2


def test_the_workbench_links_to_the_catalogue(client, network):
    login(client, network.staff["FDU"])
    page = client.get(reverse("portal:staff")).content.decode()
    assert reverse("portal:catalogue") in page


# ---- the centre: mappings and scope ---------------------------------------------------------


def test_the_centre_previews_and_saves_a_field_mapping(client, network):
    # given a Koha library whose first load found no local ids with the default mapping
    source = services.source_add(institution=network["WHU"], name="WHU Koha")
    records = [koha_record(str(n), f"Koha book {n}") for n in (101, 102, 103)]
    first = services.catalogue_load(source=source, data=as_file(records), file_name="koha.mrc")
    assert first.report["categories"] == {"no-local-id": 3}
    url = reverse("portal:catalogue-mapping", args=[source.id])
    login(client, network.centre_admin)
    # when the centre opens the mapping page
    page = client.get(url).content.decode()
    # then the preview shows the problem on the library's records, and suggests Koha
    assert 'id="suggested"' in page and "Koha (952; biblionumber in 999 $c)" in page
    assert "no local id in 001" in page
    # when it fills the fields in from the Koha preset
    filled = client.post(url, {"preset": "koha", "fill": "1"})
    text = filled.content.decode()
    # then the fields hold Koha's settings, and the preview shows what they find
    assert filled.status_code == 200
    assert 'name="local_id" value="999$c, 001"' in text
    assert "PL101 / MAIN / Stacks / 3900101 / 1" in text
    # when it changes one field and previews
    fields = MappingForm.initial_for(PRESETS["koha"].to_dict()) | {"location": "c"}
    preview = client.post(url, fields | {"preview": "1"})
    assert "PL101 / Stacks / 3900101 / 1" in preview.content.decode()
    source.refresh_from_db()
    assert source.mapping["name"] == "MARC21 holdings (852)"  # a preview saves nothing
    # and saves it
    saved = client.post(url, fields | {"save": "1"})
    assert saved.status_code == 302
    source.refresh_from_db()
    assert (source.mapping["holdings_tag"], source.mapping["location"]) == ("952", "c")
    # then the next load finds the ids and the items
    again = services.catalogue_load(source=source, data=as_file(records), file_name="koha.mrc")
    assert again.records_added == 3
    assert Holding.objects.get(institution__code="WHU", local_id="102").barcode == "3900102"


def test_the_centre_edits_mapping_fields_with_every_problem_shown(client, network):
    source = services.source_add(institution=network["WHU"], name="WHU export")
    url = reverse("portal:catalogue-mapping", args=[source.id])
    login(client, network.centre_admin)
    bad = client.post(
        url,
        {"preset": "", "name": "Ours", "local_id": "banana", "holdings_tag": "999",
         "call_number": "a", "copies": "ab", "save": "1"},
    )  # fmt: skip
    text = bad.content.decode()
    assert bad.status_code == 400
    assert "&#x27;banana&#x27; is not a field such as 001" in text
    assert "give one subfield code" in text
    good = client.post(
        url,
        {"preset": "", "name": "Ours", "local_id": "035$a|(OCoLC), 001", "holdings_tag": "999",
         "call_number": "a", "location": "m l", "barcode": "i", "save": "1"},
    )  # fmt: skip
    assert good.status_code == 302
    source.refresh_from_db()
    assert source.mapping["local_id"] == [{"field": "035$a", "prefix": "(OCoLC)"}, "001"]
    assert source.mapping["location"] == "ml"
    # the page shows the saved mapping as it was typed
    assert "035$a|(OCoLC), 001" in client.get(url).content.decode()


def test_only_the_centre_changes_mappings_and_the_scope(client, network):
    source = services.source_add(institution=network["FDU"], name="FDU export")
    login(client, network.staff["FDU"])
    assert client.get(reverse("portal:catalogue-mapping", args=[source.id])).status_code == 403
    assert client.get(reverse("portal:catalogue-scope")).status_code == 403
    response = client.post(reverse("portal:catalogue-scope"), {"name": "All", "save": "1"})
    assert response.status_code == 403
    assert not ScopePolicy.objects.exists()


def test_the_centre_sets_the_scope_with_validation_messages(client, network):
    login(client, network.centre_admin)
    url = reverse("portal:catalogue-scope")
    assert "In force: Everything" in client.get(url).content.decode()
    # a preset, filled in, then saved
    filled = client.post(url, {"preset": "humanities-social-sciences", "fill": "1"})
    assert 'value="A-K"' in filled.content.decode()
    assert not ScopePolicy.objects.exists()
    fields = ScopeForm.initial_for(HUMANITIES_SOCIAL_SCIENCES)
    assert client.post(url, fields | {"save": "1"}).status_code == 302
    assert ScopePolicy.objects.get().rule == HUMANITIES_SOCIAL_SCIENCES.to_dict()
    # fields with a mistake: the message names it, nothing changes
    bad = client.post(
        url, {"name": "Law", "include_clc": "D9, banana", "exclude_lcc": "Z-A",
              "unclassified": "reject"},
    )  # fmt: skip
    text = bad.content.decode()
    assert bad.status_code == 400
    assert "is not a CLC range" in text and "runs backwards" in text
    assert ScopePolicy.objects.get().rule["include"]["clc"] == ["A-K"]
    # the same, corrected
    good = client.post(url, {"name": "Law", "include_clc": "D9", "unclassified": "reject"})
    assert good.status_code == 302
    rule = ScopePolicy.objects.get().rule
    assert (rule["name"], rule["include"], rule["unclassified"]) == ("Law", {"clc": ["D9"]},
                                                                      "reject")  # fmt: skip
    assert "D9" in client.get(url).content.decode()


# ---- the work page --------------------------------------------------------------------------


def test_the_work_page_shows_each_holders_location_copies_and_serial_coverage(client, network):
    record = pymarc.Record(force_utf8=True)
    record.leader = record.leader[:6] + "as" + record.leader[8:]
    record.add_field(
        pymarc.Field(tag="001", data="j1"),
        field("022", a="0031-2746"),
        pymarc.Field(tag="245", indicators=["0", "0"],
                     subfields=[pymarc.Subfield("a", "Past & present")]),
        field("852", _8="0", b="Periodicals room", h="K1/P3"),
        field("866", _8="0", a="v.1-40 (1952-1991)"),
    )  # fmt: skip
    source = services.source_add(institution=network["SCU"], name="SCU serials")
    services.catalogue_load(source=source, data=as_file([record]), file_name="s.mrc")
    holding = Holding.objects.get(institution__code="SCU", local_id="j1")
    assert holding.work == network.serial  # the same journal WHU holds
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(reverse("portal:work", args=[holding.work_id])).content.decode()
    assert "Periodicals room" in page and "K1/P3" in page
    assert "v.1-40 (1952-1991)" in page
    assert "v.1(1952)-v.40(1991)" in page
    assert Source.objects.filter(id=source.id).exists()
