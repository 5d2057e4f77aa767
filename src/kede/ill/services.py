"""Every write to a request. Each state change passes through `_apply`, which checks the table,
updates only if nobody changed the state meanwhile, and writes the event — in one transaction
with whatever the change causes (the next supplier, the copy, the reader's mail).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from kede.accounts import selectors as people
from kede.accounts.models import User
from kede.catalog.models import Work
from kede.core.statemachine import StateMachine, TransitionConflict, TransitionNotAllowed
from kede.ill import routing
from kede.ill.models import (
    CopyProblem,
    Peer,
    Request,
    RequestEvent,
    ServiceType,
    SupplyRequest,
    UnfilledReason,
)
from kede.ill.states import READER, REQUESTER, STAFF, SUPPLIER, SUPPLIER_OPEN, SYSTEM
from kede.ill.states import RequesterState as R
from kede.ill.states import SupplierState as S

Stateful = Request | SupplyRequest


@dataclass(frozen=True)
class Citation:
    title: str
    author: str = ""
    container_title: str = ""
    volume: str = ""
    issue: str = ""
    year: str = ""
    pages: str = ""
    issn: str = ""
    isbn: str = ""
    doi: str = ""
    note: str = ""


def _apply(
    obj: Stateful,
    *,
    machine: StateMachine,
    action: str,
    actor: User | None,
    actor_kind: str,
    note: str = "",
    supply: SupplyRequest | None = None,
    fields: dict[str, object] | None = None,
) -> RequestEvent:
    """The one way a request's state changes. Call inside a transaction."""
    transition = machine.transition(obj.state, action)
    if actor_kind not in transition.actors:
        raise PermissionDenied(_("You may not do this to the request."))
    fields = fields or {}
    updated = (
        type(obj)
        .objects.filter(pk=obj.pk, state=obj.state)
        .update(state=transition.target, updated_at=timezone.now(), **fields)
    )
    if not updated:
        raise TransitionConflict(_("Someone else changed this request first; reload it."))
    is_supply = isinstance(obj, SupplyRequest)
    event = RequestEvent.objects.create(
        request=obj.request if is_supply else obj,
        supply=obj if is_supply else supply,
        side="supplier" if is_supply else "requester",
        action=action,
        from_state=obj.state,
        to_state=transition.target,
        actor=actor,
        institution=obj.supplier if is_supply else obj.requester,
        note=note,
    )
    obj.state = transition.target
    for name, value in fields.items():
        setattr(obj, name, value)
    return event


def request_record_fact(*, request: Request, action: str, note: str = "") -> RequestEvent:
    """Record something that happened to a request without changing its state (e.g. its copy
    was deleted at the end of its download period), so the history shows it."""
    return RequestEvent.objects.create(
        request=request,
        side="requester",
        action=action,
        from_state=request.state,
        to_state=request.state,
        institution=request.requester,
        note=note,
    )


def _fresh_readonly(supply: SupplyRequest) -> SupplyRequest:
    return SupplyRequest.objects.select_related(*_RELATED[SupplyRequest]).get(pk=supply.pk)


def _fresh(obj: Stateful) -> Stateful:
    """Lock the request and re-read `obj` inside the transaction.

    Every change to either side locks the requester-side row first, so two actors working on
    the same request queue one behind the other (and never deadlock) instead of interleaving.
    """
    request_id = obj.request_id if isinstance(obj, SupplyRequest) else obj.pk
    list(Request.objects.select_for_update().filter(pk=request_id).values_list("pk"))
    return type(obj).objects.select_related(*_RELATED[type(obj)]).get(pk=obj.pk)


_RELATED = {
    Request: ("requester", "reader"),
    SupplyRequest: ("request", "request__requester", "request__reader", "supplier"),
}


# ---- requester side -------------------------------------------------------------------------


