"""Background work for delivery. Every task is safe to run twice."""

from __future__ import annotations

from django.conf import settings
from django_tasks import task

from kede.core.mail import send_or_retry
from kede.delivery.models import DeliveredCopy


@task()
def send_copy_ready_mail(copy_id: int, attempt: int = 1) -> str:
    """Tell the reader their copy is ready, with the signed link."""
    from kede.delivery.services import copy_link

    copy = DeliveredCopy.objects.select_related("request", "request__reader").get(id=copy_id)
    request = copy.request
    return send_or_retry(
        send_copy_ready_mail,
        attempt=attempt,
        user=request.reader,
        template="delivery/mail/copy_ready",
        context={
            "request": request,
            "copy": copy,
            "link": settings.SITE_URL + copy_link(copy),
            "request_url": f"{settings.SITE_URL}/requests/{request.id}/",
        },
        copy_id=copy_id,
    )


@task()
def send_copy_expiring_mail(copy_id: int, attempt: int = 1) -> str:
    """Remind a reader who has not downloaded their copy that it will soon be deleted."""
    from kede.delivery.services import copy_link

    copy = DeliveredCopy.objects.select_related("request", "request__reader").get(id=copy_id)
    if copy.downloads or not copy.is_available():
        return "not needed"
    return send_or_retry(
        send_copy_expiring_mail,
        attempt=attempt,
        user=copy.request.reader,
        template="delivery/mail/copy_expiring",
        context={
            "request": copy.request,
            "copy": copy,
            "link": settings.SITE_URL + copy_link(copy),
        },
        copy_id=copy_id,
    )


@task()
def remind_expiring_copies() -> int:
    """Queue one reminder per copy about to expire unread; safe to run twice at once."""
    from django.db import transaction

    from kede.delivery.services import copies_to_remind, copy_mark_reminded

    queued = 0
    for copy in copies_to_remind():
        with transaction.atomic():
            copy_mark_reminded(copy)
            send_copy_expiring_mail.enqueue(copy_id=copy.id)
        queued += 1
    return queued


@task()
def purge_expired_copies() -> int:
    from kede.delivery.services import copies_purge_expired

    return copies_purge_expired()
