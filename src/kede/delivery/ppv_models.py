"""Pay-per-view: vendors, the articles they sell, what a library pays of a price, purchases and
the charges they leave for billing to settle.

The services in `delivery/ppv_services.py` are the only writers.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = [
    "PpvCharge",
    "PpvDownloadLog",
    "PpvPayer",
    "PpvPolicy",
    "PpvPurchase",
    "PpvStatus",
    "Vendor",
    "VendorConnectorKind",
    "VendorOffer",
]


def _money(verbose_name) -> models.DecimalField:
    return models.DecimalField(verbose_name, max_digits=10, decimal_places=2)


class VendorConnectorKind(models.TextChoices):
    PRICE_LIST = "price_list", _("Price list and files uploaded by the centre")


class Vendor(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    connector = models.CharField(
        _("connector"),
        max_length=16,
        choices=VendorConnectorKind.choices,
        default=VendorConnectorKind.PRICE_LIST,
    )
    active = models.BooleanField(_("active"), default=True)
    loaded_at = models.DateTimeField(_("price list loaded"), null=True, blank=True)

    class Meta:
        verbose_name = _("vendor")
        verbose_name_plural = _("vendors")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class VendorOffer(models.Model):
    """One article a vendor sells, from its latest price list. An article left out of a newer
    list is withdrawn, not deleted: purchases of it keep pointing at it."""

    vendor = models.ForeignKey(
        Vendor, on_delete=models.PROTECT, related_name="offers", verbose_name=_("vendor")
    )
    ref = models.CharField(_("vendor's reference"), max_length=255)
    title = models.CharField(_("title"), max_length=1000)
    journal = models.CharField(_("journal"), max_length=1000, blank=True)
    author = models.CharField(_("author"), max_length=500, blank=True)
    year = models.CharField(_("year"), max_length=4, blank=True)
    volume = models.CharField(_("volume"), max_length=50, blank=True)
    issue = models.CharField(_("issue"), max_length=50, blank=True)
    pages = models.CharField(_("pages"), max_length=50, blank=True)
    issn = models.CharField(_("ISSN"), max_length=9, blank=True)
    doi = models.CharField(_("DOI"), max_length=200, blank=True)
    # Match keys, written by kede.delivery.ppv so the database finds what the core would.
    title_key = models.CharField(max_length=500, blank=True)
    volume_key = models.CharField(max_length=20, blank=True)
    start_page = models.CharField(max_length=50, blank=True)
    price = _money(_("price"))
    currency = models.CharField(_("currency"), max_length=3)
    # Private: handed out only stamped for the buyer, through a purchase.
    file = models.FileField(_("PDF file"), upload_to="ppv/", max_length=300)
    file_pages = models.PositiveIntegerField(_("page count"), default=0)
    sha256 = models.CharField(max_length=64)
    active = models.BooleanField(_("on sale"), default=True)
    loaded_at = models.DateTimeField(_("loaded"), default=timezone.now)

    class Meta:
        verbose_name = _("article on sale")
        verbose_name_plural = _("articles on sale")
        ordering = ["vendor", "title", "id"]
        constraints = [
            models.UniqueConstraint(fields=["vendor", "ref"], name="uniq_vendor_offer_ref"),
            models.CheckConstraint(condition=models.Q(price__gt=0), name="vendor_offer_priced"),
        ]
        indexes = [
            models.Index(fields=["doi"]),
            models.Index(fields=["issn", "volume_key", "start_page"]),
            models.Index(fields=["title_key"]),
        ]

    def __str__(self) -> str:
        return self.title


class PpvPolicy(models.Model):
    """How much of an article's price a library pays for its readers.

    The row without an institution is the consortium's default, set by the centre; a library's
    row overrides it for that library's readers. Without any row the reader pays everything.
    """

    institution = models.OneToOneField(
        "consortium.Institution",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="ppv_policy",
        verbose_name=_("library"),
        help_text=_("Empty: the consortium's default."),
    )
    library_percent = models.DecimalField(
        _("library pays (percent of the price)"), max_digits=5, decimal_places=2, default=0
    )
    cap_per_article = models.DecimalField(
        _("at most per article"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Empty: no limit."),
    )
    currency = models.CharField(_("currency of the limit"), max_length=3, default="CNY")

    class Meta:
        verbose_name = _("pay-per-view share")
        verbose_name_plural = _("pay-per-view shares")
        constraints = [
            models.UniqueConstraint(
                fields=["institution"],
                name="uniq_ppv_policy_default",
                condition=models.Q(institution__isnull=True),
            ),
            models.CheckConstraint(
                condition=models.Q(library_percent__gte=0, library_percent__lte=100)
                & (models.Q(cap_per_article__isnull=True) | models.Q(cap_per_article__gte=0)),
                name="ppv_policy_sane",
            ),
        ]

    def __str__(self) -> str:
        return self.institution.code if self.institution_id else str(_("Consortium default"))


class PpvStatus(models.TextChoices):
    ORDERING = "ordering", _("Being ordered")
    ORDERED = "ordered", _("Ordered: the file is on its way")
    DELIVERED = "delivered", _("Ready to download")
    FAILED = "failed", _("Not bought")


class PpvPurchase(models.Model):
    """One article bought for one reader, and the stamped file they download, with the same
    kind of limits as a delivered copy."""

    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="ppv_purchases",
        verbose_name=_("reader"),
    )
    institution = models.ForeignKey(
        "consortium.Institution",
        on_delete=models.PROTECT,
        related_name="ppv_purchases",
        verbose_name=_("library"),
    )
    offer = models.ForeignKey(
        VendorOffer, on_delete=models.PROTECT, related_name="purchases", verbose_name=_("article")
    )
    vendor = models.ForeignKey(
        Vendor, on_delete=models.PROTECT, related_name="purchases", verbose_name=_("vendor")
    )
    # The reader's earlier purchases of the same article: a second only once the first's file
    # is gone, so a double click never buys twice (the database refuses a second 0).
    repeat = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(_("title"), max_length=1000)
    price = _money(_("price"))
    library_pays = _money(_("library pays"))
    reader_pays = _money(_("reader pays"))
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(
        _("status"), max_length=16, choices=PpvStatus.choices, default=PpvStatus.ORDERING
    )
    failure = models.CharField(_("why not bought"), max_length=200, blank=True)
    vendor_order_ref = models.CharField(_("vendor's order number"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("confirmed"), default=timezone.now)
    ordered_at = models.DateTimeField(_("ordered"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    file = models.FileField(_("file"), upload_to="ppv-copies/", max_length=300, blank=True)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    pages = models.PositiveIntegerField(_("page count"), default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    download_limit = models.PositiveSmallIntegerField(_("download limit"), default=0)
    downloads = models.PositiveSmallIntegerField(_("downloads"), default=0)
    expires_at = models.DateTimeField(_("available until"), null=True, blank=True)
    days_after_first_download = models.PositiveSmallIntegerField(default=30)
    first_downloaded_at = models.DateTimeField(_("first downloaded"), null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)
    deleted_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = _("pay-per-view purchase")
        verbose_name_plural = _("pay-per-view purchases")
        constraints = [
            models.UniqueConstraint(
                fields=["reader", "offer", "repeat"], name="uniq_ppv_purchase_once"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    library_pays__gte=0,
                    reader_pays__gte=0,
                    price=models.F("library_pays") + models.F("reader_pays"),
                ),
                name="ppv_purchase_split_adds_up",
            ),
        ]
        indexes = [
            models.Index(fields=["reader", "-created_at"]),
            models.Index(fields=["status", "deleted_at", "expires_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title[:60]}"

    @property
    def number(self) -> str:
        return f"PPV{self.pk:07d}" if self.pk else "PPV"

    @property
    def downloads_left(self) -> int:
        return max(0, self.download_limit - self.downloads)

    def is_available(self, now=None) -> bool:
        now = now or timezone.now()
        return (
            self.status == PpvStatus.DELIVERED
            and self.deleted_at is None
            and self.downloads_left > 0
            and self.expires_at is not None
            and now < self.expires_at
        )


class PpvDownloadLog(models.Model):
    purchase = models.ForeignKey(PpvPurchase, on_delete=models.CASCADE, related_name="log")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True)
    outcome = models.CharField(max_length=16)  # "ok" or the reason it was refused

    class Meta:
        ordering = ["at"]


class PpvPayer(models.TextChoices):
    LIBRARY = "library", _("Library")
    READER = "reader", _("Reader")


class PpvCharge(models.Model):
    """What a delivered purchase costs whom, for billing to settle: one row per payer with
    something to pay, written once with the delivery and never changed here. Billing marks a
    row settled (`settled_at`, `settlement_ref`); the vendor is owed the purchase's price."""

    purchase = models.ForeignKey(
        PpvPurchase, on_delete=models.PROTECT, related_name="charges", verbose_name=_("purchase")
    )
    payer = models.CharField(_("paid by"), max_length=8, choices=PpvPayer.choices)
    # The library whose account the charge is on (for a reader's share: the reader's library).
    institution = models.ForeignKey(
        "consortium.Institution",
        on_delete=models.PROTECT,
        related_name="ppv_charges",
        verbose_name=_("library"),
    )
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="ppv_charges",
        verbose_name=_("reader"),
    )
    vendor = models.ForeignKey(
        Vendor, on_delete=models.PROTECT, related_name="charges", verbose_name=_("vendor")
    )
    amount = _money(_("amount"))
    currency = models.CharField(_("currency"), max_length=3)
    created_at = models.DateTimeField(_("charged"), default=timezone.now)
    settled_at = models.DateTimeField(_("settled"), null=True, blank=True)
    settlement_ref = models.CharField(_("settlement"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("pay-per-view charge")
        verbose_name_plural = _("pay-per-view charges")
        constraints = [
            models.UniqueConstraint(fields=["purchase", "payer"], name="uniq_ppv_charge_payer"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="ppv_charge_positive"),
        ]
        indexes = [models.Index(fields=["institution", "settled_at"])]

    def __str__(self) -> str:
        return f"{self.purchase.number} {self.payer} {self.amount} {self.currency}"
