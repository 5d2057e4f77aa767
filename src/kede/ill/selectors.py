"""Reads of requests, always scoped to the caller.

A request is shared by design: the reader who made it, the requester library's staff, and the
staff of every library it was sent to. A supplier's staff see the citation and the requesting
library, never the reader. Anyone else is told the request does not exist.
"""

from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery

from kede.accounts.selectors import AnyUser, institutions_for
from kede.catalog.marc import fold
from kede.ill.models import Request, RequestEvent, SupplyRequest
from kede.ill.states import SUPPLIER_OPEN


def requests_of_reader(user: AnyUser) -> QuerySet[Request]:
    if not user.is_authenticated:
        return Request.objects.none()
    return (
        Request.objects.filter(reader=user)
        .select_related("requester")
        .order_by("-created_at", "-id")
    )


def borrowing_requests_for(user: AnyUser) -> QuerySet[Request]:
    """Requests of readers of the libraries the caller works for."""
    return (
        Request.objects.filter(requester__in=institutions_for(user, "borrowing.view"))
        .select_related("requester", "reader")
        .order_by("-created_at", "-id")
    )


def supply_requests_for(user: AnyUser) -> QuerySet[SupplyRequest]:
    """Requests sent to the libraries the caller answers for."""
    return (
        SupplyRequest.objects.filter(supplier__in=institutions_for(user, "supply.view"))
        .select_related("request", "request__requester", "supplier")
        .order_by("created_at", "id")
    )


def incoming_queue(user: AnyUser) -> QuerySet[SupplyRequest]:
    return supply_requests_for(user).filter(state__in=SUPPLIER_OPEN)


# The workbench's named queues: what each side has to do next.
INCOMING_QUEUES: dict[str, Q] = {
    "to_review": Q(state="received"),
    "to_scan": Q(state__in=["will_supply", "redo"], request__service_type="copy"),
    "to_ship": Q(state="will_supply", request__service_type="loan"),
    "to_answer": Q(state__in=["cancel_requested", "renew_requested"]),
    "on_loan": Q(state__in=["shipped", "overdue", "recalled", "renew_requested"]),
    "overdue": Q(state="overdue"),
    "coming_back": Q(state="return_shipped"),
}
OUTGOING_QUEUES: dict[str, Q] = {
    "conditions": Q(state="conditional"),
    "to_receive": Q(state="shipped"),
    "on_loan": Q(state__in=["received", "checked_out", "overdue", "recalled", "renew_pending"]),
    "to_send_back": Q(state="returned"),
    "unfilled": Q(state="unfilled"),
}


def incoming_in_queue(user: AnyUser, queue: str) -> QuerySet[SupplyRequest]:
    found = supply_requests_for(user)
    if queue == "open":
        return found.filter(state__in=SUPPLIER_OPEN)
    if queue in INCOMING_QUEUES:
        return found.filter(INCOMING_QUEUES[queue])
    return found.filter(state=queue)


def outgoing_in_queue(user: AnyUser, queue: str) -> QuerySet[Request]:
    found = borrowing_requests_for(user)
    return found.filter(OUTGOING_QUEUES[queue]) if queue in OUTGOING_QUEUES else found


def access_request_as_reader(user: AnyUser, request_id: int) -> Request:
    return requests_of_reader(user).get(id=request_id)


def access_request_as_staff(user: AnyUser, request_id: int) -> Request:
    """A request the caller's library made; 'missing' and 'not yours' look the same."""
    return borrowing_requests_for(user).get(id=request_id)


def access_supply_request(user: AnyUser, supply_id: int) -> SupplyRequest:
    return supply_requests_for(user).get(id=supply_id)


def request_history(request: Request) -> QuerySet[RequestEvent]:
    return request.events.select_related("actor", "institution", "supply__supplier").order_by(
        "at", "id"
    )


def refusals(request: Request) -> QuerySet[SupplyRequest]:
    """Every library that said it cannot supply, with its reason, in the order asked."""
    return request.supplies.filter(state="unfilled").select_related("supplier").order_by("position")


def supply_history(supply: SupplyRequest) -> QuerySet[RequestEvent]:
    """What the supplier may see: its own side's events and the requester's public steps."""
    return (
        supply.request.events.filter(Q(supply=supply) | Q(side="requester", supply__isnull=True))
        .select_related("institution", "supply__supplier")
        .order_by("at", "id")
    )


