"""Background work for e-book lending. Every task is safe to run twice, and at once."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks import task

from kede.core.mail import send_or_retry
from kede.delivery.ebook_models import EbookHold, EbookHoldState, EbookLoan


def _title_url(title_id: int) -> str:
    return settings.SITE_URL + reverse("portal:ebook", kwargs={"title_id": title_id})


@task()
def expire_ebook_loans() -> int:
    """End loans past due and offers not taken up; offer the freed copies to readers waiting."""
    from kede.delivery.ebooks import ebooks_expire_due

    report = ebooks_expire_due()
    return report.expired + report.lapsed + report.offered


@task()
def remind_ebooks_due() -> int:
    """Queue one reminder per loan due soon; the loan records it, so it goes out once."""
    from kede.delivery.ebooks import ebook_loan_mark_reminded, ebook_loans_to_remind

    queued = 0
    for loan in ebook_loans_to_remind():
        with transaction.atomic():
            if ebook_loan_mark_reminded(loan):
                send_ebook_due_mail.enqueue(loan_id=loan.id)
                queued += 1
    return queued


@task()
def send_ebook_due_mail(loan_id: int, attempt: int = 1) -> str:
    """Tell the reader their e-book loan ends soon, and whether they may renew it."""
    from kede.delivery.ebooks import ebook_title_status

    loan = EbookLoan.objects.select_related("reader", "title", "licence").get(id=loan_id)
    if not loan.is_open():
        return "not needed"
    status = ebook_title_status(loan.reader, loan.title)
    return send_or_retry(
        send_ebook_due_mail,
        attempt=attempt,
        user=loan.reader,
        template="delivery/mail/ebook_due",
        context={
            "loan": loan,
            "title": loan.title,
            "can_renew": status.can_renew,
            "link": _title_url(loan.title_id),
        },
        loan_id=loan_id,
    )


@task()
def send_hold_available_mail(hold_id: int, attempt: int = 1) -> str:
    """Tell the reader first in line that a copy is kept for them, and until when."""
    hold = EbookHold.objects.select_related("reader", "title").get(id=hold_id)
    if hold.state != EbookHoldState.OFFERED or hold.expires_at <= timezone.now():
        return "not needed"
    return send_or_retry(
        send_hold_available_mail,
        attempt=attempt,
        user=hold.reader,
        template="delivery/mail/ebook_hold_available",
        context={"hold": hold, "title": hold.title, "link": _title_url(hold.title_id)},
        hold_id=hold_id,
    )
