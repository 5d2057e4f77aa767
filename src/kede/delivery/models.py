"""Delivered copies: the file, its limits, and every download."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DeliveryPolicy(models.Model):
    """How long and how often a delivered copy may be downloaded.

    The row without an institution is the consortium's default, set by the centre; a row for a
    supplying library overrides it for the copies that library sends.
    """

    institution = models.OneToOneField(
        "consortium.Institution",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="delivery_policy",
        help_text=_("Empty: the consortium's default."),
    )
    download_limit = models.PositiveSmallIntegerField(_("downloads allowed"))
    days_after_upload = models.PositiveSmallIntegerField(_("days available after upload"))
    days_after_first_download = models.PositiveSmallIntegerField(
        _("days available after the first download")
    )

    class Meta:
        verbose_name = _("delivery policy")
        verbose_name_plural = _("delivery policies")
        constraints = [
            models.UniqueConstraint(
                fields=["institution"],
                name="uniq_delivery_policy_default",
                condition=models.Q(institution__isnull=True),
            ),
            models.CheckConstraint(
                condition=models.Q(
                    download_limit__gte=1,
                    days_after_upload__gte=1,
                    days_after_first_download__gte=1,
                ),
                name="delivery_policy_positive",
            ),
        ]


class DeliveredCopy(models.Model):
    request = models.ForeignKey("ill.Request", on_delete=models.PROTECT, related_name="copies")
    supply = models.ForeignKey("ill.SupplyRequest", on_delete=models.PROTECT, related_name="copies")
    file = models.FileField(_("file"), upload_to="copies/%Y/%m/", max_length=300)
    original_name = models.CharField(_("file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size"))
    pages = models.PositiveIntegerField(_("page count"))
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    download_limit = models.PositiveSmallIntegerField(_("download limit"))
    downloads = models.PositiveSmallIntegerField(_("downloads"), default=0)
    expires_at = models.DateTimeField(_("available until"))
    days_after_first_download = models.PositiveSmallIntegerField(default=30)
    first_downloaded_at = models.DateTimeField(_("first downloaded"), null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)
    deleted_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = _("delivered copy")
        verbose_name_plural = _("delivered copies")
        indexes = [models.Index(fields=["deleted_at", "expires_at"])]

    @property
    def downloads_left(self) -> int:
        return max(0, self.download_limit - self.downloads)

    def is_available(self, now=None) -> bool:
        now = now or timezone.now()
        return self.deleted_at is None and self.downloads_left > 0 and now < self.expires_at


class DownloadLog(models.Model):
    copy = models.ForeignKey(DeliveredCopy, on_delete=models.CASCADE, related_name="log")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True)
    outcome = models.CharField(max_length=16)  # "ok" or the reason it was refused

    class Meta:
        ordering = ["at"]


from kede.delivery.ebook_models import *  # noqa: E402, F403
from kede.delivery.ppv_models import *  # noqa: E402, F403
