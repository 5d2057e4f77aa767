"""E-book lending: a reader borrows under their library's or the consortium's licence, downloads a
copy stamped for them, and loses access on time; the last copy goes to one reader only; readers
wait in line and are told by mail, through a real SMTP server, when a copy is kept for them."""

import datetime
import io
import threading

import pytest
from aiosmtpd.controller import Controller
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from pypdf import PdfReader

from kede.conftest import pdf_bytes
from kede.core.runtime import run_pending_tasks
from kede.delivery import ebooks
from kede.delivery.ebook_models import EbookHold, EbookLicence, EbookLoan, EbookTitle
from kede.delivery.ebook_tasks import remind_ebooks_due
from kede.delivery.tests.test_mail import Inbox, free_port

# ---- helpers ---------------------------------------------------------------------------------


def an_ebook(name="A history of Chinese printing", **licence) -> EbookTitle:
    """A title with one licence (the consortium's unless a holder is given)."""
    title = ebooks.ebook_title_add(title=name, author="Zhang San", year="2020", pdf=pdf_bytes(3))
    terms = {"copies": 1, "loan_days": 14, "renewals": 1, **licence}
    ebooks.ebook_licence_add(title=title, **terms)
    return title


def token_of(loan: EbookLoan) -> str:
    return ebooks.ebook_link(loan).rstrip("/").rsplit("/", 1)[-1]


def refusal(call) -> str:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.code


def move_past_due(loan: EbookLoan) -> None:
    """Let the loan period run out, as if its days had passed."""
    now = timezone.now()
    EbookLoan.objects.filter(pk=loan.pk).update(
        started_at=now - datetime.timedelta(days=15), due_at=now - datetime.timedelta(minutes=1)
    )


def mail_tasks() -> int:
    return DBTaskResult.objects.filter(task_path__contains="ebook_tasks").count()


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


def race(*actions):
    """Run the actions in threads released together; return (results, errors)."""
    barrier = threading.Barrier(len(actions))
    results, errors = [], []

    def run(action):
        try:
            barrier.wait()
            results.append(action())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results, errors


# ---- borrowing and the stamped copy ----------------------------------------------------------


@pytest.mark.django_db
def test_a_reader_borrows_and_downloads_a_copy_stamped_with_their_name_and_due_date(network):
    # given an e-book the consortium lends
    title = an_ebook()
    reader = network.readers["USST"]
    # when the reader borrows it and downloads it through the signed link
    loan = ebooks.ebook_borrow(actor=reader, title=title)
    stamped = ebooks.ebook_download(actor=reader, loan=loan, token=token_of(loan))
    # then the PDF has a cover and a footer naming the reader and the end of the loan
    due = timezone.localtime(loan.due_at)
    assert loan.state == "active" and loan.institution == network["USST"]
    assert due - timezone.localtime(loan.started_at) == datetime.timedelta(days=14)
    pdf = PdfReader(io.BytesIO(stamped.data))
    assert len(pdf.pages) == 4
    cover = pdf.pages[0].extract_text()
    assert reader.full_name in cover
    assert due.date().isoformat() in cover
    assert network["USST"].name in cover
    footer = pdf.pages[1].extract_text()
    assert f"{due:%Y-%m-%d %H:%M}" in footer and reader.full_name in footer
    assert stamped.filename == f"{loan.number}.pdf"


@pytest.mark.django_db
def test_a_reader_cannot_borrow_the_same_title_twice_nor_hold_one_with_a_free_copy(network):
    # given a title with two consortium copies, one lent to a USST reader
    title = an_ebook(copies=2)
    reader = network.readers["USST"]
    ebooks.ebook_borrow(actor=reader, title=title)
    # when they try again, or try to queue for it
    again = refusal(lambda: ebooks.ebook_borrow(actor=reader, title=title))
    queue = refusal(lambda: ebooks.ebook_place_hold(actor=network.readers["SCU"], title=title))
    # then both are refused, each with its reason
    assert again == "already_borrowed"
    assert queue == "copy_free"
    assert EbookLoan.objects.count() == 1 and EbookHold.objects.count() == 0


