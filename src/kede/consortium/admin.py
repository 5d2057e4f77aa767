from django.contrib import admin

from kede.consortium import models


class RoleInline(admin.TabularInline):
    model = models.InstitutionRole
    extra = 0


class AgencyInline(admin.TabularInline):
    model = models.AgencyId
    extra = 0


class ProfileInline(admin.StackedInline):
    model = models.ServiceProfile


class ContactInline(admin.TabularInline):
    model = models.Contact
    extra = 0


class ClosedDayInline(admin.TabularInline):
    model = models.ClosedDay
    extra = 0


@admin.register(models.Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "region", "type", "is_active"]
    list_filter = ["region", "type", "is_active"]
    search_fields = ["code", "name", "name_en"]
    inlines = [RoleInline, AgencyInline, ProfileInline, ContactInline, ClosedDayInline]


@admin.register(models.Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "group", "consortium"]


admin.site.register(models.Consortium)
