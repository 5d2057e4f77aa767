"""ISO 18626 between the two sides of a request.

Every state change that the other side must hear of becomes a message, written in the same
transaction as the change (`record_*`). When both libraries are hosted here the message is
recorded and nothing is sent: the same service call already moved both sides. When the other
side lives on another system (an institution whose agency id belongs to a registered peer), the
message waits in the outbox (`IsoMessage` with status "pending") until the worker delivers it
and the peer confirms it (`send_pending`).

Incoming messages (`receive`) are matched to this node's copy of the other side and applied
through the same service functions a librarian's click goes through, with the peer as actor:
the state tables decide what a peer may do. The same message twice changes nothing; a message
that arrives after the state has moved past it (a WillSupply after the Loaned) is accepted and
ignored.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from kede.consortium.models import AgencyId, Institution
from kede.core.statemachine import TransitionError
from kede.ill.models import (
    IsoMessage,
    MessageDirection,
    MessageStatus,
    Peer,
    Request,
    ServiceType,
    SupplyRequest,
    UnfilledReason,
)
from kede.protocols import iso18626 as iso

logger = logging.getLogger(__name__)

# What each supplier-side change tells the requester: (status, reason, yes/no answer).
_SUPPLIER_SAYS: dict[str, tuple[iso.Status | None, iso.ReasonForMessage, bool | None]] = {
    "accept": (iso.Status.WILL_SUPPLY, iso.ReasonForMessage.STATUS_CHANGE, None),
    "offer_conditions": (iso.Status.RETRY_POSSIBLE, iso.ReasonForMessage.STATUS_CHANGE, None),
    "deliver": (iso.Status.COPY_COMPLETED, iso.ReasonForMessage.STATUS_CHANGE, None),
    "ship": (iso.Status.LOANED, iso.ReasonForMessage.STATUS_CHANGE, None),
    "refuse": (iso.Status.UNFILLED, iso.ReasonForMessage.STATUS_CHANGE, None),
    "requester_cancel": (iso.Status.CANCELLED, iso.ReasonForMessage.CANCEL_RESPONSE, True),
    "cancel_accept": (iso.Status.CANCELLED, iso.ReasonForMessage.CANCEL_RESPONSE, True),
    "cancel_refuse": (None, iso.ReasonForMessage.CANCEL_RESPONSE, False),
    "mark_overdue": (iso.Status.OVERDUE, iso.ReasonForMessage.STATUS_CHANGE, None),
    "recall": (iso.Status.RECALLED, iso.ReasonForMessage.STATUS_CHANGE, None),
    "renew_grant": (iso.Status.LOANED, iso.ReasonForMessage.RENEW_RESPONSE, True),
    "renew_refuse": (iso.Status.LOANED, iso.ReasonForMessage.RENEW_RESPONSE, False),
    "check_in": (iso.Status.LOAN_COMPLETED, iso.ReasonForMessage.STATUS_CHANGE, None),
    "close_lost": (
        iso.Status.COMPLETED_WITHOUT_RETURN,
        iso.ReasonForMessage.STATUS_CHANGE,
        None,
    ),
    "notify": (None, iso.ReasonForMessage.NOTIFICATION, None),
}

# What each requester-side change tells the supplier.
_REQUESTER_SAYS: dict[str, iso.Action] = {
    "cancel": iso.Action.CANCEL,
    "ask_cancel": iso.Action.CANCEL,
    "reject_conditions": iso.Action.CANCEL,
    "copy_received": iso.Action.RECEIVED,
    "item_received": iso.Action.RECEIVED,
    "ask_renew": iso.Action.RENEW,
    "ship_return": iso.Action.SHIPPED_RETURN,
    "report_lost": iso.Action.LOST,
    "report_problem": iso.Action.NOTIFICATION,
    "notify": iso.Action.NOTIFICATION,
    "status_request": iso.Action.STATUS_REQUEST,
}

# The supplier-side state each ISO status stands for, to answer a StatusRequest.
_STATUS_OF_STATE = {
    "received": iso.Status.REQUEST_RECEIVED,
    "will_supply": iso.Status.WILL_SUPPLY,
    "conditional": iso.Status.RETRY_POSSIBLE,
    "cancel_requested": iso.Status.WILL_SUPPLY,
    "delivered": iso.Status.COPY_COMPLETED,
    "redo": iso.Status.WILL_SUPPLY,
    "shipped": iso.Status.LOANED,
    "overdue": iso.Status.OVERDUE,
    "recalled": iso.Status.RECALLED,
    "renew_requested": iso.Status.LOANED,
    "return_shipped": iso.Status.LOANED,
    "lost": iso.Status.LOANED,
    "completed": iso.Status.LOAN_COMPLETED,
    "unfilled": iso.Status.UNFILLED,
    "cancelled": iso.Status.CANCELLED,
}

_REASONS_OUT = {
    UnfilledReason.NOT_HELD: "NotHeld",
    UnfilledReason.NOT_ON_SHELF: "NotOnShelf",
    UnfilledReason.NOT_AVAILABLE: "PolicyProblem",
    UnfilledReason.POOR_CONDITION: "PoorCondition",
    UnfilledReason.COPYRIGHT: "PolicyProblem",
    UnfilledReason.NO_ANSWER: "Other",
    UnfilledReason.OTHER: "Other",
}
_REASONS_IN = {
    "notheld": UnfilledReason.NOT_HELD,
    "notonshelf": UnfilledReason.NOT_ON_SHELF,
    "notavailable": UnfilledReason.NOT_AVAILABLE,
    "policyproblem": UnfilledReason.NOT_AVAILABLE,
    "poorcondition": UnfilledReason.POOR_CONDITION,
}
_PROBLEM_MARK = "#Kede:CopyProblem:"
_COPY_SALT = "kede.iso18626.copy"


# ---- who lives where ------------------------------------------------------------------------


def peer_for(institution: Institution) -> Peer | None:
    """The other system an institution lives on, or None when it is hosted here."""
    return Peer.objects.filter(
        Exists(
            AgencyId.objects.filter(
                institution_id=institution.pk,
                type=OuterRef("agency_type"),
                value=OuterRef("agency_value"),
            )
        )
    ).first()


def agency_of(institution: Institution) -> iso.AgencyId:
    """How messages name an institution: its ISIL if it has one, else any agency id, else its
    code in Kede's own scheme."""
    ids = sorted(institution.agency_ids.all(), key=lambda a: (a.type != "ISIL", a.type, a.value))
    if ids:
        return iso.AgencyId(type=ids[0].type, value=ids[0].value)
    return iso.AgencyId(type="KEDE", value=institution.code)