@transaction.atomic
def request_submit(
    *,
    actor: User,
    citation: Citation,
    work: Work | None = None,
    service_type: str = ServiceType.COPY,
) -> Request:
    """A reader asks for a copy; the request is sent at once to the first likely supplier."""
    membership = people.reader_membership(actor)
    if membership is None or not people.permitted(actor, "request.create", membership.institution):
        raise PermissionDenied(_("Only an approved reader of a member library can ask for copies."))
    if service_type != ServiceType.COPY:
        raise ValidationError(_("Only copies can be requested for now."))
    if not citation.title.strip():
        raise ValidationError({"title": _("Give the title of the article or chapter.")})
    request = Request.objects.create(
        reader=actor,
        requester=membership.institution,
        service_type=service_type,
        work=work,
        **citation.__dict__,
    )
    request.number = f"KD{timezone.localdate():%y%m}{request.pk:06d}"
    Request.objects.filter(pk=request.pk).update(number=request.number)
    RequestEvent.objects.create(
        request=request,
        side="requester",
        action="submit",
        to_state=request.state,
        actor=actor,
        institution=request.requester,
    )
    _send_to_next_supplier(request)
    return request


def _send_to_next_supplier(request: Request) -> None:
    """Send to the next candidate not yet tried, or end unfilled.

    The reasons suppliers gave stay on their supply requests (as codes, shown in the reader's
    language), so the final event needs no text of its own.
    """
    tried = set(request.supplies.values_list("supplier_id", flat=True))
    nxt = next((c for c in routing.candidate_suppliers(request) if c.id not in tried), None)
    if nxt is None:
        from kede.ill.tasks import send_request_unfilled_mail

        _apply(request, machine=REQUESTER, action="no_supplier", actor=None, actor_kind=SYSTEM)
        send_request_unfilled_mail.enqueue(request_id=request.id)
        return
    position = (request.supplies.aggregate(m=Max("position"))["m"] or 0) + 1
    supply = SupplyRequest.objects.create(request=request, supplier=nxt, position=position)
    action = "route" if request.state == R.SUBMITTED else "reroute"
    _apply(request, machine=REQUESTER, action=action, actor=None, actor_kind=SYSTEM,
           supply=supply)  # fmt: skip
    RequestEvent.objects.create(
        request=request,
        supply=supply,
        side="supplier",
        action="receive",
        to_state=supply.state,
        institution=nxt,
    )


def _requester_actor_kind(actor: User, request: Request, action: str) -> str:
    if request.reader_id == actor.id and people.permitted(actor, action, request.requester):
        return READER
    if people.permitted(actor, action, request.requester, as_staff=True):
        return STAFF
    raise PermissionDenied(_("You may not act on this request."))


@transaction.atomic
def request_cancel(*, actor: User, request: Request, note: str = "") -> Request:
    request = _fresh(request)
    kind = _requester_actor_kind(actor, request, "request.cancel")
    open_supply = request.supplies.filter(state__in=SUPPLIER_OPEN).first()
    _apply(request, machine=REQUESTER, action="cancel", actor=actor, actor_kind=kind, note=note,
           supply=open_supply)  # fmt: skip
    if open_supply is not None:
        _apply(open_supply, machine=SUPPLIER, action="requester_cancel", actor=None,
               actor_kind=SYSTEM, note=note)  # fmt: skip
    return request


def request_copy_received(*, actor: User, request: Request) -> bool:
    """The reader (or their library for them) has the copy: the request is complete.

    Returns False when it was already complete; called on every download.
    """
    with transaction.atomic():
        request = _fresh(request)
        if request.state != R.DELIVERED:
            return False
        kind = _requester_actor_kind(actor, request, "copy.download")
        try:
            _apply(request, machine=REQUESTER, action="copy_received", actor=actor,
                   actor_kind=kind)  # fmt: skip
        except TransitionConflict:
            return False
    return True


@transaction.atomic
def request_report_problem(
    *, actor: User, request: Request, problem: str, note: str = ""
) -> Request:
    """The copy is illegible, incomplete or wrong: it goes back to the library that sent it."""
    if problem not in CopyProblem.values:
        raise ValidationError({"problem": _("Choose what is wrong with the copy.")})
    request = _fresh(request)
    kind = _requester_actor_kind(actor, request, "request.report_problem")
    supply = request.supplies.filter(state=S.DELIVERED).order_by("-position").first()
    _apply(request, machine=REQUESTER, action="report_problem", actor=actor, actor_kind=kind,
           note=note, supply=supply, fields={"problem": problem, "problem_note": note})  # fmt: skip
    if supply is not None:
        _apply(supply, machine=SUPPLIER, action="requester_problem", actor=None,
               actor_kind=SYSTEM, note=note)  # fmt: skip
    return request


