"""`{% load routing_tags %}`: the routing centre's notes on other apps' pages."""

from __future__ import annotations

from django import template

from kede.routing import selectors
from kede.routing.models import RotaPlan

register = template.Library()


@register.inclusion_tag("portal/routing_notice.html")
def rota_notice(req) -> dict:
    """On the reader's request page: when no library could be ranked for the request, say so
    at once, and where it went instead (the proxy-search team) or why it ended."""
    plan = RotaPlan.objects.filter(request_id=req.pk).first()
    if plan is None or req.state == "cancelled" or not selectors.plan_has_no_candidate(plan):
        return {"show": False}
    return {
        "show": True,
        "req": req,
        "team": selectors.proxy_team_of(plan),
        "reason": selectors.no_candidate_message(plan),
    }


@register.filter
def is_routing_centre(user) -> bool:
    return selectors.is_centre(user)
