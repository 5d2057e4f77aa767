"""E-book lending: titles, the licences members or the consortium hold, loans and waiting lists.

A licence says how many copies of a title may be lent at once, for how long and how often a
loan may be renewed. A licence without a holder belongs to the whole consortium and serves
every member's readers; a library's licence serves that library's readers only. The services
in `delivery/ebooks.py` are the only writers.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = [
    "EbookHold",
    "EbookHoldState",
    "EbookLicence",
    "EbookLoan",
    "EbookLoanState",
    "EbookTitle",
]


class EbookTitle(models.Model):
    title = models.CharField(_("title"), max_length=1000)
    author = models.CharField(_("author"), max_length=500, blank=True)
    publisher = models.CharField(_("publisher"), max_length=500, blank=True)
    year = models.CharField(_("year"), max_length=8, blank=True)
    isbn = models.CharField(_("ISBN"), max_length=17, blank=True, db_index=True)
    # Private like delivered copies: only ever handed out stamped, through a loan.
    file = models.FileField(_("PDF file"), upload_to="ebooks/%Y/%m/", max_length=300)
    pages = models.PositiveIntegerField(_("page count"), default=0)
    work = models.ForeignKey(
        "catalog.Work",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="ebooks",
        verbose_name=_("union catalogue record"),
    )
    added_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        verbose_name = _("e-book")
        verbose_name_plural = _("e-books")
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title


class EbookLicence(models.Model):
    title = models.ForeignKey(
        EbookTitle, on_delete=models.PROTECT, related_name="licences", verbose_name=_("e-book")
    )
    holder = models.ForeignKey(
        "consortium.Institution",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ebook_licences",
        verbose_name=_("licence holder"),
        help_text=_("Empty: the whole consortium holds it and every member's readers may borrow."),
    )
    copies = models.PositiveSmallIntegerField(_("copies lent at once"), default=1)
    loan_days = models.PositiveSmallIntegerField(_("loan period (days)"), default=14)
    renewals = models.PositiveSmallIntegerField(_("renewals allowed"), default=0)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("e-book licence")
        verbose_name_plural = _("e-book licences")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(copies__gte=1, loan_days__gte=1, renewals__gte=0),
                name="ebook_licence_positive",
            ),
        ]
        indexes = [models.Index(fields=["title", "active"])]

    def __str__(self) -> str:
        return f"{self.title} — {self.holder.code if self.holder_id else _('consortium')}"


class EbookLoanState(models.TextChoices):
    ACTIVE = "active", _("On loan")
    RETURNED = "returned", _("Returned")
    EXPIRED = "expired", _("Expired")


class EbookLoan(models.Model):
    licence = models.ForeignKey(
        EbookLicence, on_delete=models.PROTECT, related_name="loans", verbose_name=_("licence")
    )
    # The licence's title, repeated so the database itself can keep one loan per title.
    title = models.ForeignKey(
        EbookTitle, on_delete=models.PROTECT, related_name="loans", verbose_name=_("e-book")
    )
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="ebook_loans",
        verbose_name=_("reader"),
    )
    # The reader's library when they borrowed (for a consortium licence, their home library).
    institution = models.ForeignKey(
        "consortium.Institution",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("library"),
    )
    started_at = models.DateTimeField(_("borrowed"), default=timezone.now)
    due_at = models.DateTimeField(_("due"))
    renewals_used = models.PositiveSmallIntegerField(_("renewals used"), default=0)
    returned_at = models.DateTimeField(_("returned"), null=True, blank=True)
    state = models.CharField(
        _("status"),
        max_length=16,
        choices=EbookLoanState.choices,
        default=EbookLoanState.ACTIVE,
    )
    due_reminded_at = models.DateTimeField(_("reminded of the due date"), null=True, blank=True)

    class Meta:
        verbose_name = _("e-book loan")
        verbose_name_plural = _("e-book loans")
        constraints = [
            models.UniqueConstraint(
                fields=["reader", "title"],
                condition=models.Q(state="active"),
                name="uniq_ebook_active_loan",
            ),
            models.CheckConstraint(
                condition=models.Q(renewals_used__gte=0, due_at__gt=models.F("started_at")),
                name="ebook_loan_sane",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "due_at"]),
            models.Index(fields=["licence", "state"]),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def number(self) -> str:
        return f"EB{self.pk:07d}" if self.pk else "EB"

    def is_open(self, now=None) -> bool:
        """Whether the reader may read it now: active and not yet due."""
        now = now or timezone.now()
        return self.state == EbookLoanState.ACTIVE and now < self.due_at


class EbookHoldState(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    OFFERED = "offered", _("Copy waiting for you")
    FULFILLED = "fulfilled", _("Borrowed")
    LAPSED = "lapsed", _("Offer lapsed")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_HOLD_STATES = [EbookHoldState.WAITING, EbookHoldState.OFFERED]


class EbookHold(models.Model):
    title = models.ForeignKey(
        EbookTitle, on_delete=models.PROTECT, related_name="holds", verbose_name=_("e-book")
    )
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="ebook_holds",
        verbose_name=_("reader"),
    )
    created_at = models.DateTimeField(_("placed"), default=timezone.now)
    # The licence whose freed copy is kept for the reader while the offer lasts.
    licence = models.ForeignKey(
        EbookLicence,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="offers",
        verbose_name=_("licence"),
    )
    notified_at = models.DateTimeField(_("told a copy is free"), null=True, blank=True)
    expires_at = models.DateTimeField(_("offer ends"), null=True, blank=True)
    state = models.CharField(
        _("status"),
        max_length=16,
        choices=EbookHoldState.choices,
        default=EbookHoldState.WAITING,
    )

    class Meta:
        verbose_name = _("e-book hold")
        verbose_name_plural = _("e-book holds")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reader", "title"],
                condition=models.Q(state__in=["waiting", "offered"]),
                name="uniq_ebook_open_hold",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="offered")
                | models.Q(licence__isnull=False, expires_at__isnull=False),
                name="ebook_offer_has_copy_and_end",
            ),
        ]
        indexes = [models.Index(fields=["title", "state", "created_at"])]

    def __str__(self) -> str:
        return f"{self.reader} — {self.title}"
