"""Background work for requests."""

from __future__ import annotations

from django.conf import settings
from django_tasks import task

from kede.core.mail import send_or_retry
from kede.ill.models import Request
from kede.ill.selectors import refusals


@task()
def send_request_unfilled_mail(request_id: int, attempt: int = 1) -> str:
    """Tell the reader no library could supply their request, and why."""
    request = Request.objects.select_related("reader").get(id=request_id)
    return send_or_retry(
        send_request_unfilled_mail,
        attempt=attempt,
        user=request.reader,
        template="ill/mail/unfilled",
        context={
            "request": request,
            "refusals": list(refusals(request)),
            "request_url": f"{settings.SITE_URL}/requests/{request.id}/",
        },
        request_id=request_id,
    )
