"""The union catalogue (foundation version): works and who holds them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from kede.consortium.models import Institution


class Work(models.Model):
    title = models.CharField(_("title"), max_length=1000)
    author = models.CharField(_("author"), max_length=500, blank=True)
    publisher = models.CharField(_("publisher"), max_length=500, blank=True)
    year = models.CharField(_("year"), max_length=8, blank=True)
    edition = models.CharField(_("edition"), max_length=200, blank=True)
    isbn = models.CharField(_("ISBN"), max_length=17, blank=True, db_index=True)
    issn = models.CharField(_("ISSN"), max_length=9, blank=True, db_index=True)
    format = models.CharField(_("format"), max_length=16, default="book")
    language = models.CharField(_("language"), max_length=3, blank=True)
    # Folded title, author, publisher and identifiers: what the simple search matches against.
    search_text = models.TextField(editable=False, default="")

    class Meta:
        verbose_name = _("work")
        verbose_name_plural = _("works")

    def __str__(self) -> str:
        return self.title


class Holding(models.Model):
    work = models.ForeignKey(Work, on_delete=models.CASCADE, related_name="holdings")
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="holdings")
    local_id = models.CharField(_("local record id"), max_length=100)
    call_number = models.CharField(_("call number"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("holding")
        verbose_name_plural = _("holdings")
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "local_id"], name="uniq_holding_local_id"
            )
        ]
