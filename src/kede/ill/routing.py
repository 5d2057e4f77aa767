"""Who to send a request to: the routing centre's rota for it.

The first call computes the request's rota (`kede.routing.services.rota_plan_for`): holders of
the work in the union catalogue (for an article, of its journal), minus the requesting library
and libraries whose directory profile excludes the service, the format or the requester's type
or that declared today closed, and — for an article whose citation names a volume or year —
holders whose holdings statement lacks it, ranked by the centre's policy for the service (with
holders whose statement cannot say after those it confirms); then the partners
and lenders of last resort the centre configured for the service; then the centre's
proxy-search team (代查代检). Later calls return the stored rota, as borrowing staff or the
centre may have edited it. The caller asks the first institution not yet tried.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from kede.consortium.models import Institution
from kede.ill.models import Request
from kede.routing import selectors as routing_selectors
from kede.routing import services as routing_services
from kede.routing.selectors import matching_work

__all__ = ["candidate_suppliers", "matching_work"]


def candidate_suppliers(request: Request, today: datetime.date | None = None) -> list[Institution]:
    today = today or timezone.localdate()
    plan = routing_services.rota_plan_for(request, today=today)
    return routing_selectors.plan_institutions(plan, today)
