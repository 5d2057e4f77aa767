"""People and the roles they hold at institutions."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from kede.consortium.models import Institution


class User(AbstractUser):
    """One identity per person across the whole consortium."""

    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=16, choices=settings.LANGUAGES, default="zh-hans"
    )

    def __str__(self) -> str:
        return self.full_name or self.username

    @property
    def shown_name(self) -> str:
        return self.full_name or self.get_full_name() or self.username


class Role(models.TextChoices):
    READER = "reader", _("Reader")
    ILL_STAFF = "ill_staff", _("ILL staff")
    INSTITUTION_ADMIN = "institution_admin", _("Institution administrator")
    REGION_ADMIN = "region_admin", _("Regional-centre administrator")
    CENTRE_ADMIN = "centre_admin", _("Centre administrator")


class ReaderCategory(models.TextChoices):
    FACULTY = "faculty", _("Faculty")
    PHD = "phd", _("PhD student")
    MASTERS = "masters", _("Master's student")
    UNDERGRADUATE = "undergraduate", _("Undergraduate")
    STAFF = "staff", _("Staff")
    OTHER = "other", _("Other")


class MembershipStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting approval")
    ACTIVE = "active", _("Active")
    REJECTED = "rejected", _("Rejected")
    SUSPENDED = "suspended", _("Suspended")


class Membership(models.Model):
    """A role a person holds at one institution. A person may hold several."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=MembershipStatus.choices,
        default=MembershipStatus.ACTIVE,
    )
    reader_category = models.CharField(
        _("reader category"), max_length=16, choices=ReaderCategory.choices, blank=True
    )
    department = models.CharField(_("department"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    decision_note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "institution", "role"], name="uniq_membership_role"
            )
        ]
        indexes = [models.Index(fields=["institution", "role", "status"])]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} @ {self.institution.code}"
