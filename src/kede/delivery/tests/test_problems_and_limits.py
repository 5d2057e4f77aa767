"""A bad copy goes back to its supplier; limits come from the centre, or the supplier's own."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from kede.conftest import PASSWORD, deliver_copy, pdf_bytes
from kede.core.statemachine import TransitionNotAllowed
from kede.delivery import services as delivery
from kede.delivery.models import DeliveredCopy, DeliveryPolicy
from kede.ill import services

pytestmark = pytest.mark.django_db


def token_of(copy):
    return delivery.copy_link(copy).rstrip("/").rsplit("/", 1)[-1]


def download(actor, copy):
    return delivery.copy_download(actor=actor, copy_id=copy.id, token=token_of(copy), ip=None)


def test_a_reported_problem_goes_back_to_the_supplier_and_the_new_copy_resets_the_limits(network):
    # given a copy the reader has downloaded twice
    request = deliver_copy(network)
    reader = network.readers["USST"]
    first = request.copies.get()
    download(reader, first)
    download(reader, first)
    # when the reader reports it incomplete
    services.request_report_problem(
        actor=reader, request=request, problem="incomplete", note="p. 12-13 missing"
    )
    # then the request waits for a new copy and FDU has it back in its queue
    request.refresh_from_db()
    supply = request.supplies.get()
    assert (request.state, supply.state) == ("problem", "redo")
    assert request.problem_note == "p. 12-13 missing"
    from kede.ill.selectors import incoming_queue

    assert supply in incoming_queue(network.staff["FDU"])
    # when FDU uploads a replacement
    services.supply_deliver(
        actor=network.staff["FDU"],
        supply=supply,
        upload=SimpleUploadedFile("c2.pdf", pdf_bytes(pages=3), "application/pdf"),
    )
    # then the old file is gone, the new one has all its downloads, and the history says so
    request.refresh_from_db()
    assert request.state == "delivered"
    first.refresh_from_db()
    assert first.deleted_reason == "replaced" and not default_storage.exists(first.file.name)
    second = request.copies.get(deleted_at__isnull=True)
    assert (second.downloads, second.pages) == (0, 3 + 1)  # three pages and the cover
    actions = list(request.events.values_list("action", flat=True))
    assert actions[-5:] == [
        "report_problem",
        "requester_problem",
        "deliver",
        "copy_deleted",
        "copy_replaced",
    ]


def test_only_the_reader_or_their_library_can_report_a_problem(network):
    request = deliver_copy(network)
    for outsider in (network.staff["FDU"], network.readers["SCU"]):
        with pytest.raises(PermissionDenied):
            services.request_report_problem(actor=outsider, request=request, problem="illegible")


def test_a_problem_cannot_be_reported_before_a_copy_arrives(network):
    from kede.conftest import submit_copy_request

    request = submit_copy_request(network)
    with pytest.raises(TransitionNotAllowed):
        services.request_report_problem(
            actor=network.readers["USST"], request=request, problem="wrong"
        )


def test_a_supplier_that_cannot_replace_the_copy_passes_it_on(network):
    request = deliver_copy(network)
    services.request_report_problem(actor=network.readers["USST"], request=request, problem="wrong")
    services.supply_refuse(
        actor=network.staff["FDU"], supply=request.supplies.get(), reason="not_held"
    )
    request.refresh_from_db()
    assert request.state == "sent"
    assert request.supplies.get(position=2).supplier.code == "SCU"


def test_the_centres_default_and_a_suppliers_override_set_the_limits(network):
    # given a consortium default and FDU's own, stricter policy
    DeliveryPolicy.objects.create(
        institution=None, download_limit=7, days_after_upload=20, days_after_first_download=5
    )
    DeliveryPolicy.objects.create(
        institution=network["FDU"], download_limit=2, days_after_upload=10,
        days_after_first_download=3,
    )  # fmt: skip
    # when FDU delivers
    copy = deliver_copy(network).copies.get()
    # then FDU's limits apply
    assert copy.download_limit == 2
    assert copy.expires_at - copy.uploaded_at == datetime.timedelta(days=10)
    # and the first download starts the shorter clock
    download(network.readers["USST"], copy)
    copy.refresh_from_db()
    assert copy.first_downloaded_at is not None
    assert copy.expires_at - copy.first_downloaded_at == datetime.timedelta(days=3)
    assert copy.downloads_left == 1


def test_the_first_download_clock_never_extends_the_period(network):
    DeliveryPolicy.objects.create(
        institution=None, download_limit=5, days_after_upload=2, days_after_first_download=30
    )
    copy = deliver_copy(network).copies.get()
    until = copy.expires_at
    download(network.readers["USST"], copy)
    copy.refresh_from_db()
    assert copy.expires_at == until


def test_purging_records_it_on_the_request(network):
    request = deliver_copy(network)
    DeliveredCopy.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert delivery.copies_purge_expired() == 1
    last = request.events.last()
    assert (last.action, last.note) == ("copy_deleted", "expired")


def test_the_reader_reports_a_problem_from_the_request_page(client, network):
    request = deliver_copy(network)
    assert client.login(username=network.readers["USST"].username, password=PASSWORD)
    page = client.get(reverse("portal:request-detail", args=[request.id])).content.decode()
    assert reverse("portal:request-problem", args=[request.id]) in page
    client.post(
        reverse("portal:request-problem", args=[request.id]),
        {"problem": "illegible", "note": "blurred"},
    )
    request.refresh_from_db()
    assert (request.state, request.problem) == ("problem", "illegible")
