from django.contrib import admin

from kede.core.admin_tools import ReadOnlyAdmin, ReadOnlyInline
from kede.delivery.models import DeliveredCopy, DeliveryPolicy, DownloadLog


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
