"""Notices to people: rendered in the recipient's language, retried when the server is down."""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone, translation

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


def retry_delay(attempt: int) -> datetime.timedelta:
    return datetime.timedelta(seconds=min(3600, 30 * 2 ** (attempt - 1)))


def send_notice(*, user, template: str, context: dict) -> bool:
    """Render `<template>_subject.txt` and `<template>_body.txt` for `user` and send them.

    Returns False when the person has no address. Raises OSError when the mail server fails.
    """
    if not user.email:
        return False
    with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
        context = {"site_url": settings.SITE_URL, "recipient": user, **context}
        subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
        body = render_to_string(f"{template}_body.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    return True


def send_or_retry(task, *, attempt: int, user, template: str, context: dict, **task_kwargs) -> str:
    """Send now; if the mail server fails, queue `task` again with backoff (up to a limit)."""
    try:
        return (
            "sent" if send_notice(user=user, template=template, context=context) else "no address"
        )
    except OSError as exc:
        if attempt >= MAX_ATTEMPTS:
            logger.error("giving up %s to %s after %s attempts: %s", template, user, attempt, exc)
            raise
        logger.warning("%s to %s failed (%s); retrying", template, user, exc)
        task.using(run_after=timezone.now() + retry_delay(attempt)).enqueue(
            attempt=attempt + 1, **task_kwargs
        )
        return "retry"
