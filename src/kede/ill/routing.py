"""Who to send a request to (the foundation's simple first rule).

Holders of the work, minus the requester's own library, minus libraries whose directory
profile does not offer the service or that are closed today; member libraries of the
requester's region first, then the rest of the consortium, then external suppliers (national
partners, vendors) as lenders of last resort. The routing centre replaces this with ranked,
explainable policies.
"""

from __future__ import annotations

import datetime

from django.db.models import Exists, OuterRef
from django.utils import timezone

from kede.catalog.models import Holding, Work
from kede.consortium.models import Institution, InstitutionRole, NetworkRole
from kede.consortium.selectors import institution_is_open
from kede.ill.models import Request, ServiceType


def matching_work(request: Request) -> Work | None:
    if request.work_id:
        return request.work
    if request.isbn:
        work = Work.objects.filter(isbn=request.isbn).first()
        if work:
            return work
    if request.issn:
        return Work.objects.filter(issn=request.issn).first()
    return None


def candidate_suppliers(request: Request, today: datetime.date | None = None) -> list[Institution]:
    work = matching_work(request)
    if work is None:
        return []
    today = today or timezone.localdate()
    offers = (
        {"service_profile__supplies_copies": True}
        if request.service_type == ServiceType.COPY
        else {"service_profile__lends_books": True}
    )
    holders = (
        Institution.objects.filter(
            id__in=Holding.objects.filter(work=work).values("institution_id"),
            is_active=True,
            **offers,
        )
        .exclude(id=request.requester_id)
        .select_related("region", "service_profile")
        .annotate(
            external=Exists(
                InstitutionRole.objects.filter(
                    institution=OuterRef("pk"), role=NetworkRole.EXTERNAL_SUPPLIER
                )
            )
        )
    )
    home_region = request.requester.region_id
    ranked = sorted(
        holders, key=lambda inst: (inst.external, inst.region_id != home_region, inst.code)
    )
    return [inst for inst in ranked if institution_is_open(inst, today)]
