"""A book lent from FDU to a USST reader, driven through the pages both libraries use."""

from __future__ import annotations

import datetime

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kede.conftest import PASSWORD
from kede.ill.models import Request


def logged_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def step(client, name, obj_id, action, **data):
    url = reverse(name, args=[obj_id, action])
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:500]
    return client.get(response["Location"])


def test_a_loan_through_the_workbench_pages(network):
    reader, usst, fdu = (
        logged_in(network.readers["USST"]),
        logged_in(network.staff["USST"]),
        logged_in(network.staff["FDU"]),
    )
    # the reader asks to borrow the book
    response = reader.post(
        reverse("portal:request-new") + f"?work={network.work.id}",
        {"title": network.work.title, "service_type": "loan", "work": network.work.id},
    )
    assert response.status_code == 302
    request = Request.objects.get()
    assert request.service_type == "loan"
    supply = request.supplies.get()
    # FDU ships it, due in three weeks
    due = timezone.localdate() + datetime.timedelta(days=21)
    page = step(fdu, "portal:staff-supply-step", supply.id, "ship", due_date=due.isoformat())
    assert "2026" in page.content.decode() or str(due.year) in page.content.decode()
    request.refresh_from_db()
    assert request.state == "shipped"
    # USST receives it and lends it to the reader
    step(usst, "portal:staff-borrowing-step", request.id, "item_received")
    step(usst, "portal:staff-borrowing-step", request.id, "check_out")
    # the reader sees the due date and asks to keep it longer
    page = reader.get(reverse("portal:request-detail", args=[request.id])).content.decode()
    assert due.isoformat() in page
    step(reader, "portal:request-step", request.id, "ask_renew")
    # FDU sees the renewal asked and grants four more weeks
    page = fdu.get(reverse("portal:staff-supply", args=[supply.id])).content.decode()
    assert 'value="yes"' in page
    later = due + datetime.timedelta(days=28)
    step(fdu, "portal:staff-supply-step", supply.id, "answer_renew", answer="yes",
         due_date=later.isoformat())  # fmt: skip
    supply.refresh_from_db()
    request.refresh_from_db()
    assert (supply.due_date, request.state) == (later, "checked_out")
    # back: returned by the reader, shipped back, checked in at FDU
    step(usst, "portal:staff-borrowing-step", request.id, "returned_by_reader")
    step(usst, "portal:staff-borrowing-step", request.id, "ship_return")
    step(fdu, "portal:staff-supply-step", supply.id, "check_in")
    request.refresh_from_db()
    supply.refresh_from_db()
    assert (request.state, supply.state) == ("completed", "completed")
    # both libraries see every message of the loan in its log
    page = usst.get(reverse("portal:staff-borrowing", args=[request.id])).content.decode()
    assert page.count('<tr class="m-local">') >= 6


def test_one_library_cannot_take_anothers_steps(network):
    reader = logged_in(network.readers["USST"])
    reader.post(
        reverse("portal:request-new"),
        {"title": network.work.title, "service_type": "loan", "work": network.work.id},
    )
    request = Request.objects.get()
    supply = request.supplies.get()
    scu, fdu = logged_in(network.staff["SCU"]), logged_in(network.staff["FDU"])
    url = reverse("portal:staff-supply-step", args=[supply.id, "ship"])
    assert scu.post(url, {"due_date": "2099-01-01"}).status_code == 404
    url = reverse("portal:staff-borrowing-step", args=[request.id, "item_received"])
    assert fdu.post(url).status_code == 404
    # and a reader cannot take a librarian's step on their own request
    url = reverse("portal:request-step", args=[request.id, "check_out"])
    assert reader.post(url).status_code == 404
    request.refresh_from_db()
    assert request.state == "sent"


def test_a_step_the_state_does_not_allow_is_refused_with_a_message(network):
    reader = logged_in(network.readers["USST"])
    reader.post(
        reverse("portal:request-new"),
        {"title": network.work.title, "service_type": "loan", "work": network.work.id},
    )
    request = Request.objects.get()
    usst = logged_in(network.staff["USST"])
    page = step(usst, "portal:staff-borrowing-step", request.id, "check_out")
    assert 'class="error"' in page.content.decode() or "error" in page.content.decode()
    request.refresh_from_db()
    assert request.state == "sent"


def test_the_workbench_queues_say_what_to_do_next(network):
    reader = logged_in(network.readers["USST"])
    for title, service in (("A book to lend", "loan"), ("A chapter to scan", "copy")):
        reader.post(
            reverse("portal:request-new"),
            {"title": title, "service_type": service, "work": network.work.id,
             "container_title": "The making"},
        )  # fmt: skip
    fdu = logged_in(network.staff["FDU"])
    for request in Request.objects.all():
        fdu.post(reverse("portal:staff-accept", args=[request.supplies.get().id]))

    def queue(name):
        page = fdu.get(reverse("portal:staff"), {"state": name}).content.decode()
        return [t for t in ("A book to lend", "A chapter to scan") if t in page]

    assert queue("to_ship") == ["A book to lend"]
    assert queue("to_scan") == ["A chapter to scan"]
    assert queue("to_review") == []


def test_loans_are_shipped_in_bulk_and_the_others_are_named(network):
    reader = logged_in(network.readers["USST"])
    for title, service in (("Book one", "loan"), ("Book two", "loan"), ("A chapter", "copy")):
        reader.post(
            reverse("portal:request-new"),
            {"title": title, "service_type": service, "work": network.work.id,
             "container_title": "The making"},
        )  # fmt: skip
    fdu = logged_in(network.staff["FDU"])
    ids = [r.supplies.get().id for r in Request.objects.order_by("id")]
    page = fdu.post(reverse("portal:staff-bulk-step", args=["ship"]), {"ids": ids}, follow=True)
    states = dict(Request.objects.values_list("title", "state"))
    assert states == {"Book one": "shipped", "Book two": "shipped", "A chapter": "sent"}
    chapter = Request.objects.get(title="A chapter").number
    assert chapter in page.content.decode()
