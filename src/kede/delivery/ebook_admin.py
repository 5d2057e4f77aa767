"""Admin for e-book lending: the centre sets up titles and licences; loans and holds, written
only by the services, can be looked at, not edited."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.files.uploadedfile import UploadedFile

from kede.core.admin_tools import ReadOnlyAdmin
from kede.delivery.ebook_models import EbookHold, EbookLicence, EbookLoan, EbookTitle


class EbookTitleForm(forms.ModelForm):
    class Meta:
        model = EbookTitle
        fields = ["title", "author", "publisher", "year", "isbn", "file", "work"]

    def clean_file(self):
        from kede.delivery.ebooks import ebook_check_pdf

        upload = self.cleaned_data["file"]
        if isinstance(upload, UploadedFile):  # a new file, not the one already stored
            data = upload.read()
            upload.seek(0)
            self.instance.pages = ebook_check_pdf(data)
        return upload


class LicenceInline(admin.TabularInline):
    model = EbookLicence
    extra = 0
    fields = ["holder", "copies", "loan_days", "renewals", "active"]
    raw_id_fields = ["holder"]


@admin.register(EbookTitle)
class EbookTitleAdmin(admin.ModelAdmin):
    form = EbookTitleForm
    list_display = ["title", "author", "year", "isbn", "pages", "added_at"]
    search_fields = ["title", "author", "isbn"]
    raw_id_fields = ["work"]
    inlines = [LicenceInline]


@admin.register(EbookLicence)
class EbookLicenceAdmin(admin.ModelAdmin):
    list_display = ["title", "holder", "copies", "loan_days", "renewals", "active"]
    list_filter = ["active"]
    raw_id_fields = ["title", "holder"]
    search_fields = ["title__title", "holder__code"]


@admin.register(EbookLoan)
class EbookLoanAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "reader", "institution", "licence", "started_at", "due_at",
                    "renewals_used", "state"]  # fmt: skip
    list_filter = ["state"]
    search_fields = ["title__title", "reader__username"]


@admin.register(EbookHold)
class EbookHoldAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "created_at", "state", "notified_at", "expires_at"]
    list_filter = ["state"]
    search_fields = ["title__title", "reader__username"]
