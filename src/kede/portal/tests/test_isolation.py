"""Through the pages: a library's staff never see another library's readers, requests or files."""

import pytest
from django.urls import reverse

from kede.conftest import PASSWORD, deliver_copy
from kede.delivery.services import copy_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(network):
    request = deliver_copy(network, "Chapter 6")
    return request, request.supplies.get()


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)


def test_staff_of_an_uninvolved_library_get_not_found_everywhere(client, network, delivered):
    request, supply = delivered
    login(client, network.staff["SCU"])
    for url in (
        reverse("portal:staff-supply", args=[supply.id]),
        reverse("portal:staff-borrowing", args=[request.id]),
        reverse("portal:request-detail", args=[request.id]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("portal:staff-accept", args=[supply.id])).status_code == 404
    page = client.get(reverse("portal:staff")).content.decode()
    assert request.number not in page


def test_the_supplier_sees_the_citation_but_not_the_reader(client, network, delivered):
    request, supply = delivered
    login(client, network.staff["FDU"])
    page = client.get(reverse("portal:staff-supply", args=[supply.id])).content.decode()
    assert request.title in page
    assert network.readers["USST"].full_name not in page
    assert network.readers["USST"].email not in page
    assert client.get(reverse("portal:staff-borrowing", args=[request.id])).status_code == 404


def test_another_reader_cannot_see_the_request_or_take_the_file(client, network, delivered):
    request, _supply = delivered
    login(client, network.readers["SCU"])
    assert client.get(reverse("portal:request-detail", args=[request.id])).status_code == 404
    response = client.get(copy_link(request.copies.get()))
    assert response.status_code == 403
    assert request.copies.get().downloads == 0


def test_the_owner_downloads_the_pdf(client, network, delivered):
    request, _supply = delivered
    login(client, network.readers["USST"])
    response = client.get(copy_link(request.copies.get()))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content)[:5] == b"%PDF-"


def test_a_download_link_needs_a_login(client, delivered):
    request, _supply = delivered
    response = client.get(copy_link(request.copies.get()))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_the_staff_page_is_closed_to_readers(client, network):
    login(client, network.readers["USST"])
    assert client.get(reverse("portal:staff")).status_code == 403


def test_staff_cannot_approve_another_librarys_reader_by_guessing_ids(client, network):
    from kede.accounts.services import reader_register

    pending = reader_register(
        username="guess", password="a-long-pass-42", email="g@example.org", full_name="G",
        institution=network["USST"], reader_category="phd",
    )  # fmt: skip
    login(client, network.staff["FDU"])
    url = reverse("portal:staff-reader-decide", args=[pending.id, "approve"])
    assert client.post(url).status_code == 404
    pending.refresh_from_db()
    assert pending.status == "pending"
