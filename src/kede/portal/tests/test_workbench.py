"""The lending workbench: answer many requests at once and print pull slips."""

import pytest
from django.urls import reverse

from kede.catalog.models import Holding
from kede.conftest import PASSWORD, submit_copy_request

pytestmark = pytest.mark.django_db


def staff_client(client, network, code):
    assert client.login(username=network.staff[code].username, password=PASSWORD)
    return client


def test_staff_accept_several_requests_at_once_and_only_their_own(client, network):
    # given two requests at FDU and one at SCU (FDU's reader asks SCU)
    at_fdu = [submit_copy_request(network, f"Ch {n}").supplies.get() for n in (1, 2)]
    at_scu = submit_copy_request(network, "Ch 3", reader="FDU").supplies.get()
    staff_client(client, network, "FDU")
    # when FDU's staff select all three ids and press "will supply"
    ids = [s.id for s in [*at_fdu, at_scu]]
    response = client.post(reverse("portal:staff-bulk-accept"), {"ids": ids}, follow=True)
    # then FDU's two are accepted and SCU's is untouched and not even named
    for s in at_fdu:
        s.refresh_from_db()
        assert s.state == "will_supply"
    at_scu.refresh_from_db()
    assert at_scu.state == "received"
    [said] = [str(m) for m in response.context["messages"]]
    assert at_fdu[0].request.number in said and at_fdu[1].request.number in said
    assert at_scu.request.number not in said


def test_a_request_already_answered_is_reported_not_changed(client, network):
    supply = submit_copy_request(network).supplies.get()
    staff_client(client, network, "FDU")
    client.post(reverse("portal:staff-bulk-accept"), {"ids": [supply.id]})
    response = client.post(reverse("portal:staff-bulk-accept"), {"ids": [supply.id]}, follow=True)
    [error] = [str(m) for m in response.context["messages"] if m.level_tag == "error"]
    assert supply.request.number in error
    supply.refresh_from_db()
    assert supply.state == "will_supply"


def test_pull_slips_show_the_call_number_at_the_supplier(client, network):
    supply = submit_copy_request(network, "Chapter on slips").supplies.get()
    Holding.objects.filter(work=network.work, institution=network["FDU"]).update(
        call_number="HD8389 .T5 1963"
    )
    staff_client(client, network, "FDU")
    page = client.post(reverse("portal:staff-slips"), {"ids": [supply.id, "x", "¹"]})
    text = page.content.decode()
    assert page.status_code == 200
    assert "HD8389 .T5 1963" in text and "Chapter on slips" in text
    assert supply.request.number in text


def test_a_storage_failure_is_told_to_the_uploader_and_nothing_is_delivered(
    client, network, monkeypatch
):
    # given a request at FDU and a disk that refuses writes
    from django.core.files.storage import default_storage
    from django.core.files.uploadedfile import SimpleUploadedFile

    from kede.conftest import pdf_bytes

    supply = submit_copy_request(network).supplies.get()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(default_storage, "save", full_disk)
    staff_client(client, network, "FDU")
    # when staff upload the copy
    response = client.post(
        reverse("portal:staff-deliver", args=[supply.id]),
        {"deliver-file": SimpleUploadedFile("c.pdf", pdf_bytes(), "application/pdf")},
    )
    # then they see why, next to the file field, and the request is not delivered
    assert response.status_code == 400
    assert "No space left on device" in response.content.decode()
    supply.refresh_from_db()
    assert supply.state == "received"
    assert supply.request.copies.count() == 0


def test_a_pdf_and_page_scans_become_one_stamped_copy_for_the_reader(client, network):
    # given a request at FDU, a chapter as one PDF page and two phone-scanned JPEG pages
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image
    from pypdf import PdfReader

    from kede.conftest import pdf_bytes

    def jpeg():
        out = io.BytesIO()
        Image.new("L", (850, 1100), 255).save(out, "JPEG", dpi=(100, 100))
        return out.getvalue()

    reader = network.readers["USST"]
    reader.full_name = "李明"
    reader.save(update_fields=["full_name"])
    supply = submit_copy_request(network, "Chapter scanned").supplies.get()
    staff_client(client, network, "FDU")
    # when staff upload the three files at once
    response = client.post(
        reverse("portal:staff-deliver", args=[supply.id]),
        {
            "deliver-file": [
                SimpleUploadedFile("p1.pdf", pdf_bytes(pages=1), "application/pdf"),
                SimpleUploadedFile("p2.jpg", jpeg(), "image/jpeg"),
                SimpleUploadedFile("p3.jpg", jpeg(), "image/jpeg"),
            ]
        },
    )
    # then one PDF is delivered: a cover naming the reader, then the three pages, each footed
    assert response.status_code == 302
    copy = supply.request.copies.get()
    pdf = PdfReader(copy.file.open("rb"))
    assert len(pdf.pages) == 1 + 3
    cover = pdf.pages[0].extract_text()
    assert supply.request.number in cover and "李明" in cover and "USST Library" in cover
    for page in pdf.pages[1:]:
        assert supply.request.number in page.extract_text()


def test_an_upload_that_is_neither_pdf_nor_scan_is_refused_by_name(client, network):
    from django.core.files.uploadedfile import SimpleUploadedFile

    supply = submit_copy_request(network).supplies.get()
    staff_client(client, network, "FDU")
    response = client.post(
        reverse("portal:staff-deliver", args=[supply.id]),
        {"deliver-file": [SimpleUploadedFile("notes.docx", b"PK\x03\x04 zip", "application/zip")]},
    )
    assert response.status_code == 400
    assert "notes.docx" in response.content.decode()
    supply.refresh_from_db()
    assert supply.state == "received"
