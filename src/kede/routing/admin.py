"""The centre's admin pages for routing. Policies are saved through a form that runs the same
checks as every other way in (a bad weight is refused with the reason); statistics, outcomes
and rotas are read-only here (services write them)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from kede.core.admin_tools import ReadOnlyAdmin
from kede.routing import services
from kede.routing.models import (
    LastResort,
    RotaEdit,
    RotaPlan,
    RoutingPolicy,
    SupplierProfile,
    SupplierStats,
)
from kede.routing.policy import Policy, PolicyError


class RoutingPolicyForm(forms.ModelForm):
    class Meta:
        model = RoutingPolicy
        fields = ["service_type", "config", "note"]

    def clean_config(self):
        config = self.cleaned_data["config"]
        if isinstance(config, str):
            try:
                config = json.loads(config)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None
        try:
            return Policy.from_config(config).to_config()
        except PolicyError as exc:
            raise ValidationError(str(exc)) from None


@admin.register(RoutingPolicy)
class RoutingPolicyAdmin(admin.ModelAdmin):
    """Adding a policy saves a new version (policy_save); old versions stay as history."""

    form = RoutingPolicyForm
    list_display = ["service_type", "version", "is_active", "edited_by", "edited_at", "note"]
    list_filter = ["service_type", "is_active"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        saved = services.policy_save(
            actor=None if request.user.is_superuser else request.user,
            service_type=obj.service_type,
            config=form.cleaned_data["config"],
            note=form.cleaned_data.get("note", ""),
        )
        RoutingPolicy.objects.filter(pk=saved.pk).update(edited_by=request.user)
        obj.pk = saved.pk


@admin.register(SupplierProfile)
class SupplierProfileAdmin(admin.ModelAdmin):
    list_display = ["institution", "copy_price", "loan_price", "capacity"]
    raw_id_fields = ["institution"]
    search_fields = ["institution__code", "institution__name"]


@admin.register(LastResort)
class LastResortAdmin(admin.ModelAdmin):
    list_display = ["service_type", "position", "institution"]
    list_filter = ["service_type"]
    raw_id_fields = ["institution"]


@admin.register(SupplierStats)
class SupplierStatsAdmin(ReadOnlyAdmin):
    list_display = ["supplier", "service_type", "answered", "filled", "not_held", "timed_out",
                    "lent", "borrowed", "updated_at"]  # fmt: skip
    list_filter = ["service_type"]


class RotaEditInline(admin.TabularInline):
    model = RotaEdit
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(RotaPlan)
class RotaPlanAdmin(ReadOnlyAdmin):
    list_display = ["request", "version", "computed_at", "edited_by", "overridden"]
    raw_id_fields = ["request"]
    inlines = [RotaEditInline]
