"""What the people of a test node do, called by the node's driver process (see node.py).

Requests are named by their number on the requesting node; on the supplying node the same
request is found by that number, which it keeps as the requester's request id.
"""

from __future__ import annotations

import datetime
import io

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from pypdf import PdfReader

from kede.accounts.models import User
from kede.conftest import build_network, pdf_bytes
from kede.consortium.models import AgencyId, Institution
from kede.ill import messaging, services
from kede.ill.models import IsoMessage, Request, SupplyRequest
from kede.ill.services import Citation


def setup(hosted: list[str], remote: dict[str, str]) -> None:
    """The test consortium, with the `remote` libraries living on other nodes (code → URL)."""
    build_network()
    for code in [*hosted, *remote]:
        AgencyId.objects.create(
            institution=Institution.objects.get(code=code), type="ISIL", value=f"CN-{code}"
        )
    for code, url in remote.items():
        services.peer_register(agency=f"ISIL:CN-{code}", url=url, name=f"{code} node")


def _user(name: str) -> User:
    return User.objects.get(username=name)


def _request(number: str) -> Request:
    return Request.objects.get(number=number)


def _supply(number: str) -> SupplyRequest:
    """The supplier's side of a request another node sent here."""
    return SupplyRequest.objects.select_related("request").get(request__remote_id=number)


def submit(title: str, service_type: str = "copy", reader: str = "reader_usst") -> str:
    from kede.catalog.models import Work

    work = Work.objects.get(isbn="9780394703220")
    request = services.request_submit(
        actor=_user(reader),
        citation=Citation(
            title=title,
            container_title="" if service_type == "loan" else work.title,
            author="Thompson, E. P.",
            isbn=work.isbn,
            year="1963",
            pages="" if service_type == "loan" else "1-20",
        ),
        work=work,
        service_type=service_type,
    )
    return request.number


def requester_view(number: str) -> dict:
    request = _request(number)
    return {
        "state": request.state,
        "supplies": [
            [s.supplier.code, s.state, s.reason]
            for s in request.supplies.select_related("supplier").order_by("position")
        ],
        "due": str(request.supplies.order_by("-position").first().due_date),
    }


def supplier_view(number: str) -> dict | None:
    supply = SupplyRequest.objects.filter(request__remote_id=number).first()
    if supply is None:
        return None
    return {
        "state": supply.state,
        "requester_state": supply.request.state,
        "title": supply.request.title,
        "service": supply.request.service_type,
        "due": str(supply.due_date),
    }


def supplier_state(number: str) -> str | None:
    supply = SupplyRequest.objects.filter(request__remote_id=number).first()
    return supply.state if supply else None


def requester_state(number: str) -> str:
    return _request(number).state


def messages(number: str) -> list[list]:
    rows = IsoMessage.objects.filter(request__in=Request.objects.filter(number=number))
    rows = rows | IsoMessage.objects.filter(request__remote_id=number)
    return [
        [m.direction, m.summary, m.status, m.attempts, m.last_error[:80]]
        for m in rows.order_by("id")
    ]


def flush_outbox() -> int:
    """What the worker does when the retry pause is over."""
    return messaging.send_pending(now=timezone.now() + datetime.timedelta(days=1))


# ---- supplier staff -------------------------------------------------------------------------

STAFF = "staff_fdu"


def accept(number: str) -> None:
    services.supply_accept(actor=_user(STAFF), supply=_supply(number))


def refuse(number: str, reason: str = "not_on_shelf") -> None:
    services.supply_refuse(actor=_user(STAFF), supply=_supply(number), reason=reason)


def deliver(number: str) -> None:
    upload = SimpleUploadedFile("scan.pdf", pdf_bytes(3), "application/pdf")
    services.supply_deliver(actor=_user(STAFF), supply=_supply(number), upload=upload)


def offer_conditions(number: str, cost: str) -> None:
    from decimal import Decimal

    services.supply_offer_conditions(
        actor=_user(STAFF),
        supply=_supply(number),
        conditions="Colour scans cost extra",
        cost=Decimal(cost),
        currency="CNY",
    )


def ship(number: str, days: int = 28) -> None:
    services.supply_ship(
        actor=_user(STAFF),
        supply=_supply(number),
        due_date=timezone.localdate() + datetime.timedelta(days=days),
    )


def answer_cancel(number: str, accept: bool) -> None:
    services.supply_answer_cancel(actor=_user(STAFF), supply=_supply(number), accept=accept)


def answer_renew(number: str, grant: bool, days: int = 56) -> None:
    services.supply_answer_renew(
        actor=_user(STAFF),
        supply=_supply(number),
        grant=grant,
        due_date=timezone.localdate() + datetime.timedelta(days=days) if grant else None,
    )


def check_in(number: str) -> None:
    services.supply_check_in(actor=_user(STAFF), supply=_supply(number))


# ---- the requesting library and its reader --------------------------------------------------

BORROWING = "staff_usst"
READER = "reader_usst"


def cancel(number: str) -> None:
    services.request_cancel(actor=_user(READER), request=_request(number))


def answer_conditions(number: str, accept: bool) -> None:
    services.request_answer_conditions(
        actor=_user(BORROWING), request=_request(number), accept=accept
    )


def item_received(number: str) -> None:
    services.request_item_received(actor=_user(BORROWING), request=_request(number))


def check_out(number: str) -> None:
    services.request_check_out(actor=_user(BORROWING), request=_request(number))


def ask_renew(number: str) -> None:
    services.request_ask_renew(actor=_user(READER), request=_request(number))


def returned(number: str) -> None:
    services.request_returned_by_reader(actor=_user(BORROWING), request=_request(number))


def ship_return(number: str) -> None:
    services.request_ship_return(actor=_user(BORROWING), request=_request(number))


def download(number: str) -> dict:
    """The reader downloads the copy; what the file says about who it is for."""
    from kede.delivery import services as delivery

    request = _request(number)
    copy = request.copies.filter(deleted_at__isnull=True).get()
    token = delivery.copy_link(copy).rstrip("/").rsplit("/", 1)[-1]
    got = delivery.copy_download(actor=_user(READER), copy_id=copy.id, token=token, ip=None)
    with got.file.open("rb") as f:
        pdf = PdfReader(io.BytesIO(f.read()))
    text = " ".join(page.extract_text() or "" for page in pdf.pages)
    services.request_copy_received(actor=_user(READER), request=request)
    return {"pages": len(pdf.pages), "stamped_for_reader": "Reader_Usst" in text}