# ---- supplier side --------------------------------------------------------------------------


def _check_supplier_staff(actor: User, supply: SupplyRequest, action: str) -> None:
    if not people.permitted(actor, action, supply.supplier):
        raise PermissionDenied(_("Only staff of the library this request was sent to may do this."))


@transaction.atomic
def supply_accept(*, actor: User, supply: SupplyRequest, note: str = "") -> SupplyRequest:
    supply = _fresh(supply)
    _check_supplier_staff(actor, supply, "supply.accept")
    _apply(supply, machine=SUPPLIER, action="accept", actor=actor, actor_kind=STAFF, note=note)
    request = _fresh(supply.request)
    if request.state == R.SENT:
        _apply(request, machine=REQUESTER, action="supplier_accepted", actor=None,
               actor_kind=SYSTEM, supply=supply)  # fmt: skip
    return supply


@transaction.atomic
def supply_refuse(
    *, actor: User, supply: SupplyRequest, reason: str, note: str = ""
) -> SupplyRequest:
    """The supplier cannot supply: the request moves to the next holder or ends unfilled."""
    if reason not in UnfilledReason.values:
        raise ValidationError({"reason": _("Choose why the library cannot supply it.")})
    supply = _fresh(supply)
    _check_supplier_staff(actor, supply, "supply.refuse")
    _apply(supply, machine=SUPPLIER, action="refuse", actor=actor, actor_kind=STAFF, note=note,
           fields={"reason": reason, "note": note})  # fmt: skip
    _send_to_next_supplier(_fresh(supply.request))
    return supply


def supply_deliver(
    *,
    actor: User,
    supply: SupplyRequest,
    upload: UploadedFile | list[UploadedFile],
    note: str = "",
) -> SupplyRequest:
    """The supplier uploads the copy (a PDF, or several files and page scans put together in
    order); it is stamped for the reader, who is told by mail once this commits."""
    from kede.delivery import services as delivery  # delivery builds on requests

    _check_supplier_staff(actor, supply, "supply.deliver")
    uploads = upload if isinstance(upload, list) else [upload]
    checked = delivery.copy_prepare(uploads=uploads, supply=_fresh_readonly(supply))
    stored = delivery.copy_save_file(checked)
    try:
        with transaction.atomic():
            supply = _fresh(supply)
            _check_supplier_staff(actor, supply, "supply.deliver")
            _apply(supply, machine=SUPPLIER, action="deliver", actor=actor, actor_kind=STAFF,
                   note=note)  # fmt: skip
            request = _fresh(supply.request)
            replacing = request.state == R.PROBLEM
            if replacing:
                delivery.copies_retire(request=request, reason="replaced")
            copy = delivery.copy_record(supply=supply, stored=stored, actor=actor)
            _apply(request, machine=REQUESTER,
                   action="copy_replaced" if replacing else "copy_delivered",
                   actor=None, actor_kind=SYSTEM, supply=supply)  # fmt: skip
            delivery.copy_notify_reader(copy=copy)
    except BaseException:
        delivery.copy_discard_file(stored)
        raise
    return supply


__all__ = [
    "Citation",
    "TransitionConflict",
    "TransitionNotAllowed",
    "request_cancel",
    "request_copy_received",
    "request_submit",
    "supply_accept",
    "supply_deliver",
    "supply_refuse",
]


# ---- peers ----------------------------------------------------------------------------------


def peer_register(*, agency: str, url: str, version: str = "1.2", name: str = "") -> Peer:
    """Register (or update) another ILL system by its agency id, e.g. ISIL:CN-100871-L."""
    from django.core.validators import URLValidator

    from kede.consortium.services import parse_agency
    from kede.ill.models import PeerVersion

    parsed = parse_agency(agency)
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError(
            _("“%(url)s” is not an http(s) address of an ISO 18626 endpoint.") % {"url": url}
        ) from None
    if version not in PeerVersion.values:
        raise ValidationError(
            _("Unknown ISO 18626 version “%(version)s”; choose one of: %(choices)s.")
            % {"version": version, "choices": ", ".join(PeerVersion.values)}
        )
    peer, _created = Peer.objects.update_or_create(
        agency_type=parsed.type,
        agency_value=parsed.value,
        defaults={"url": url, "version": version, "name": name, "is_active": True},
    )
    return peer
