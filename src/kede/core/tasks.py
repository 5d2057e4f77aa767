"""Housekeeping of the task queue itself."""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.utils import timezone
from django_tasks import task

logger = logging.getLogger(__name__)


def requeue_stalled(now: datetime.datetime | None = None) -> int:
    """Put back in the queue tasks whose worker died mid-run (at-least-once, never lost).

    A task counts as stalled when it has been running longer than KEDE_TASK_STALL_MINUTES;
    every Kede task is safe to run again.
    """
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    cutoff = now - datetime.timedelta(minutes=settings.KEDE_TASK_STALL_MINUTES)
    count = DBTaskResult.objects.filter(status="RUNNING", started_at__lt=cutoff).update(
        status="READY", started_at=None, run_after=now
    )
    if count:
        logger.warning("requeued %d stalled task(s)", count)
    return count


@task()
def requeue_stalled_tasks() -> int:
    return requeue_stalled()