def institution_for(agency: iso.AgencyId | None) -> Institution | None:
    if agency is None:
        return None
    if agency.type.upper() == "KEDE":
        return Institution.objects.filter(code=agency.value).first()
    found = AgencyId.objects.filter(type__iexact=agency.type, value=agency.value).first()
    return found.institution if found else None


# ---- recording what one side tells the other ------------------------------------------------


def _ids(request: Request, supply: SupplyRequest) -> tuple[str, str]:
    requester_hosted = peer_for(request.requester) is None
    supplier_hosted = peer_for(supply.supplier) is None
    request_id = request.number if requester_hosted else request.remote_id
    supply_id = f"{request.number}-{supply.position}" if supplier_hosted else supply.remote_id
    return request_id or "", supply_id or ""


def _header(request: Request, supply: SupplyRequest) -> iso.Header:
    request_id, supply_id = _ids(request, supply)
    return iso.Header(
        supplying_agency_id=agency_of(supply.supplier),
        requesting_agency_id=agency_of(request.requester),
        timestamp=timezone.now(),
        requesting_agency_request_id=request_id,
        supplying_agency_request_id=supply_id or None,
    )


def _store(
    message: iso.Message,
    *,
    request: Request,
    supply: SupplyRequest,
    summary: str,
    to: Institution,
) -> IsoMessage:
    peer = peer_for(to)
    version = peer.version if peer else iso.VERSION_1_2
    body = iso.write(message, version=version)
    stored = IsoMessage.objects.create(
        request=request,
        supply=supply,
        direction=MessageDirection.OUT,
        kind=type(message).__name__,
        summary=summary[:100],
        peer=peer,
        body=body,
        version=version,
        status=MessageStatus.PENDING if peer else MessageStatus.LOCAL,
        next_attempt_at=timezone.now() if peer else None,
    )
    if peer is not None:
        from kede.ill.tasks import send_iso_messages

        transaction.on_commit(lambda: send_iso_messages.enqueue())
    return stored


