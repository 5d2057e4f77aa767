"""The reader's mail goes through a real SMTP server on loopback, once, even after a failure."""

import email
import email.policy
import socket
import threading

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from kede.conftest import deliver_copy
from kede.core.runtime import run_pending_tasks
from kede.ill import services

pytestmark = pytest.mark.django_db(transaction=True)


class Inbox:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(
                email.message_from_bytes(envelope.content, policy=email.policy.default)
            )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    yield inbox
    controller.stop()


def deliver(network):
    return deliver_copy(network, "Chapter 5")


def body_of(message) -> str:
    return message.get_content()


def test_the_reader_gets_one_mail_with_the_link_in_their_language(network, smtp):
    # given a reader who reads English
    reader = network.readers["USST"]
    reader.preferred_language = "en"
    reader.save(update_fields=["preferred_language"])
    # when the copy is delivered and the worker runs
    request = deliver(network)
    run_pending_tasks()
    run_pending_tasks()
    # then exactly one English mail arrived at the reader's address with a signed link
    assert len(smtp.messages) == 1
    msg = smtp.messages[0]
    assert msg["To"] == reader.email
    assert request.number in msg["Subject"]
    body = body_of(msg)
    assert f"/files/{request.copies.get().id}/" in body
    assert "download it" in body.lower()


def test_a_mail_server_that_is_down_delays_the_mail_but_does_not_lose_it(network, settings):
    # given a mail server that is not there yet
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    deliver(network)
    run_pending_tasks()
    from django_tasks_db.models import DBTaskResult

    retry = DBTaskResult.objects.filter(status="READY", task_path__endswith="send_copy_ready_mail")
    assert retry.count() == 1
    # when the server comes up and the retry falls due
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=settings.EMAIL_PORT)
    controller.start()
    try:
        retry.update(run_after=timezone.now())
        run_pending_tasks()
    finally:
        controller.stop()
    # then the mail arrives, once
    assert len(inbox.messages) == 1


def test_a_reader_whose_request_ends_unfilled_is_told_why(network, smtp):
    # given a request both holders refuse
    request = services.request_submit(
        actor=network.readers["USST"],
        citation=services.Citation(title="Chapter 7", container_title="The making"),
        work=network.work,
    )
    services.supply_refuse(
        actor=network.staff["FDU"],
        supply=request.supplies.get(supplier__code="FDU"),
        reason="not_on_shelf",
        note="on loan",
    )
    services.supply_refuse(
        actor=network.staff["SCU"],
        supply=request.supplies.get(supplier__code="SCU"),
        reason="not_held",
    )
    # when the worker runs
    run_pending_tasks()
    # then the reader has one mail naming each library and its reason
    assert len(smtp.messages) == 1
    body = body_of(smtp.messages[0])
    assert request.number in smtp.messages[0]["Subject"]
    assert "FDU Library" in body and "on loan" in body and "SCU Library" in body


def test_a_reader_who_has_not_downloaded_is_reminded_once_before_deletion(network, smtp):
    # given a copy nobody has downloaded, two days from deletion
    import datetime

    from kede.delivery.models import DeliveredCopy
    from kede.delivery.tasks import remind_expiring_copies

    request = deliver(network)
    run_pending_tasks()  # the "copy ready" mail
    DeliveredCopy.objects.update(expires_at=timezone.now() + datetime.timedelta(days=2))
    # when the reminder job runs twice and the worker runs
    remind_expiring_copies.call()
    remind_expiring_copies.call()
    run_pending_tasks()
    # then one reminder arrived, with the link, and the history shows it
    reminders = [m for m in smtp.messages if "deleted" in m["Subject"] or "删除" in m["Subject"]]
    assert len(reminders) == 1
    assert f"/files/{request.copies.get().id}/" in body_of(reminders[0])
    assert request.events.filter(action="expiry_reminded").count() == 1


def test_mail_text_is_not_html_escaped(network, smtp):
    request = services.request_submit(
        actor=network.readers["USST"],
        citation=services.Citation(title="Rites & wrongs <1>", container_title="Past & present"),
        work=network.serial,
    )
    services.supply_refuse(
        actor=network.staff["WHU"], supply=request.supplies.get(), reason="not_held"
    )
    run_pending_tasks()
    body = body_of(smtp.messages[0])
    assert "Rites & wrongs <1>" in body and "&amp;" not in body
