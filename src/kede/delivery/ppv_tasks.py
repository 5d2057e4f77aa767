"""Background work for pay-per-view. Every task is safe to run twice, and at once."""

from __future__ import annotations

import logging

from django.utils import timezone
from django_tasks import task

from kede.core.mail import retry_delay
from kede.delivery.ppv_models import PpvPurchase, PpvStatus

logger = logging.getLogger(__name__)


@task()
def complete_ppv_purchase(purchase_id: int, attempt: int = 1) -> str:
    """Finish a purchase the page did not (a crash, a vendor down): order it, deliver it."""
    from kede.delivery.ppv_services import MAX_COMPLETE_ATTEMPTS, ppv_fulfil

    purchase = PpvPurchase.objects.filter(id=purchase_id).first()
    if purchase is None:
        return "gone"
    if purchase.status in (PpvStatus.ORDERING, PpvStatus.ORDERED):
        purchase = ppv_fulfil(purchase=purchase)
    if purchase.status not in (PpvStatus.ORDERING, PpvStatus.ORDERED):
        return purchase.status
    if attempt >= MAX_COMPLETE_ATTEMPTS:
        logger.error("purchase %s still %s after %s attempts", purchase.number, purchase.status,
                     attempt)  # fmt: skip
        return "gave up"
    complete_ppv_purchase.using(run_after=timezone.now() + retry_delay(attempt)).enqueue(
        purchase_id=purchase_id, attempt=attempt + 1
    )
    return "retry"


@task()
def purge_expired_purchases() -> int:
    from kede.delivery.ppv_services import ppv_purge_expired

    return ppv_purge_expired()