def _bibliographic_info(request: Request) -> iso.BibliographicInfo:
    ids = [
        iso.BibliographicItemId(code=code, identifier=value)
        for code, value in (("ISBN", request.isbn), ("ISSN", request.issn), ("DOI", request.doi))
        if value
    ]
    copy = request.service_type == ServiceType.COPY and bool(request.container_title)
    return iso.BibliographicInfo(
        title=(request.container_title if copy else request.title) or request.title,
        author=None if copy else (request.author or None),
        title_of_component=request.title if copy else None,
        author_of_component=(request.author or None) if copy else None,
        volume=request.volume or None,
        issue=request.issue or None,
        pages_requested=request.pages or None,
        item_ids=tuple(ids),
    )


def record_new_request(supply: SupplyRequest) -> IsoMessage | None:
    """The Request message to the supplier a request has just been sent to."""
    request = supply.request
    if peer_for(request.requester) is not None:
        return None  # this node holds the supplier's side only
    need_before = (
        datetime.datetime.combine(request.needed_by, datetime.time(), tzinfo=datetime.UTC)
        if request.needed_by
        else None
    )
    message = iso.Request(
        header=_header(request, supply),
        bibliographic_info=_bibliographic_info(request),
        publication_info=iso.PublicationInfo(publication_date=request.year or None),
        service_info=iso.ServiceInfo(
            service_type=iso.ServiceType.COPY
            if request.service_type == ServiceType.COPY
            else iso.ServiceType.LOAN,
            request_type=iso.RequestType.NEW,
            need_before_date=need_before,
            note=request.note or None,
        ),
    )
    return _store(message, request=request, supply=supply, summary="New", to=supply.supplier)


def record_transition(
    obj: Request | SupplyRequest, *, action: str, supply: SupplyRequest | None, note: str
) -> IsoMessage | None:
    """The message a state change sends, if any, from the side hosted here."""
    if isinstance(obj, SupplyRequest):
        if action in _SUPPLIER_SAYS and peer_for(obj.supplier) is None:
            return record_supplier_message(obj, action=action, note=note)
        return None
    if supply is None or peer_for(obj.requester) is not None:
        return None
    if action == "accept_conditions":
        return _retry_request(obj, supply)
    if action in _REQUESTER_SAYS:
        return record_requester_message(obj, supply=supply, action=action, note=note)
    return None


def _retry_request(request: Request, supply: SupplyRequest) -> IsoMessage:
    """Agreeing to conditions is, in ISO 18626, asking again (requestType Retry)."""
    maximum = (
        iso.Money(amount=supply.offered_cost, currency=supply.currency or "CNY")
        if supply.offered_cost is not None
        else None
    )
    message = iso.Request(
        header=_header(request, supply),
        bibliographic_info=_bibliographic_info(request),
        service_info=iso.ServiceInfo(
            service_type=iso.ServiceType.COPY
            if request.service_type == ServiceType.COPY
            else iso.ServiceType.LOAN,
            request_type=iso.RequestType.RETRY,
            requesting_agency_previous_request_id=_ids(request, supply)[0],
        ),
        billing_info=iso.BillingInfo(maximum_costs=maximum) if maximum else None,
    )
    return _store(message, request=request, supply=supply, summary="Retry", to=supply.supplier)


