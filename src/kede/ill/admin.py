from django.contrib import admin

from kede.core.admin_tools import ReadOnlyAdmin, ReadOnlyInline
from kede.ill.models import Peer, Request, RequestEvent, SupplyRequest


class SupplyInline(ReadOnlyInline):
    model = SupplyRequest
    fields = ["position", "supplier", "state", "reason", "note", "updated_at"]


class EventInline(ReadOnlyInline):
    model = RequestEvent
    fields = ["at", "side", "action", "from_state", "to_state", "institution", "actor", "note"]


@admin.register(Request)
class RequestAdmin(ReadOnlyAdmin):
    list_display = ["number", "title", "requester", "state", "service_type", "created_at"]
    list_filter = ["state", "service_type", "requester"]
    search_fields = ["number", "title", "container_title", "doi", "issn", "isbn"]
    inlines = [SupplyInline, EventInline]


@admin.register(SupplyRequest)
class SupplyRequestAdmin(ReadOnlyAdmin):
    list_display = ["request", "supplier", "position", "state", "reason", "updated_at"]
    list_filter = ["state", "supplier", "reason"]


@admin.register(Peer)
class PeerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "name", "url", "version", "is_active"]
    list_filter = ["version", "is_active"]
