from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from kede.accounts.models import Membership, User


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    raw_id_fields = ["institution", "decided_by"]


@admin.register(User)
class KedeUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Kede", {"fields": ("full_name", "preferred_language")}))
    list_display = ["username", "full_name", "email", "is_active"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "institution", "role", "status", "reader_category"]
    list_filter = ["role", "status", "institution"]
    raw_id_fields = ["user", "institution", "decided_by"]