@pytest.mark.django_db
def test_only_approved_readers_borrow(network):
    # given an e-book and a librarian who is no reader
    title = an_ebook()
    # when the librarian tries to borrow it
    said = refusal(lambda: ebooks.ebook_borrow(actor=network.staff["FDU"], title=title))
    # then they are told why
    assert said == "not_reader"
    assert not EbookLoan.objects.exists()


# ---- tenancy ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_library_licence_serves_its_own_readers_only(network):
    # given an e-book only FDU licenses, lent to an FDU reader
    title = an_ebook(holder=network["FDU"])
    fdu, scu = network.readers["FDU"], network.readers["SCU"]
    loan = ebooks.ebook_borrow(actor=fdu, title=title)
    # when a reader of another library looks for it, tries to borrow or queue, or takes the link
    listed = list(ebooks.ebook_titles_for_reader(scu))
    with pytest.raises(EbookTitle.DoesNotExist):
        ebooks.ebook_title_for_reader(scu, title.id)
    borrow = refusal(lambda: ebooks.ebook_borrow(actor=scu, title=title))
    hold = refusal(lambda: ebooks.ebook_place_hold(actor=scu, title=title))
    with pytest.raises(ebooks.EbookDownloadRefused) as download:
        ebooks.ebook_download(actor=scu, loan=loan, token=token_of(loan))
    # then the title is not theirs to see or use, and the FDU reader's loan is not theirs to see
    assert title not in listed
    assert borrow == hold == "not_licensed"
    assert download.value.code == "not_yours"
    assert not ebooks.ebook_loans_of_reader(scu).exists()
    with pytest.raises(EbookLoan.DoesNotExist):
        ebooks.ebook_loan_for_reader(scu, loan.id)
    assert list(ebooks.ebook_titles_for_reader(fdu)) == [title]


@pytest.mark.django_db
def test_a_free_copy_of_another_librarys_licence_is_never_lent_to_a_stranger(network):
    # given FDU's licence (1 copy) and the consortium's (1 copy) of the same title
    title = an_ebook(holder=network["FDU"])
    ebooks.ebook_licence_add(title=title, copies=1, loan_days=14)
    # when an SCU reader takes the consortium's copy and a USST reader comes next
    scu_loan = ebooks.ebook_borrow(actor=network.readers["SCU"], title=title)
    usst = network.readers["USST"]
    said = refusal(lambda: ebooks.ebook_borrow(actor=usst, title=title))
    # then USST is told every copy is out although FDU's copy sits unused, and may queue
    assert scu_loan.licence.holder is None
    assert said == "none_free"
    assert ebooks.ebook_availability(usst, [title])[title.id].free == 0
    assert ebooks.ebook_place_hold(actor=usst, title=title).state == "waiting"
    # and an FDU reader still gets FDU's own copy
    fdu_loan = ebooks.ebook_borrow(actor=network.readers["FDU"], title=title)
    assert fdu_loan.licence.holder == network["FDU"]


# ---- the last copy -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_readers_racing_for_the_last_copy_one_gets_it_the_other_is_told(network):
    # given a consortium e-book with one copy, and readers of two libraries
    title = an_ebook(copies=1)
    usst, scu = network.readers["USST"], network.readers["SCU"]
    # when both press Borrow at the same moment
    results, errors = race(
        lambda: ebooks.ebook_borrow(actor=usst, title=title),
        lambda: ebooks.ebook_borrow(actor=scu, title=title),
    )
    # then exactly one loan exists and the other reader got a clear refusal
    assert len(results) == 1
    assert len(errors) == 1
    assert isinstance(errors[0], ValidationError) and errors[0].code == "none_free"
    assert EbookLoan.objects.filter(state="active").count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_reader_pressing_borrow_twice_at_once_gets_one_loan(network):
    # given a title with plenty of copies
    title = an_ebook(copies=5)
    reader = network.readers["USST"]
    # when the same reader's two tabs borrow at once
    results, errors = race(*[lambda: ebooks.ebook_borrow(actor=reader, title=title)] * 2)
    # then one loan, and the other tab is told they have it already
    assert len(results) == 1
    assert [e.code for e in errors] == ["already_borrowed"]
    assert EbookLoan.objects.count() == 1


