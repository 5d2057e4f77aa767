"""The request lifecycle through the services, as pages, the API and messages will call it."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from kede.catalog.marc import BibRecord
from kede.conftest import pdf_bytes
from kede.core.statemachine import TransitionNotAllowed
from kede.ill import services
from kede.ill.models import Request, RequestEvent, SupplyRequest
from kede.ill.selectors import refusals

pytestmark = pytest.mark.django_db


def citation(**extra):
    fields = {"title": "Chapter 1", "container_title": "The making", "pages": "1-20"}
    fields.update(extra)
    return services.Citation(**fields)


def submit(network, reader="USST", **extra):
    return services.request_submit(
        actor=network.readers[reader], citation=citation(**extra), work=network.work
    )


def upload(data=None, name="copy.pdf"):
    return SimpleUploadedFile(name, data if data is not None else pdf_bytes(), "application/pdf")


def test_a_request_goes_first_to_a_holder_in_the_readers_region(network):
    # given a USST reader (east) and a book held by FDU (east) and SCU (west)
    # when the reader asks for a copy
    request = submit(network)
    # then it is sent to FDU, and the history says so
    assert request.state == "sent"
    assert request.number.startswith("KD")
    supply = request.supplies.get()
    assert supply.supplier.code == "FDU"
    assert supply.state == "received"
    actions = list(request.events.values_list("side", "action", "from_state", "to_state"))
    assert actions == [
        ("requester", "submit", "", "submitted"),
        ("requester", "route", "submitted", "sent"),
        ("supplier", "receive", "", "received"),
    ]


def test_external_suppliers_come_after_every_member(network):
    # given an external supplier in the reader's own region that also holds the book
    from kede.catalog.services import catalog_load_records
    from kede.consortium.services import institution_add

    nstl = institution_add(
        code="NSTL", name="NSTL", region_code="EAST", type="national_partner",
        roles=["external_supplier"],
    )  # fmt: skip
    catalog_load_records(
        records=[BibRecord(local_id="n1", title="x", isbns=["9780394703220"])],
        holders=lambda bib: [nstl],
    )
    # when a USST reader asks
    request = submit(network)
    # then the members are asked first, NSTL last
    from kede.ill import routing

    assert [i.code for i in routing.candidate_suppliers(request)] == ["FDU", "SCU", "NSTL"]


def test_a_library_is_never_asked_for_its_own_holding(network):
    request = submit(network, reader="FDU")
    assert [s.supplier.code for s in request.supplies.all()] == ["SCU"]


def test_the_supplier_delivers_and_the_reader_is_told(network):
    # given a request at FDU
    request = submit(network)
    supply = request.supplies.get()
    # when FDU's staff accept and upload the copy
    services.supply_accept(actor=network.staff["FDU"], supply=supply)
    request.refresh_from_db()
    assert request.state == "in_process"
    services.supply_deliver(actor=network.staff["FDU"], supply=supply, upload=upload())
    # then both sides record it and the reader's mail waits in the task queue
    request.refresh_from_db()
    supply.refresh_from_db()
    assert (request.state, supply.state) == ("delivered", "delivered")
    assert request.copies.count() == 1
    from django_tasks_db.models import DBTaskResult

    assert DBTaskResult.objects.filter(task_path__endswith="send_copy_ready_mail").count() == 1


def test_a_request_cannot_be_supplied_twice(network):
    request = submit(network)
    supply = request.supplies.get()
    services.supply_deliver(actor=network.staff["FDU"], supply=supply, upload=upload())
    with pytest.raises(TransitionNotAllowed):
        services.supply_deliver(actor=network.staff["FDU"], supply=supply, upload=upload())
    assert request.copies.count() == 1


def test_a_library_the_request_was_not_sent_to_cannot_supply_it(network):
    # given a request sent to FDU
    request = submit(network)
    supply = request.supplies.get()
    # when SCU's staff (a holder, but not asked) try to deliver or refuse it
    for act in (
        lambda: services.supply_deliver(actor=network.staff["SCU"], supply=supply, upload=upload()),
        lambda: services.supply_refuse(actor=network.staff["SCU"], supply=supply, reason="other"),
        lambda: services.supply_accept(actor=network.staff["SCU"], supply=supply),
    ):
        with pytest.raises(PermissionDenied):
            act()
    # then nothing changed
    supply.refresh_from_db()
    assert supply.state == "received"
    assert request.copies.count() == 0


def test_a_reader_cannot_answer_as_supplier(network):
    supply = submit(network).supplies.get()
    with pytest.raises(PermissionDenied):
        services.supply_accept(actor=network.readers["FDU"], supply=supply)


def test_cannot_supply_moves_the_request_to_the_next_holder_then_ends_unfilled(network):
    # given a request at FDU
    request = submit(network)
    first = request.supplies.get()
    # when FDU cannot supply
    services.supply_refuse(
        actor=network.staff["FDU"], supply=first, reason="not_on_shelf", note="missing"
    )
    # then it goes to SCU
    request.refresh_from_db()
    assert request.state == "sent"
    second = request.supplies.get(supplier__code="SCU")
    assert second.position == 2
    # when SCU cannot either
    services.supply_refuse(actor=network.staff["SCU"], supply=second, reason="not_held")
    # then the request ends unfilled, with every supplier's reason kept
    request.refresh_from_db()
    assert request.state == "unfilled"
    assert request.events.filter(side="requester").last().action == "no_supplier"
    assert list(refusals(request).values_list("supplier__code", "reason", "note")) == [
        ("FDU", "not_on_shelf", "missing"),
        ("SCU", "not_held", ""),
    ]


def test_refusing_needs_a_known_reason(network):
    supply = submit(network).supplies.get()
    with pytest.raises(ValidationError):
        services.supply_refuse(actor=network.staff["FDU"], supply=supply, reason="bored")


def test_a_request_for_something_nobody_holds_ends_unfilled_at_once(network):
    request = services.request_submit(
        actor=network.readers["USST"],
        citation=citation(container_title="Unheld journal", isbn=""),
    )
    assert request.state == "unfilled"
    assert request.supplies.count() == 0


def test_the_reader_cancels_before_the_supplier_has_started(network):
    # given a request FDU has not looked at yet
    request = submit(network)
    supply = request.supplies.get()
    # when the reader cancels
    services.request_cancel(actor=network.readers["USST"], request=request, note="found it")
    # then both sides are cancelled at once and FDU can no longer deliver
    request.refresh_from_db()
    supply.refresh_from_db()
    assert (request.state, supply.state) == ("cancelled", "cancelled")
    with pytest.raises(TransitionNotAllowed):
        services.supply_deliver(actor=network.staff["FDU"], supply=supply, upload=upload())


def test_once_the_supplier_is_at_work_cancelling_asks_it_and_it_answers(network):
    # given two requests FDU has agreed to supply
    agreed, refused = submit(network), submit(network, title="Another chapter")
    for request in (agreed, refused):
        services.supply_accept(actor=network.staff["FDU"], supply=request.supplies.get())
        # when the reader cancels, FDU is asked
        services.request_cancel(actor=network.readers["USST"], request=request)
        request.refresh_from_db()
        assert (request.state, request.supplies.get().state) == (
            "cancel_pending",
            "cancel_requested",
        )
    # then FDU's yes cancels both sides, its no puts the request back in its hands
    services.supply_answer_cancel(
        actor=network.staff["FDU"], supply=agreed.supplies.get(), accept=True
    )
    services.supply_answer_cancel(
        actor=network.staff["FDU"], supply=refused.supplies.get(), accept=False,
        note="already scanned",
    )  # fmt: skip
    agreed.refresh_from_db()
    refused.refresh_from_db()
    assert (agreed.state, agreed.supplies.get().state) == ("cancelled", "cancelled")
    assert (refused.state, refused.supplies.get().state) == ("in_process", "will_supply")


def test_only_the_reader_or_their_librarys_staff_can_cancel(network):
    request = submit(network)
    for outsider in (network.readers["FDU"], network.staff["FDU"], network.staff["SCU"]):
        with pytest.raises(PermissionDenied):
            services.request_cancel(actor=outsider, request=request)
    services.request_cancel(actor=network.staff["USST"], request=request)
    request.refresh_from_db()
    assert request.state == "cancelled"


def test_a_delivered_request_cannot_be_cancelled(network):
    request = submit(network)
    services.supply_deliver(
        actor=network.staff["FDU"], supply=request.supplies.get(), upload=upload()
    )
    with pytest.raises(TransitionNotAllowed):
        services.request_cancel(actor=network.readers["USST"], request=request)


def test_only_approved_readers_can_ask(network):
    with pytest.raises(PermissionDenied):
        services.request_submit(actor=network.staff["USST"], citation=citation())
    assert Request.objects.count() == 0


def test_a_failed_delivery_leaves_no_trace(network):
    # given a request at FDU
    request = submit(network)
    supply = request.supplies.get()
    events_before = RequestEvent.objects.count()
    # when the upload is not a PDF
    with pytest.raises(ValidationError):
        services.supply_deliver(
            actor=network.staff["FDU"], supply=supply, upload=upload(b"hello", "x.pdf")
        )
    # then nothing is recorded
    assert SupplyRequest.objects.get(id=supply.id).state == "received"
    assert RequestEvent.objects.count() == events_before
    assert request.copies.count() == 0
