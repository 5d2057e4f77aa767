from django.contrib import admin

from kede.core.admin_tools import ReadOnlyAdmin, ReadOnlyInline
from kede.delivery.models import DeliveredCopy, DeliveryPolicy, DownloadLog
from kede.delivery.ppv_models import PpvCharge, PpvPolicy, PpvPurchase, Vendor, VendorOffer


class DownloadInline(ReadOnlyInline):
    model = DownloadLog
    fields = ["at", "user", "ip", "outcome"]


@admin.register(DeliveredCopy)
class DeliveredCopyAdmin(ReadOnlyAdmin):
    list_display = ["request", "original_name", "pages", "downloads", "download_limit",
                    "expires_at", "deleted_at"]  # fmt: skip
    list_filter = ["deleted_reason"]
    exclude = ["file"]
    inlines = [DownloadInline]


@admin.register(DeliveryPolicy)
class DeliveryPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "institution", "download_limit", "days_after_upload",
                    "days_after_first_download"]  # fmt: skip
    raw_id_fields = ["institution"]


import kede.delivery.ebook_admin  # noqa: E402, F401

# ---- pay-per-view: vendors and offers come from `kede ppv load-vendor` or the centre's page;
# purchases and charges only from the services. The library's share is the centre's to set.


@admin.register(Vendor)
class VendorAdmin(admin.ModelAdmin):
    """The centre may rename a vendor or stop selling its articles; the rest comes with the
    price list."""

    list_display = ["code", "name", "currency", "connector", "active", "loaded_at"]
    fields = ["code", "name", "currency", "connector", "active", "loaded_at"]
    readonly_fields = ["code", "currency", "connector", "loaded_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(VendorOffer)
class VendorOfferAdmin(ReadOnlyAdmin):
    list_display = ["title", "vendor", "journal", "year", "doi", "price", "currency", "active"]
    list_filter = ["active", "vendor"]
    search_fields = ["title", "doi", "issn", "journal"]
    exclude = ["file"]


@admin.register(PpvPolicy)
class PpvPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "institution", "library_percent", "cap_per_article", "currency"]
    raw_id_fields = ["institution"]


class PpvChargeInline(ReadOnlyInline):
    model = PpvCharge
    fields = ["payer", "institution", "amount", "currency", "created_at", "settled_at",
              "settlement_ref"]  # fmt: skip


@admin.register(PpvPurchase)
class PpvPurchaseAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "reader", "institution", "vendor", "price", "library_pays",
                    "reader_pays", "currency", "status", "created_at"]  # fmt: skip
    list_filter = ["status", "vendor"]
    search_fields = ["title", "reader__username"]
    exclude = ["file"]
    inlines = [PpvChargeInline]


@admin.register(PpvCharge)
class PpvChargeAdmin(ReadOnlyAdmin):
    list_display = ["purchase", "payer", "institution", "reader", "vendor", "amount", "currency",
                    "created_at", "settled_at"]  # fmt: skip
    list_filter = ["payer", "settled_at", "vendor"]
