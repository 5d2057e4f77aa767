"""Background work for delivery. Every task is safe to run twice."""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django_tasks import task

from kede.delivery.models import DeliveredCopy

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


def _retry_delay(attempt: int) -> datetime.timedelta:
    return datetime.timedelta(seconds=min(3600, 30 * 2 ** (attempt - 1)))


@task()
def send_copy_ready_mail(copy_id: int, attempt: int = 1) -> str:
    """Tell the reader their copy is ready. A mail server that is down is tried again later."""
    from kede.delivery.services import copy_link

    copy = DeliveredCopy.objects.select_related("request", "request__reader").get(id=copy_id)
    request = copy.request
    reader = request.reader
    if not reader.email:
        return "no address"
    with translation.override(reader.preferred_language or settings.LANGUAGE_CODE):
        context = {
            "reader": reader,
            "request": request,
            "copy": copy,
            "link": settings.SITE_URL + copy_link(copy),
            "request_url": f"{settings.SITE_URL}/requests/{request.id}/",
        }
        subject = render_to_string("delivery/mail/copy_ready_subject.txt", context).strip()
        body = render_to_string("delivery/mail/copy_ready_body.txt", context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [reader.email])
    except OSError as exc:
        if attempt >= MAX_ATTEMPTS:
            logger.error("giving up mail for copy %s after %s attempts: %s", copy_id, attempt, exc)
            raise
        logger.warning("mail for copy %s failed (%s); retrying", copy_id, exc)
        send_copy_ready_mail.using(run_after=timezone.now() + _retry_delay(attempt)).enqueue(
            copy_id=copy_id, attempt=attempt + 1
        )
        return "retry"
    return "sent"


@task()
def purge_expired_copies() -> int:
    from kede.delivery.services import copies_purge_expired

    return copies_purge_expired()