# ---- waiting list, expiry and mail -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_when_a_loan_expires_the_reader_waiting_is_mailed_and_may_borrow_it(network, smtp):
    # given the only copy lent to USST, and an SCU reader (reading English) queueing for it
    title = an_ebook(copies=1)
    usst, scu, fdu = network.readers["USST"], network.readers["SCU"], network.readers["FDU"]
    scu.preferred_language = "en"
    scu.save(update_fields=["preferred_language"])
    loan = ebooks.ebook_borrow(actor=usst, title=title)
    assert refusal(lambda: ebooks.ebook_borrow(actor=scu, title=title)) == "none_free"
    hold = ebooks.ebook_place_hold(actor=scu, title=title)
    token = token_of(loan)
    # when the loan period runs out
    move_past_due(loan)
    # then the borrower's link is refused at once, before any job has run
    with pytest.raises(ebooks.EbookDownloadRefused) as early:
        ebooks.ebook_download(actor=usst, loan=loan, token=token)
    assert early.value.code == "ended"
    # when the expiry job and the worker run
    report = ebooks.ebooks_expire_due()
    run_pending_tasks()
    # then the loan expired, the copy is kept for SCU, and SCU has one English mail saying so
    assert (report.expired, report.offered) == (1, 1)
    loan.refresh_from_db()
    hold.refresh_from_db()
    assert loan.state == "expired"
    assert hold.state == "offered" and hold.expires_at > timezone.now()
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"] == scu.email
    assert title.title in message["Subject"]
    assert f"/ebooks/{title.id}/" in message.get_content()
    assert "waiting for you" in message["Subject"]
    # and nobody else can take the kept copy, while SCU can within the offer window
    assert refusal(lambda: ebooks.ebook_borrow(actor=fdu, title=title)) == "none_free"
    taken = ebooks.ebook_borrow(actor=scu, title=title)
    hold.refresh_from_db()
    assert taken.state == "active" and hold.state == "fulfilled"
    # and the expired borrower's link stays refused
    with pytest.raises(ebooks.EbookDownloadRefused) as late:
        ebooks.ebook_download(actor=usst, loan=loan, token=token)
    assert late.value.code == "ended"


