"""Reads of the consortium model. The directory is public within the consortium."""

from __future__ import annotations

import datetime

from django.db.models import QuerySet

from kede.consortium.models import ClosedDay, Institution, NetworkRole


def institutions_active() -> QuerySet[Institution]:
    return Institution.objects.filter(is_active=True).select_related("region")


def institution_get(code: str) -> Institution:
    return Institution.objects.select_related("region").get(code=code)


def institution_has_role(institution: Institution, role: NetworkRole) -> bool:
    return institution.roles.filter(role=role).exists()


def institution_is_open(institution: Institution, day: datetime.date) -> bool:
    """Whether the institution serves on `day`: a listed weekday and not a declared closed day."""
    profile = getattr(institution, "service_profile", None)
    hours = profile.opening_hours if profile else {}
    if hours and not hours.get(str(day.weekday())):
        return False
    return not ClosedDay.objects.filter(institution=institution, date=day).exists()
