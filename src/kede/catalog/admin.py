from django.contrib import admin

from kede.catalog import models


class HoldingInline(admin.TabularInline):
    model = models.Holding
    extra = 0
    raw_id_fields = ["institution"]


@admin.register(models.Work)
class WorkAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "year", "isbn", "issn", "format"]
    search_fields = ["title", "author", "isbn", "issn"]
    inlines = [HoldingInline]