# A request that ended without a copy does not make a new one a duplicate.
_ENDED_EMPTY = ("cancelled", "unfilled")


def _page_key(pages: str) -> str:
    return "".join(pages.split()).replace("–", "-").replace("—", "-").lower()


def looks_like(
    request: Request, *, doi: str, issn: str, volume: str, pages: str, title: str
) -> bool:
    """The same citation: same DOI, or same ISSN, volume and pages, or the same folded title."""
    if doi and request.doi and doi.lower() == request.doi.lower():
        return True
    if (
        issn
        and volume
        and pages
        and (request.issn, request.volume) == (issn, volume)
        and _page_key(request.pages) == _page_key(pages)
    ):
        return True
    return bool(title) and fold(title) == fold(request.title)


def earlier_requests_like(
    user: AnyUser,
    *,
    doi: str = "",
    issn: str = "",
    volume: str = "",
    pages: str = "",
    title: str = "",
) -> list[Request]:
    """The caller's own open or fulfilled requests for the same citation, newest first."""
    mine = requests_of_reader(user).exclude(state__in=_ENDED_EMPTY)
    return [
        r
        for r in mine
        if looks_like(r, doi=doi, issn=issn, volume=volume, pages=pages, title=title)
    ]


def institution_requests(institution, *, state: str | None = None) -> list[dict]:
    """Every request of one library on both sides, newest first, as plain data for scripts.

    For trusted callers (the command line): the reader is identified by user name only on the
    requesting side; the supplying side never names the reader.
    """
    rows = []
    latest_supplier = (
        SupplyRequest.objects.filter(request=OuterRef("pk"))
        .order_by("-position")
        .values("supplier__code")[:1]
    )
    borrowing = (
        Request.objects.filter(requester=institution)
        .select_related("reader")
        .annotate(partner_code=Subquery(latest_supplier))
    )
    lending = SupplyRequest.objects.filter(supplier=institution).select_related(
        "request", "request__requester"
    )
    if state:
        borrowing = borrowing.filter(state=state)
        lending = lending.filter(state=state)
    for r in borrowing:
        rows.append(
            {
                "number": r.number,
                "side": "requester",
                "state": r.state,
                "service_type": r.service_type,
                "title": r.title,
                "container_title": r.container_title,
                "reader": r.reader.username,
                "partner": r.partner_code or "",
                "created_at": r.created_at.isoformat(),
                "updated_at": r.updated_at.isoformat(),
            }
        )
    for s in lending:
        rows.append(
            {
                "number": s.request.number,
                "side": "supplier",
                "state": s.state,
                "service_type": s.request.service_type,
                "title": s.request.title,
                "container_title": s.request.container_title,
                "partner": s.request.requester.code,
                "reason": s.reason,
                "created_at": s.created_at.isoformat(),
                "updated_at": s.updated_at.isoformat(),
            }
        )
    return sorted(rows, key=lambda row: row["created_at"], reverse=True)


def call_numbers_at_suppliers(supplies: list[SupplyRequest]) -> dict[int, str]:
    """Where each supplier finds the item on its own shelves (for pull slips)."""
    from kede.catalog.models import Holding

    wanted = {(s.request.work_id, s.supplier_id): s.id for s in supplies if s.request.work_id}
    found: dict[int, str] = {}
    holdings = Holding.objects.filter(
        work_id__in={w for w, _ in wanted}, institution_id__in={i for _, i in wanted}
    ).values_list("work_id", "institution_id", "call_number")
    for work_id, institution_id, call_number in holdings:
        supply_id = wanted.get((work_id, institution_id))
        if supply_id and call_number and supply_id not in found:
            found[supply_id] = call_number
    return found


def message_log(*, request: Request | None = None, supply: SupplyRequest | None = None) -> list:
    """The ISO 18626 messages of a request (all of them for its requesting library; one
    supplier's for that supplier), with their XML readable."""
    from kede.ill.models import IsoMessage

    rows = IsoMessage.objects.select_related("peer")
    rows = rows.filter(supply=supply) if supply is not None else rows.filter(request=request)
    found = list(rows.order_by("id"))
    for m in found:
        m.xml = bytes(m.body).decode("utf-8", "replace")
    return found
