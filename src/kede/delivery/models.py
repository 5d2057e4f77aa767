"""Delivered copies: the file, its limits, and every download."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