@pytest.mark.django_db(transaction=True)
def test_an_offer_not_taken_up_in_time_goes_to_the_next_reader(network, smtp):
    # given the only copy lent to USST, and SCU then FDU waiting
    title = an_ebook(copies=1)
    usst, scu, fdu = network.readers["USST"], network.readers["SCU"], network.readers["FDU"]
    loan = ebooks.ebook_borrow(actor=usst, title=title)
    first = ebooks.ebook_place_hold(actor=scu, title=title)
    second = ebooks.ebook_place_hold(actor=fdu, title=title)
    # when USST returns it early, and SCU lets the offer run out
    ebooks.ebook_return(actor=usst, loan=loan)
    run_pending_tasks()
    first.refresh_from_db()
    assert first.state == "offered"
    EbookHold.objects.filter(pk=first.pk).update(
        expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    report = ebooks.ebooks_expire_due()
    run_pending_tasks()
    # then SCU's offer lapsed, FDU has the copy kept for them, and each was mailed once
    first.refresh_from_db()
    second.refresh_from_db()
    assert (report.lapsed, report.offered) == (1, 1)
    assert first.state == "lapsed" and second.state == "offered"
    assert sorted(m["To"] for m in smtp.messages) == sorted([scu.email, fdu.email])
    assert refusal(lambda: ebooks.ebook_borrow(actor=scu, title=title)) == "none_free"
    assert ebooks.ebook_borrow(actor=fdu, title=title).state == "active"


@pytest.mark.django_db
def test_expiring_twice_changes_nothing(network):
    # given an expired loan with a reader waiting
    title = an_ebook(copies=1)
    loan = ebooks.ebook_borrow(actor=network.readers["USST"], title=title)
    hold = ebooks.ebook_place_hold(actor=network.readers["SCU"], title=title)
    move_past_due(loan)
    first = ebooks.ebooks_expire_due()
    states = (EbookLoan.objects.get(pk=loan.pk).state, EbookHold.objects.get(pk=hold.pk).state)
    expires_at = EbookHold.objects.get(pk=hold.pk).expires_at
    queued = mail_tasks()
    # when the job runs again
    second = ebooks.ebooks_expire_due()
    # then nothing more happened: same states, same offer, no second mail
    assert (first.expired, first.offered) == (1, 1)
    assert second == ebooks.ExpiryReport(expired=0, lapsed=0, offered=0)
    assert (EbookLoan.objects.get(pk=loan.pk).state, EbookHold.objects.get(pk=hold.pk).state) == (
        states
    )
    assert EbookHold.objects.get(pk=hold.pk).expires_at == expires_at
    assert mail_tasks() == queued == 1


@pytest.mark.django_db
def test_a_copy_freed_by_time_goes_to_the_reader_waiting_even_before_the_job_runs(network):
    # given the only copy lent to USST past its due date, and SCU waiting
    title = an_ebook(copies=1)
    loan = ebooks.ebook_borrow(actor=network.readers["USST"], title=title)
    hold = ebooks.ebook_place_hold(actor=network.readers["SCU"], title=title)
    move_past_due(loan)
    # when an FDU reader, not in line, tries to borrow before the expiry job has run
    said = refusal(lambda: ebooks.ebook_borrow(actor=network.readers["FDU"], title=title))
    # then the copy went to the reader waiting, not to the one who came later
    hold.refresh_from_db()
    assert said == "none_free"
    assert hold.state == "offered"
    assert EbookLoan.objects.get(pk=loan.pk).state == "expired"


@pytest.mark.django_db(transaction=True)
def test_two_expiry_jobs_at_once_offer_the_copy_once(network):
    # given an expired loan with a reader waiting
    title = an_ebook(copies=1)
    loan = ebooks.ebook_borrow(actor=network.readers["USST"], title=title)
    ebooks.ebook_place_hold(actor=network.readers["SCU"], title=title)
    move_past_due(loan)
    # when two schedulers' jobs run at the same moment
    results, errors = race(ebooks.ebooks_expire_due, ebooks.ebooks_expire_due)
    # then the loan expired once, the copy was offered once, and one mail is queued
    assert errors == []
    assert sum(r.expired for r in results) == 1
    assert sum(r.offered for r in results) == 1
    assert mail_tasks() == 1


@pytest.mark.django_db
def test_a_copy_added_later_goes_to_the_reader_waiting(network):
    # given a reader waiting for a title whose only copy is out
    title = an_ebook(copies=1)
    ebooks.ebook_borrow(actor=network.readers["USST"], title=title)
    hold = ebooks.ebook_place_hold(actor=network.readers["SCU"], title=title)
    # when the centre raises the licence to two copies by hand and the job runs
    EbookLicence.objects.filter(title=title).update(copies=2)
    report = ebooks.ebooks_expire_due()
    # then the new copy is offered to the reader waiting
    hold.refresh_from_db()
    assert report.offered == 1 and hold.state == "offered"


# ---- renewals and the due-date reminder ------------------------------------------------------


@pytest.mark.django_db
def test_renewals_respect_the_licence(network):
    # given a loan under a licence allowing one renewal of 14 days
    title = an_ebook(renewals=1, loan_days=14)
    reader = network.readers["USST"]
    loan = ebooks.ebook_borrow(actor=reader, title=title)
    due = loan.due_at
    # when the reader renews, then tries again
    renewed = ebooks.ebook_renew(actor=reader, loan=loan)
    again = refusal(lambda: ebooks.ebook_renew(actor=reader, loan=loan))
    # then the first renewal added a loan period from the due date, the second was refused
    assert renewed.due_at == due + datetime.timedelta(days=14)
    assert renewed.renewals_used == 1
    assert again == "no_renewals_left"
    assert EbookLoan.objects.get(pk=loan.pk).due_at == renewed.due_at


@pytest.mark.django_db
def test_a_loan_is_not_renewed_while_others_wait_nor_after_it_ended(network):
    # given a loan that could be renewed twice, and another reader waiting
    title = an_ebook(renewals=2)
    reader = network.readers["USST"]
    loan = ebooks.ebook_borrow(actor=reader, title=title)
    ebooks.ebook_place_hold(actor=network.readers["SCU"], title=title)
    # when the borrower renews; then when the loan has run out
    waiting = refusal(lambda: ebooks.ebook_renew(actor=reader, loan=loan))
    EbookHold.objects.update(state="cancelled")
    move_past_due(loan)
    ended = refusal(lambda: ebooks.ebook_renew(actor=reader, loan=loan))
    # then both are refused, each with its reason
    assert (waiting, ended) == ("others_waiting", "ended")


@pytest.mark.django_db(transaction=True)
def test_the_due_soon_reminder_is_sent_once_even_if_the_job_runs_twice(network, smtp):
    # given a loan due in a day
    title = an_ebook()
    reader = network.readers["USST"]
    loan = ebooks.ebook_borrow(actor=reader, title=title)
    now = timezone.now()
    EbookLoan.objects.filter(pk=loan.pk).update(
        started_at=now - datetime.timedelta(days=13), due_at=now + datetime.timedelta(days=1)
    )
    # when the reminder job runs twice and the worker runs
    remind_ebooks_due.call()
    remind_ebooks_due.call()
    run_pending_tasks()
    run_pending_tasks()
    # then one reminder arrived, naming the title and linking to its page, and it is recorded
    assert len(smtp.messages) == 1
    assert smtp.messages[0]["To"] == reader.email
    assert title.title in smtp.messages[0]["Subject"]
    assert f"/ebooks/{title.id}/" in smtp.messages[0].get_content()
    assert EbookLoan.objects.get(pk=loan.pk).due_reminded_at is not None


@pytest.mark.django_db
def test_a_loan_far_from_due_or_shorter_than_the_reminder_period_is_not_reminded(network):
    # given a fresh fourteen-day loan, and a fresh one-day loan
    ebooks.ebook_borrow(actor=network.readers["USST"], title=an_ebook())
    ebooks.ebook_borrow(actor=network.readers["USST"], title=an_ebook("Short", loan_days=1))
    # when the reminder job runs
    # then nothing is queued
    assert remind_ebooks_due.call() == 0


# ---- set-up and the demo ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_title_must_be_a_readable_pdf_and_a_licence_must_lend_something(network):
    # when the centre adds a file that is no PDF, or a licence without copies
    with pytest.raises(ValidationError) as not_pdf:
        ebooks.ebook_title_add(title="Broken", pdf=b"hello")
    title = ebooks.ebook_title_add(title="Fine", pdf=pdf_bytes(2), isbn="0-394-70322-7")
    with pytest.raises(ValidationError):
        ebooks.ebook_licence_add(title=title, copies=0)
    # then the PDF was refused, the good title was linked to the catalogue by its ISBN
    assert "file" in not_pdf.value.message_dict
    assert title.isbn == "9780394703220" and title.work == network.work
    assert title.pages == 2
    assert not EbookLicence.objects.exists()


@pytest.mark.django_db
def test_the_demo_e_books_are_loaded_once_and_each_library_sees_its_own(network):
    # when the demo loader runs twice
    created = ebooks.ebooks_demo_load()
    again = ebooks.ebooks_demo_load()
    # then three titles with readable PDFs, and each library's readers see their share
    assert (created, again) == (3, 0)
    assert EbookTitle.objects.count() == 3
    consortium = EbookLicence.objects.get(holder__isnull=True)
    assert consortium.copies == 1
    for title in EbookTitle.objects.all():
        assert PdfReader(title.file.open("rb")).pages
    seen = {code: ebooks.ebook_titles_for_reader(network.readers[code]).count()
            for code in ("USST", "FDU", "SCU")}  # fmt: skip
    assert seen == {"USST": 2, "FDU": 2, "SCU": 1}