def record_supplier_message(supply: SupplyRequest, *, action: str, note: str = "") -> IsoMessage:
    request = supply.request
    if action == "status_answer":
        status, reason, answer = (None, iso.ReasonForMessage.STATUS_REQUEST_RESPONSE, None)
    else:
        status, reason, answer = _SUPPLIER_SAYS[action]
    if status is None:
        status = _STATUS_OF_STATE.get(supply.state, iso.Status.WILL_SUPPLY)
    offered = None
    if action == "offer_conditions" and supply.offered_cost is not None:
        offered = iso.Money(amount=supply.offered_cost, currency=supply.currency or "CNY")
    due = (
        datetime.datetime.combine(supply.due_date, datetime.time(), tzinfo=datetime.UTC)
        if supply.due_date and status in (iso.Status.LOANED, iso.Status.OVERDUE)
        else None
    )
    delivery = None
    if action == "deliver" and peer_for(request.requester) is not None:
        delivery = iso.DeliveryInfo(
            date_sent=timezone.now(),
            item_id=copy_fetch_url(supply),
            delivery_method="URL",
            item_format="PDF",
        )
    elif action == "ship":
        delivery = iso.DeliveryInfo(date_sent=timezone.now(), delivery_method="Mail")
    message = iso.SupplyingAgencyMessage(
        header=_header(request, supply),
        message_info=iso.MessageInfo(
            reason_for_message=reason,
            answer_yes_no=answer,
            note=(note or supply.conditions or None)
            if action in ("offer_conditions", "notify", "refuse")
            else (note or None),
            reason_unfilled=_REASONS_OUT.get(supply.reason) if action == "refuse" else None,
            reason_retry="CostExceedsMaxCost"
            if action == "offer_conditions" and offered
            else ("Other" if action == "offer_conditions" else None),
            offered_costs=offered,
        ),
        status_info=iso.StatusInfo(status=status, last_change=timezone.now(), due_date=due),
        delivery_info=delivery,
    )
    return _store(
        message, request=request, supply=supply, summary=f"{status}", to=request.requester
    )


def record_requester_message(
    request: Request, *, supply: SupplyRequest, action: str, note: str = ""
) -> IsoMessage:
    kind = _REQUESTER_SAYS[action]
    peer = peer_for(supply.supplier)
    if kind == iso.Action.LOST and (peer.version if peer else iso.VERSION_1_2) == "1.2":
        kind, note = iso.Action.NOTIFICATION, f"Lost. {note}".strip()
    if action == "report_problem":
        note = f"{_PROBLEM_MARK}{request.problem}# {note}".strip()
    message = iso.RequestingAgencyMessage(
        header=_header(request, supply), action=kind, note=note or None
    )
    return _store(message, request=request, supply=supply, summary=str(kind), to=supply.supplier)


def copy_fetch_url(supply: SupplyRequest) -> str:
    token = signing.dumps({"s": supply.id}, salt=_COPY_SALT)
    return settings.SITE_URL + reverse("iso18626-copy", kwargs={"token": token})


def copy_for_token(token: str):
    """The stored copy a fetch link names, while the link is valid."""
    from kede.delivery.models import DeliveredCopy

    days = settings.KEDE_DOWNLOAD_DAYS
    try:
        payload = signing.loads(token, salt=_COPY_SALT, max_age=datetime.timedelta(days=days))
    except signing.BadSignature:
        return None
    return (
        DeliveredCopy.objects.filter(supply_id=payload.get("s"), deleted_at__isnull=True)
        .order_by("-id")
        .first()
    )


# ---- the outbox -----------------------------------------------------------------------------


def _backoff(attempts: int) -> datetime.timedelta:
    return datetime.timedelta(seconds=min(3600, 5 * 2 ** min(attempts, 12)))


def send_pending(now: datetime.datetime | None = None, limit: int = 200) -> int:
    """Deliver the messages that are due, oldest first, one request's messages in order.

    A peer that is down is tried again later with growing pauses (at most an hour); a peer
    that refuses a message (ERROR confirmation) stops that message, and staff see why.
    """
    now = now or timezone.now()
    sent = 0
    due = IsoMessage.objects.filter(
        direction=MessageDirection.OUT, status=MessageStatus.PENDING, next_attempt_at__lte=now
    ).select_related("peer")[:limit]
    blocked: set[tuple[int | None, int | None]] = set()
    for message in due:
        lane = (message.peer_id, message.request_id)
        if lane in blocked or _earlier_pending(message):
            blocked.add(lane)
            continue
        if _send_one(message):
            sent += 1
        else:
            blocked.add(lane)
    return sent


def _earlier_pending(message: IsoMessage) -> bool:
    return IsoMessage.objects.filter(
        direction=MessageDirection.OUT,
        status=MessageStatus.PENDING,
        peer=message.peer_id,
        request=message.request_id,
        id__lt=message.id,
    ).exists()


