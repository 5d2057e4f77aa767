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


@task()
def send_iso_messages() -> int:
    """Deliver the ISO 18626 messages waiting for other systems (also run periodically, so a
    peer that was down gets its messages when it is back)."""
    from kede.ill.messaging import send_pending

    return send_pending()


@task()
def fetch_remote_copy(supply_id: int, attempt: int = 1) -> str:
    """Fetch a copy the supplier's system delivered by address, stamp and store it for the
    reader; try again later while that system cannot be reached."""
    import urllib.error
    import urllib.request

    from django.core.exceptions import ValidationError
    from django.utils import timezone

    from kede.core.mail import retry_delay
    from kede.ill import services
    from kede.ill.models import SupplyRequest

    supply = SupplyRequest.objects.select_related("request").get(id=supply_id)
    if not supply.delivery_url:
        return "nothing to fetch"
    limit = settings.KEDE_MAX_UPLOAD_BYTES
    try:
        with urllib.request.urlopen(  # noqa: S310 — an http(s) address checked on receipt
            supply.delivery_url, timeout=settings.KEDE_ISO18626_TIMEOUT
        ) as response:
            data = response.read(limit + 1)
    except (OSError, urllib.error.URLError) as exc:
        if attempt >= settings.KEDE_ISO18626_FETCH_ATTEMPTS:
            services.request_record_fact(
                request=supply.request, action="copy_fetch_failed", note=str(exc)[:500]
            )
            return f"gave up: {exc}"
        fetch_remote_copy.using(run_after=timezone.now() + retry_delay(attempt)).enqueue(
            supply_id=supply_id, attempt=attempt + 1
        )
        return f"retry: {exc}"
    try:
        stored = services.supply_store_fetched_copy(
            supply=supply, name=f"{supply.request.number}.pdf", data=data
        )
    except ValidationError as exc:
        services.request_record_fact(
            request=supply.request, action="copy_fetch_failed", note="; ".join(exc.messages)
        )
        return "refused"
    return "stored" if stored else "no longer wanted"
