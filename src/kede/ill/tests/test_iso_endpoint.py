"""POST /iso18626: what another system's messages do here, and what it is answered."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from kede.consortium.models import AgencyId
from kede.ill import messaging, services
from kede.ill.models import IsoMessage, Request
from kede.protocols import iso18626 as iso

FDU = iso.AgencyId(type="ISIL", value="CN-FDU")
USST = iso.AgencyId(type="ISIL", value="CN-USST")


@pytest.fixture
def fdu_elsewhere(network):
    """FDU lives on another system (nobody listens at its address in these tests)."""
    AgencyId.objects.create(institution=network.institutions["FDU"], type="ISIL", value="CN-FDU")
    AgencyId.objects.create(institution=network.institutions["USST"], type="ISIL", value="CN-USST")
    return services.peer_register(agency="ISIL:CN-FDU", url="http://127.0.0.1:9/iso18626")


def ask(network, title="Chapter 1"):
    return services.request_submit(
        actor=network.readers["USST"],
        citation=services.Citation(title=title, container_title="The making", pages="1-20"),
        work=network.work,
    )


def from_fdu(request, status, *, reason=iso.ReasonForMessage.STATUS_CHANGE, minute=0, **info):
    return iso.write(
        iso.SupplyingAgencyMessage(
            header=iso.Header(
                supplying_agency_id=FDU,
                requesting_agency_id=USST,
                timestamp=datetime.datetime(2026, 11, 22, 10, minute, tzinfo=datetime.UTC),
                requesting_agency_request_id=request.number,
                supplying_agency_request_id="FDU-77",
            ),
            message_info=iso.MessageInfo(reason_for_message=reason, **info),
            status_info=iso.StatusInfo(
                status=status, last_change=datetime.datetime(2026, 11, 22, tzinfo=datetime.UTC)
            ),
        )
    )


def post(client, body):
    return client.post(reverse("iso18626"), body, content_type="application/xml")


def answer(response):
    assert response.status_code == 200
    return iso.read(response.content)


def test_a_request_to_another_system_waits_in_the_outbox(network, fdu_elsewhere):
    request = ask(network)
    [message] = IsoMessage.objects.filter(request=request)
    assert (message.direction, message.kind, message.status) == ("out", "Request", "pending")
    sent = iso.read(bytes(message.body))
    assert sent.header.requesting_agency_request_id == request.number
    assert sent.bibliographic_info.title_of_component == "Chapter 1"


def test_a_peer_that_is_down_is_tried_again_later_not_at_once(network, fdu_elsewhere):
    request = ask(network)
    assert messaging.send_pending() == 0
    message = IsoMessage.objects.get(request=request)
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error  # staff can read why
    assert message.next_attempt_at > timezone.now()
    messaging.send_pending()
    message.refresh_from_db()
    assert message.attempts == 1  # the pause is respected


def test_the_suppliers_answer_moves_the_request_and_the_same_message_twice_changes_nothing(
    client, network, fdu_elsewhere
):
    request = ask(network)
    body = from_fdu(request, iso.Status.WILL_SUPPLY)
    for _ in range(2):
        reply = answer(post(client, body))
        assert reply.header.message_status == iso.MessageStatus.OK
    request.refresh_from_db()
    assert request.state == "in_process"
    assert request.events.filter(action="supplier_accepted").count() == 1
    assert IsoMessage.objects.filter(direction="in").count() == 1
    assert request.supplies.get().remote_id == "FDU-77"


def test_an_answer_the_request_has_moved_past_is_accepted_and_ignored(
    client, network, fdu_elsewhere
):
    request = ask(network)
    answer(post(client, from_fdu(request, iso.Status.UNFILLED, reason_unfilled="NotOnShelf")))
    late = answer(post(client, from_fdu(request, iso.Status.WILL_SUPPLY, minute=5)))
    assert late.header.message_status == iso.MessageStatus.OK
    assert IsoMessage.objects.filter(direction="in").last().status == "ignored"
    first = request.supplies.get(position=1)
    assert (first.state, first.reason) == ("unfilled", "not_on_shelf")
    # and the request went on to the next holder, SCU
    assert request.supplies.order_by("-position").first().supplier.code == "SCU"


def test_conditions_from_the_peer_reach_the_reader(client, network, fdu_elsewhere):
    request = ask(network)
    answer(
        post(
            client,
            from_fdu(
                request,
                iso.Status.RETRY_POSSIBLE,
                note="Colour scan",
                reason_retry="CostExceedsMaxCost",
                offered_costs=iso.Money(amount=Decimal("25.00"), currency="CNY"),
            ),
        )
    )
    request.refresh_from_db()
    supply = request.supplies.get()
    assert request.state == "conditional"
    assert (supply.conditions, str(supply.offered_cost), supply.currency) == (
        "Colour scan",
        "25.00",
        "CNY",
    )
    # the reader agrees: a Retry request goes back to FDU
    services.request_answer_conditions(actor=network.readers["USST"], request=request, accept=True)
    retry = IsoMessage.objects.filter(direction="out").last()
    message = iso.read(bytes(retry.body))
    assert message.service_info.request_type == iso.RequestType.RETRY
    assert message.billing_info.maximum_costs.amount == 25


def test_messages_about_unknown_requests_or_from_strangers_are_refused(
    client, network, fdu_elsewhere
):
    request = ask(network)
    stranger = from_fdu(request, iso.Status.WILL_SUPPLY).replace(b"CN-FDU", b"CN-NOBODY")
    reply = answer(post(client, stranger))
    assert reply.header.message_status == iso.MessageStatus.ERROR
    assert "not a registered peer" in reply.error_data.error_value
    unknown = answer(post(client, from_fdu(Request(number="KD0000000000"), iso.Status.LOANED)))
    assert unknown.error_data.error_type == iso.ErrorType.UNRECOGNISED_DATA_VALUE
    request.refresh_from_db()
    assert request.state == "sent"


def test_bad_bodies_get_a_precise_answer(client, network, fdu_elsewhere):
    broken = post(client, b"<ISO18626Message><supplyingAgencyMessage>")
    assert broken.status_code in (200, 400)
    if broken.status_code == 200:
        assert iso.read(broken.content).error_data.error_type == iso.ErrorType.BADLY_FORMED_MESSAGE
    entity = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'
    assert post(client, entity).status_code in (200, 400)
    assert IsoMessage.objects.filter(direction="in").count() == 0
    assert client.get(reverse("iso18626")).status_code == 405


def test_between_two_libraries_here_the_messages_are_logged_not_sent(network):
    request = ask(network)  # to FDU, hosted here
    supply = request.supplies.get()
    services.supply_accept(actor=network.staff["FDU"], supply=supply)
    log = list(IsoMessage.objects.filter(request=request).values_list("kind", "status"))
    assert log == [("Request", "local"), ("SupplyingAgencyMessage", "local")]
    assert messaging.send_pending() == 0


def test_a_peer_that_never_answers_is_told_the_request_went_elsewhere(network, fdu_elsewhere):
    request = ask(network)
    supply = request.supplies.get()
    assert services.supply_time_out(supply=supply)
    assert not services.supply_time_out(supply=supply)  # a second timer changes nothing
    cancel = IsoMessage.objects.filter(supply=supply, direction="out").last()
    assert iso.read(bytes(cancel.body)).action == iso.Action.CANCEL
    assert request.supplies.order_by("-position").first().supplier.code == "SCU"