def _send_one(message: IsoMessage) -> bool:
    try:
        answer = _post(message.peer.url, bytes(message.body))
        confirmation = iso.read(answer)
    except (OSError, urllib.error.URLError, iso.Iso18626Error) as exc:
        _retry_later(message, str(exc))
        return False
    status = getattr(confirmation.header, "message_status", None)
    error = getattr(confirmation, "error_data", None)
    if status == iso.MessageStatus.OK:
        _finish(message, MessageStatus.CONFIRMED, "")
        return True
    detail = f"{error.error_type}: {error.error_value}" if error else "ERROR without errorData"
    _finish(message, MessageStatus.REJECTED, detail)
    logger.warning("peer %s refused message %s: %s", message.peer, message.id, detail)
    return True


def _post(url: str, body: bytes) -> bytes:
    request = urllib.request.Request(  # noqa: S310 — peers are registered http(s) URLs
        url, data=body, method="POST", headers={"Content-Type": "application/xml"}
    )
    with urllib.request.urlopen(request, timeout=settings.KEDE_ISO18626_TIMEOUT) as response:  # noqa: S310
        return response.read(iso.MAX_BYTES + 1)


def _retry_later(message: IsoMessage, error: str) -> None:
    attempts = message.attempts + 1
    IsoMessage.objects.filter(id=message.id, status=MessageStatus.PENDING).update(
        attempts=attempts,
        last_error=error[:2000],
        next_attempt_at=timezone.now() + _backoff(attempts),
    )


def _finish(message: IsoMessage, status: str, error: str) -> None:
    IsoMessage.objects.filter(id=message.id, status=MessageStatus.PENDING).update(
        status=status,
        attempts=message.attempts + 1,
        last_error=error[:2000],
        done_at=timezone.now(),
    )


# ---- the inbox ------------------------------------------------------------------------------


class NotAMessage(Exception):
    """Something that cannot be confirmed (a confirmation sent on its own)."""


class Refused(Exception):
    """An incoming message that cannot be applied, with the ISO 18626 error to answer."""

    def __init__(self, error_type: iso.ErrorType, value: str) -> None:
        super().__init__(value)
        self.error = iso.ErrorData(error_type=error_type, error_value=value)


@dataclass
class Received:
    status: str  # MessageStatus.ACCEPTED or IGNORED
    note: str = ""


def receive(body: bytes) -> bytes:
    """Answer one incoming message with its confirmation (in the version it came in)."""
    try:
        message, version = iso.read_with_version(body)
    except iso.Iso18626Error as exc:
        reply = iso.confirmation_for_error(exc)
        if reply is None:
            raise
        return iso.write(reply)
    if isinstance(message, iso.Confirmation):
        raise NotAMessage("a confirmation answers a message on the same connection; none is due")
    try:
        _receive(message, body, version)
    except Refused as exc:
        return iso.write(
            iso.confirmation_for(message, iso.MessageStatus.ERROR, exc.error), version=version
        )
    return iso.write(iso.confirmation_for(message, iso.MessageStatus.OK), version=version)


def _key(message: iso.Message, body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _receive(message: iso.Message, body: bytes, version: str) -> None:
    key = _key(message, body)
    if IsoMessage.objects.filter(direction=MessageDirection.IN, key=key).exists():
        return  # the same message again: already applied
    try:
        with transaction.atomic():
            request, supply, outcome = _dispatch(message)
            IsoMessage.objects.create(
                request=request,
                supply=supply,
                direction=MessageDirection.IN,
                kind=type(message).__name__,
                summary=_summary(message)[:100],
                peer=_sender(message),
                body=body,
                version=version,
                key=key,
                status=outcome.status,
                last_error=outcome.note[:2000],
                done_at=timezone.now(),
            )
    except IntegrityError:
        # The same message arrived twice at once: the other copy was applied.
        if not IsoMessage.objects.filter(direction=MessageDirection.IN, key=key).exists():
            raise


def _summary(message: iso.Message) -> str:
    match message:
        case iso.Request():
            return str(message.service_info.request_type if message.service_info else "New")
        case iso.SupplyingAgencyMessage():
            status = message.status_info.status if message.status_info else ""
            return f"{message.message_info.reason_for_message} {status}".strip()
        case iso.RequestingAgencyMessage():
            return str(message.action)
    return ""


def _sender(message: iso.Message) -> Peer | None:
    header = message.header
    agency = (
        header.supplying_agency_id
        if isinstance(message, iso.SupplyingAgencyMessage)
        else header.requesting_agency_id
    )
    if agency is None:
        return None
    return Peer.objects.filter(agency_type__iexact=agency.type, agency_value=agency.value).first()


def _dispatch(message: iso.Message) -> tuple[Request | None, SupplyRequest | None, Received]:
    peer = _sender(message)
    if peer is None:
        agency = (
            message.header.supplying_agency_id
            if isinstance(message, iso.SupplyingAgencyMessage)
            else message.header.requesting_agency_id
        )
        raise Refused(
            iso.ErrorType.UNRECOGNISED_DATA_VALUE,
            f"agency {agency.type}:{agency.value} is not a registered peer of this system",
        )
    match message:
        case iso.Request():
            return _on_request(message, peer)
        case iso.SupplyingAgencyMessage():
            return _on_supplying_agency_message(message, peer)
        case iso.RequestingAgencyMessage():
            return _on_requesting_agency_message(message, peer)
    raise Refused(iso.ErrorType.UNSUPPORTED_ACTION_TYPE, type(message).__name__)


def _hosted(agency: iso.AgencyId | None, field: str) -> Institution:
    institution = institution_for(agency)
    if institution is None or peer_for(institution) is not None:
        shown = f"{agency.type}:{agency.value}" if agency else "(none)"
        raise Refused(
            iso.ErrorType.UNRECOGNISED_DATA_VALUE,
            f"{field} {shown} is not a library of this system",
        )
    return institution


def _on_request(
    message: iso.Request, peer: Peer
) -> tuple[Request | None, SupplyRequest | None, Received]:
    from kede.ill import services

    header = message.header
    supplier = _hosted(header.supplying_agency_id, "supplyingAgencyId")
    requester = institution_for(header.requesting_agency_id)
    if requester is None or peer_for(requester) != peer:
        raise Refused(
            iso.ErrorType.UNRECOGNISED_DATA_VALUE,
            "requestingAgencyId is not a library of the sending system",
        )
    existing = (
        SupplyRequest.objects.filter(
            supplier=supplier,
            request__requester=requester,
            request__remote_id=header.requesting_agency_request_id,
        )
        .select_related("request", "supplier")
        .first()
    )
    kind = message.service_info.request_type if message.service_info else None
    if kind == iso.RequestType.RETRY:
        if existing is None:
            raise Refused(
                iso.ErrorType.UNRECOGNISED_DATA_VALUE,
                f"no request {header.requesting_agency_request_id} to retry",
            )
        return _apply_peer(
            lambda: services.request_answer_conditions(
                actor=peer, request=existing.request, accept=True
            ),
            existing,
        )
    if existing is not None:
        return existing.request, existing, Received(MessageStatus.IGNORED, "already received")
    try:
        supply = services.request_receive_from_peer(
            peer=peer,
            requester=requester,
            supplier=supplier,
            citation=citation_of(message),
            service_type=ServiceType.LOAN
            if message.service_info and message.service_info.service_type == iso.ServiceType.LOAN
            else ServiceType.COPY,
            remote_id=header.requesting_agency_request_id,
            needed_by=message.service_info.need_before_date.date()
            if message.service_info and message.service_info.need_before_date
            else None,
        )
    except ValidationError as exc:
        raise Refused(iso.ErrorType.UNRECOGNISED_DATA_VALUE, _text(exc)) from exc
    return supply.request, supply, Received(MessageStatus.ACCEPTED)


def citation_of(message: iso.Request):
    """The citation a Request message carries, cut to what Kede stores."""
    from kede.ill.services import Citation

    bib = message.bibliographic_info
    component = bib.title_of_component
    date = (message.publication_info.publication_date or "") if message.publication_info else ""
    year = next((date[i : i + 4] for i in range(len(date) - 3) if date[i : i + 4].isdigit()), "")
    return Citation(
        title=((component or bib.title or "").strip())[:1000],
        author=((bib.author_of_component if component else bib.author) or "")[:500],
        container_title=((bib.title or "") if component else "")[:1000],
        volume=(bib.volume or "")[:50],
        issue=(bib.issue or "")[:50],
        year=year,
        pages=(bib.pages_requested or "")[:50],
        issn=(bib.item_id("ISSN") or "")[:9],
        isbn=(bib.item_id("ISBN") or "")[:17],
        doi=(bib.item_id("DOI") or "")[:200],
        note=((message.service_info.note or "") if message.service_info else "")[:2000],
    )


def _apply_peer(change, supply: SupplyRequest) -> tuple[Request, SupplyRequest, Received]:
    """Apply a peer's change; one that the state has already moved past changes nothing."""
    try:
        change()
    except TransitionError as exc:
        return supply.request, supply, Received(MessageStatus.IGNORED, str(exc))
    except (ValidationError, PermissionDenied) as exc:
        raise Refused(iso.ErrorType.UNRECOGNISED_DATA_VALUE, _text(exc)) from exc
    return supply.request, supply, Received(MessageStatus.ACCEPTED)


def _text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


def _supply_for_supplier_message(message: iso.SupplyingAgencyMessage, peer: Peer) -> SupplyRequest:
    header = message.header
    requester = _hosted(header.requesting_agency_id, "requestingAgencyId")
    supplier = institution_for(header.supplying_agency_id)
    supply = (
        SupplyRequest.objects.filter(
            request__number=header.requesting_agency_request_id,
            request__requester=requester,
            supplier=supplier,
        )
        .select_related("request", "supplier")
        .first()
        if supplier is not None
        else None
    )
    if supply is None or peer_for(supply.supplier) != peer:
        raise Refused(
            iso.ErrorType.UNRECOGNISED_DATA_VALUE,
            f"no request {header.requesting_agency_request_id} was sent to this supplier",
        )
    if header.supplying_agency_request_id and not supply.remote_id:
        SupplyRequest.objects.filter(id=supply.id).update(
            remote_id=header.supplying_agency_request_id[:100]
        )
        supply.remote_id = header.supplying_agency_request_id
    return supply


def _on_supplying_agency_message(
    message: iso.SupplyingAgencyMessage, peer: Peer
) -> tuple[Request, SupplyRequest, Received]:
    from kede.ill import services

    supply = _supply_for_supplier_message(message, peer)
    info = message.message_info
    status = message.status_info.status if message.status_info else None
    reason = info.reason_for_message
    note = info.note or ""
    if reason == iso.ReasonForMessage.NOTIFICATION:
        return _apply_peer(
            lambda: services.supply_notify(actor=peer, supply=supply, note=note or "-"), supply
        )
    if reason == iso.ReasonForMessage.CANCEL_RESPONSE and info.answer_yes_no is False:
        return _apply_peer(
            lambda: services.supply_answer_cancel(actor=peer, supply=supply, accept=False), supply
        )
    if reason == iso.ReasonForMessage.RENEW_RESPONSE:
        due = message.status_info.due_date if message.status_info else None
        return _apply_peer(
            lambda: services.supply_answer_renew(
                actor=peer,
                supply=supply,
                grant=bool(info.answer_yes_no),
                due_date=due.date() if due else None,
                note=note,
            ),
            supply,
        )
    change = _status_change(status, supply, message, peer, note)
    if change is None:
        return supply.request, supply, Received(MessageStatus.IGNORED, f"status {status}")
    return _apply_peer(change, supply)


def _status_change(status, supply: SupplyRequest, message, peer: Peer, note: str):
    from kede.ill import services

    info = message.message_info
    match status:
        case iso.Status.WILL_SUPPLY | iso.Status.EXPECT_TO_SUPPLY:
            return lambda: services.supply_accept(actor=peer, supply=supply, note=note)
        case iso.Status.RETRY_POSSIBLE:
            cost = info.offered_costs
            return lambda: services.supply_offer_conditions(
                actor=peer,
                supply=supply,
                conditions=note or info.reason_retry or "",
                cost=Decimal(cost.amount) if cost else None,
                currency=cost.currency if cost else "",
            )
        case iso.Status.UNFILLED:
            reason = _REASONS_IN.get((info.reason_unfilled or "").casefold(), UnfilledReason.OTHER)
            return lambda: services.supply_refuse(
                actor=peer, supply=supply, reason=reason, note=note
            )
        case iso.Status.COPY_COMPLETED:
            url = message.delivery_info.item_id if message.delivery_info else None
            if not url or not url.startswith(("http://", "https://")):
                raise Refused(
                    iso.ErrorType.UNRECOGNISED_DATA_VALUE,
                    "deliveryInfo/itemId must be the http(s) address of the copy",
                )
            return lambda: services.supply_delivered_elsewhere(actor=peer, supply=supply, url=url)
        case iso.Status.LOANED:
            due = message.status_info.due_date
            due_date = due.date() if due else timezone.localdate() + datetime.timedelta(days=28)
            return lambda: services.supply_ship(
                actor=peer, supply=supply, due_date=due_date, note=note
            )
        case iso.Status.OVERDUE:
            return lambda: services.supply_mark_overdue(actor=peer, supply=supply)
        case iso.Status.RECALLED:
            return lambda: services.supply_recall(actor=peer, supply=supply, note=note)
        case iso.Status.LOAN_COMPLETED:
            return lambda: services.supply_check_in(actor=peer, supply=supply, note=note)
        case iso.Status.COMPLETED_WITHOUT_RETURN:
            return lambda: services.supply_close_lost(actor=peer, supply=supply, note=note)
        case iso.Status.CANCELLED:
            return lambda: services.supply_answer_cancel(
                actor=peer, supply=supply, accept=True, note=note
            )
    return None


def _on_requesting_agency_message(
    message: iso.RequestingAgencyMessage, peer: Peer
) -> tuple[Request, SupplyRequest, Received]:
    from kede.ill import services

    header = message.header
    supplier = _hosted(header.supplying_agency_id, "supplyingAgencyId")
    requester = institution_for(header.requesting_agency_id)
    supply = (
        SupplyRequest.objects.filter(
            supplier=supplier,
            request__requester=requester,
            request__remote_id=header.requesting_agency_request_id,
        )
        .select_related("request", "supplier")
        .first()
        if requester is not None
        else None
    )
    if supply is None or peer_for(requester) != peer:
        raise Refused(
            iso.ErrorType.UNRECOGNISED_DATA_VALUE,
            f"no request {header.requesting_agency_request_id} from this requester",
        )
    request = supply.request
    note = message.note or ""
    is_loan = request.service_type == ServiceType.LOAN
    match message.action:
        case iso.Action.STATUS_REQUEST:
            record_supplier_message(supply, action="status_answer")
            return request, supply, Received(MessageStatus.ACCEPTED)
        case iso.Action.CANCEL:
            change = lambda: services.request_cancel(actor=peer, request=request, note=note)  # noqa: E731
        case iso.Action.RECEIVED:
            change = (
                (lambda: services.request_item_received(actor=peer, request=request))
                if is_loan
                else (lambda: services.request_copy_received(actor=peer, request=request))
            )
        case iso.Action.RENEW:
            change = lambda: services.request_ask_renew(actor=peer, request=request, note=note)  # noqa: E731
        case iso.Action.SHIPPED_RETURN:
            change = lambda: services.request_ship_return(actor=peer, request=request, note=note)  # noqa: E731
        case iso.Action.LOST:
            change = lambda: services.request_report_lost(actor=peer, request=request, note=note)  # noqa: E731
        case iso.Action.NOTIFICATION:
            change = _notification(peer, request, note, is_loan)
        case _:
            raise Refused(iso.ErrorType.UNSUPPORTED_ACTION_TYPE, str(message.action))
    return _apply_peer(change, supply)


def _notification(peer: Peer, request: Request, note: str, is_loan: bool):
    from kede.ill import services

    if note.startswith(_PROBLEM_MARK):
        code, _sep, rest = note[len(_PROBLEM_MARK) :].partition("#")
        return lambda: services.request_report_problem(
            actor=peer, request=request, problem=code, note=rest.strip()
        )
    if is_loan and note.startswith("Lost."):
        return lambda: services.request_report_lost(
            actor=peer, request=request, note=note[5:].strip()
        )
    return lambda: services.request_notify(actor=peer, request=request, note=note)
