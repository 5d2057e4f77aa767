"""Every write to a request. Each state change passes through `_apply`, which checks the table,
updates only if nobody changed the state meanwhile, and writes the event — in one transaction
with whatever the change causes (the next supplier, the copy, the reader's mail).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from kede.accounts import selectors as people
from kede.accounts.models import User
from kede.catalog.models import Work
from kede.consortium.models import Institution
from kede.core.statemachine import StateMachine, TransitionConflict, TransitionNotAllowed
from kede.ill import messaging, routing
from kede.ill.models import (
    CopyProblem,
    Peer,
    Request,
    RequestEvent,
    ServiceType,
    SupplyRequest,
    UnfilledReason,
)
from kede.ill.states import (
    PEER,
    READER,
    REQUESTER,
    STAFF,
    SUPPLIER,
    SUPPLIER_ON_LOAN,
    SUPPLIER_OPEN,
    SYSTEM,
)
from kede.ill.states import RequesterState as R
from kede.ill.states import SupplierState as S

Stateful = Request | SupplyRequest
# Who acts: a person, or the system on the other side of an ISO 18626 conversation.
Actor = User | Peer


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
    actor: Actor | None,
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
        actor=actor if isinstance(actor, User) else None,
        institution=obj.supplier if is_supply else obj.requester,
        note=note,
    )
    obj.state = transition.target
    for name, value in fields.items():
        setattr(obj, name, value)
    messaging.record_transition(obj, action=action, supply=supply, note=note)
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


# ---- who is acting -------------------------------------------------------------------------


def _requester_actor_kind(actor: Actor, request: Request, action: str) -> str:
    """READER, STAFF or PEER for an action on the requester side; anyone else is refused.

    A peer speaks for the requester side only where that side lives on its system."""
    if isinstance(actor, Peer):
        if messaging.peer_for(request.requester) == actor:
            return PEER
    elif request.reader_id == actor.id and people.permitted(actor, action, request.requester):
        return READER
    elif people.permitted(actor, action, request.requester, as_staff=True):
        return STAFF
    raise PermissionDenied(_("You may not act on this request."))


def _supplier_actor_kind(actor: Actor, supply: SupplyRequest, action: str) -> str:
    if isinstance(actor, Peer):
        if messaging.peer_for(supply.supplier) == actor:
            return PEER
    elif people.permitted(actor, action, supply.supplier):
        return STAFF
    raise PermissionDenied(_("Only staff of the library this request was sent to may do this."))


def _current_supply(request: Request) -> SupplyRequest | None:
    return request.supplies.select_related("supplier").order_by("-position").first()


# ---- requester side -------------------------------------------------------------------------


@transaction.atomic
def request_submit(
    *,
    actor: User,
    citation: Citation,
    work: Work | None = None,
    service_type: str = ServiceType.COPY,
    needed_by: datetime.date | None = None,
) -> Request:
    """A reader asks for a copy or a loan; the request is sent at once to the first likely
    supplier."""
    membership = people.reader_membership(actor)
    if membership is None or not people.permitted(actor, "request.create", membership.institution):
        raise PermissionDenied(_("Only an approved reader of a member library can ask for copies."))
    if service_type not in ServiceType.values:
        raise ValidationError({"service_type": _("Choose a copy or a loan.")})
    if not citation.title.strip():
        raise ValidationError({"title": _("Give the title of the article or chapter.")})
    if needed_by is not None and needed_by < timezone.localdate():
        raise ValidationError({"needed_by": _("The date you need it by has already passed.")})
    request = Request.objects.create(
        reader=actor,
        requester=membership.institution,
        service_type=service_type,
        work=work,
        needed_by=needed_by,
        **citation.__dict__,
    )
    _number_and_log(request, actor=actor)
    _send_to_next_supplier(request)
    return request


def _number_and_log(request: Request, *, actor: User | None) -> None:
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


@transaction.atomic
def request_receive_from_peer(
    *,
    peer: Peer,
    requester: Institution,
    supplier: Institution,
    citation: Citation,
    service_type: str,
    remote_id: str,
    needed_by: datetime.date | None = None,
) -> SupplyRequest:
    """A library on another system asks one of ours (ISO 18626 Request): this node keeps a
    copy of the requester's side, moved only by that system's messages, and the supplier's
    side that our library answers."""
    if not citation.title:
        raise ValidationError(_("The request names no title."))
    request = Request.objects.create(
        reader=None,
        requester=requester,
        service_type=service_type,
        remote_id=remote_id[:100],
        needed_by=needed_by,
        **citation.__dict__,
    )
    _number_and_log(request, actor=None)
    supply = SupplyRequest.objects.create(request=request, supplier=supplier, position=1)
    _apply(request, machine=REQUESTER, action="route", actor=peer, actor_kind=SYSTEM,
           supply=supply)  # fmt: skip
    RequestEvent.objects.create(
        request=request,
        supply=supply,
        side="supplier",
        action="receive",
        to_state=supply.state,
        institution=supplier,
    )
    return supply


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
        if request.reader_id:
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
    messaging.record_new_request(supply)


@transaction.atomic
def request_cancel(*, actor: Actor, request: Request, note: str = "") -> Request:
    """Cancel outright while the supplier has not started; once it has, ask it to cancel
    (it answers yes or no)."""
    request = _fresh(request)
    kind = _requester_actor_kind(actor, request, "request.cancel")
    supply = request.supplies.filter(state__in=SUPPLIER_OPEN).select_related("supplier").first()
    if supply is not None and supply.state in (S.WILL_SUPPLY, S.REDO, S.CANCEL_REQUESTED):
        if supply.state != S.CANCEL_REQUESTED:
            _apply(request, machine=REQUESTER, action="ask_cancel", actor=actor,
                   actor_kind=kind, note=note, supply=supply)  # fmt: skip
            _apply(supply, machine=SUPPLIER, action="cancel_asked", actor=None,
                   actor_kind=SYSTEM, note=note)  # fmt: skip
        return request
    _apply(request, machine=REQUESTER, action="cancel", actor=actor, actor_kind=kind, note=note,
           supply=supply)  # fmt: skip
    if supply is not None:
        _apply(supply, machine=SUPPLIER, action="requester_cancel", actor=None,
               actor_kind=SYSTEM, note=note)  # fmt: skip
    return request


def request_copy_received(*, actor: Actor, request: Request) -> bool:
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
                   actor_kind=kind, supply=_current_supply(request))  # fmt: skip
        except TransitionConflict:
            return False
    return True


@transaction.atomic
def request_report_problem(
    *, actor: Actor, request: Request, problem: str, note: str = ""
) -> Request:
    """The copy is illegible, incomplete or wrong: it goes back to the library that sent it."""
    if problem not in CopyProblem.values:
        raise ValidationError({"problem": _("Choose what is wrong with the copy.")})
    request = _fresh(request)
    kind = _requester_actor_kind(actor, request, "request.report_problem")
    supply = request.supplies.filter(state=S.DELIVERED).order_by("-position").first()
    _apply(request, machine=REQUESTER, action="report_problem", actor=actor, actor_kind=kind,
           note=f"{problem}: {note}" if kind == PEER else note, supply=supply,
           fields={"problem": problem, "problem_note": note})  # fmt: skip
    if supply is not None:
        _apply(supply, machine=SUPPLIER, action="requester_problem", actor=None,
               actor_kind=SYSTEM, note=note)  # fmt: skip
    return request


@transaction.atomic
def request_answer_conditions(
    *, actor: Actor, request: Request, accept: bool, note: str = ""
) -> Request:
    """The requester agrees to the supplier's conditions (it goes on supplying) or not (the
    request moves to the next supplier)."""
    request = _fresh(request)
    kind = _requester_actor_kind(actor, request, "request.answer_conditions")
    supply = request.supplies.filter(state=S.CONDITIONAL).select_related("supplier").first()
    action = "accept_conditions" if accept else "reject_conditions"
    _apply(request, machine=REQUESTER, action=action, actor=actor, actor_kind=kind, note=note,
           supply=supply)  # fmt: skip
    if supply is not None:
        _apply(supply, machine=SUPPLIER,
               action="conditions_accepted" if accept else "conditions_rejected",
               actor=None, actor_kind=SYSTEM, note=note)  # fmt: skip
    if not accept:
        _send_to_next_supplier(request)
    return request


def _loan_step(
    *,
    actor: Actor,
    request: Request,
    action: str,
    permission: str,
    supply_action: str | None = None,
    note: str = "",
) -> Request:
    """A step of the requester's side of a loan, and its echo on the supplier's side."""
    request = _fresh(request)
    kind = _requester_actor_kind(actor, request, permission)
    supply = request.supplies.filter(state__in=SUPPLIER_ON_LOAN).select_related("supplier").first()
    _apply(request, machine=REQUESTER, action=action, actor=actor, actor_kind=kind, note=note,
           supply=supply)  # fmt: skip
    if supply is not None and supply_action is not None:
        _apply(supply, machine=SUPPLIER, action=supply_action, actor=None, actor_kind=SYSTEM,
               note=note)  # fmt: skip
    return request


@transaction.atomic
def request_item_received(*, actor: Actor, request: Request, note: str = "") -> Request:
    """The borrowed item has arrived at the reader's library."""
    return _loan_step(actor=actor, request=request, action="item_received",
                      permission="borrowing.manage", note=note)  # fmt: skip


@transaction.atomic
def request_check_out(*, actor: Actor, request: Request, note: str = "") -> Request:
    """The library hands the item to its reader."""
    return _loan_step(actor=actor, request=request, action="check_out",
                      permission="borrowing.manage", note=note)  # fmt: skip


@transaction.atomic
def request_ask_renew(*, actor: Actor, request: Request, note: str = "") -> Request:
    return _loan_step(actor=actor, request=request, action="ask_renew",
                      permission="request.renew", supply_action="renew_asked",
                      note=note)  # fmt: skip


@transaction.atomic
def request_returned_by_reader(*, actor: Actor, request: Request, note: str = "") -> Request:
    return _loan_step(actor=actor, request=request, action="returned_by_reader",
                      permission="borrowing.manage", note=note)  # fmt: skip


@transaction.atomic
def request_ship_return(*, actor: Actor, request: Request, note: str = "") -> Request:
    """The library sends the item back to the lender."""
    return _loan_step(actor=actor, request=request, action="ship_return",
                      permission="borrowing.manage", supply_action="requester_returned",
                      note=note)  # fmt: skip


@transaction.atomic
def request_report_lost(*, actor: Actor, request: Request, note: str = "") -> Request:
    return _loan_step(actor=actor, request=request, action="report_lost",
                      permission="borrowing.manage", supply_action="requester_lost",
                      note=note)  # fmt: skip


@transaction.atomic
def request_notify(*, actor: Actor, request: Request, note: str) -> RequestEvent:
    """A free-text message from the requesting library to the supplier."""
    if not note.strip():
        raise ValidationError({"note": _("Write the message.")})
    request = _fresh(request)
    kind = _requester_actor_kind(actor, request, "borrowing.manage")
    supply = _current_supply(request)
    event = RequestEvent.objects.create(
        request=request, supply=supply, side="requester", action="notify",
        from_state=request.state, to_state=request.state,
        actor=actor if isinstance(actor, User) else None,
        institution=request.requester, note=note,
    )  # fmt: skip
    if kind != PEER and supply is not None:
        messaging.record_requester_message(request, supply=supply, action="notify", note=note)
    return event


@transaction.atomic
def request_ask_status(*, actor: User, request: Request) -> None:
    """Ask the supplier's system where the request stands (ISO 18626 StatusRequest)."""
    request = _fresh(request)
    _requester_actor_kind(actor, request, "borrowing.manage")
    supply = _current_supply(request)
    if supply is None:
        raise ValidationError(_("This request has not been sent to any library yet."))
    messaging.record_requester_message(request, supply=supply, action="status_request")


# ---- supplier side --------------------------------------------------------------------------


def _supplier_step(
    *,
    actor: Actor | None,  # None: a timer
    supply: SupplyRequest,
    action: str,
    permission: str,
    request_action: str | None = None,
    note: str = "",
    fields: dict[str, object] | None = None,
    request_fields: dict[str, object] | None = None,
) -> SupplyRequest:
    """A supplier's answer, and its echo on the requester's side when that side is waiting
    for it."""
    supply = _fresh(supply)
    kind = SYSTEM if actor is None else _supplier_actor_kind(actor, supply, permission)
    _apply(supply, machine=SUPPLIER, action=action, actor=actor, actor_kind=kind, note=note,
           fields=fields)  # fmt: skip
    if request_action is not None:
        request = _fresh(supply.request)
        if REQUESTER.allows(request.state, request_action):
            _apply(request, machine=REQUESTER, action=request_action, actor=None,
                   actor_kind=SYSTEM, supply=supply, fields=request_fields)  # fmt: skip
    return supply


@transaction.atomic
def supply_accept(*, actor: Actor, supply: SupplyRequest, note: str = "") -> SupplyRequest:
    return _supplier_step(actor=actor, supply=supply, action="accept", permission="supply.accept",
                          request_action="supplier_accepted", note=note)  # fmt: skip


@transaction.atomic
def supply_refuse(
    *, actor: Actor, supply: SupplyRequest, reason: str, note: str = ""
) -> SupplyRequest:
    """The supplier cannot supply: the request moves to the next holder or ends unfilled."""
    if reason not in UnfilledReason.values:
        raise ValidationError({"reason": _("Choose why the library cannot supply it.")})
    supply = _supplier_step(actor=actor, supply=supply, action="refuse",
                            permission="supply.refuse", note=note,
                            fields={"reason": reason, "note": note})  # fmt: skip
    request = _fresh(supply.request)
    if request.state not in (R.CANCELLED, R.UNFILLED, R.CANCEL_PENDING):
        _send_to_next_supplier(request)
    elif request.state == R.CANCEL_PENDING:
        _apply(request, machine=REQUESTER, action="cancel_confirmed", actor=None,
               actor_kind=SYSTEM, supply=supply)  # fmt: skip
    return supply


@transaction.atomic
def supply_offer_conditions(
    *,
    actor: Actor,
    supply: SupplyRequest,
    conditions: str,
    cost: Decimal | None = None,
    currency: str = "CNY",
) -> SupplyRequest:
    """Supply only if the requester agrees: to a cost, to use in the library only, …"""
    if not conditions.strip() and cost is None:
        raise ValidationError({"conditions": _("Say what the requester must agree to.")})
    if cost is not None and cost < 0:
        raise ValidationError({"cost": _("A cost cannot be negative.")})
    return _supplier_step(
        actor=actor, supply=supply, action="offer_conditions", permission="supply.accept",
        request_action="conditions_offered", note=conditions,
        fields={"conditions": conditions, "offered_cost": cost,
                "currency": currency if cost is not None else ""},
    )  # fmt: skip


@transaction.atomic
def supply_time_out(*, supply: SupplyRequest) -> bool:
    """The supplier did not answer within its stated response time: move on to the next.

    Returns False when it answered meanwhile, so two timers firing for the same request
    advance it once.
    """
    supply = _fresh(supply)
    if supply.state != S.RECEIVED:
        return False
    _apply(supply, machine=SUPPLIER, action="expire", actor=None, actor_kind=SYSTEM,
           fields={"reason": UnfilledReason.NO_ANSWER})  # fmt: skip
    request = _fresh(supply.request)
    if messaging.peer_for(supply.supplier) is not None:
        # Its system may still answer; tell it the request has gone elsewhere.
        messaging.record_requester_message(
            request, supply=supply, action="cancel", note="No answer in time."
        )
    _send_to_next_supplier(request)
    return True


@transaction.atomic
def supply_answer_cancel(
    *, actor: Actor, supply: SupplyRequest, accept: bool, note: str = ""
) -> SupplyRequest:
    supply = _supplier_step(
        actor=actor, supply=supply, action="cancel_accept" if accept else "cancel_refuse",
        permission="supply.accept",
        request_action="cancel_confirmed" if accept else "cancel_refused", note=note,
    )  # fmt: skip
    return supply


@transaction.atomic
def supply_ship(
    *, actor: Actor, supply: SupplyRequest, due_date: datetime.date, note: str = ""
) -> SupplyRequest:
    """The lender sends the item; it is due back on `due_date`."""
    if supply.request.service_type != ServiceType.LOAN:
        raise ValidationError(_("Only a loan is shipped; upload the copy instead."))
    if due_date <= timezone.localdate() and not isinstance(actor, Peer):
        raise ValidationError({"due_date": _("The due date must be in the future.")})
    return _supplier_step(actor=actor, supply=supply, action="ship", permission="supply.deliver",
                          request_action="item_shipped", note=note,
                          fields={"due_date": due_date})  # fmt: skip


@transaction.atomic
def supply_mark_overdue(*, actor: Actor | None, supply: SupplyRequest) -> SupplyRequest:
    return _supplier_step(actor=actor, supply=supply, action="mark_overdue",
                          permission="supply.deliver", request_action="overdue")  # fmt: skip


@transaction.atomic
def supply_recall(*, actor: Actor, supply: SupplyRequest, note: str = "") -> SupplyRequest:
    return _supplier_step(actor=actor, supply=supply, action="recall",
                          permission="supply.deliver", request_action="recalled",
                          note=note)  # fmt: skip


@transaction.atomic
def supply_answer_renew(
    *,
    actor: Actor,
    supply: SupplyRequest,
    grant: bool,
    due_date: datetime.date | None = None,
    note: str = "",
) -> SupplyRequest:
    if grant and due_date is None:
        raise ValidationError({"due_date": _("Give the new due date.")})
    return _supplier_step(
        actor=actor, supply=supply, action="renew_grant" if grant else "renew_refuse",
        permission="supply.deliver",
        request_action="renew_granted" if grant else "renew_refused", note=note,
        fields={"due_date": due_date} if grant else None,
    )  # fmt: skip


@transaction.atomic
def supply_check_in(*, actor: Actor, supply: SupplyRequest, note: str = "") -> SupplyRequest:
    """The item is back on the lender's shelf: the loan is complete on both sides."""
    return _supplier_step(actor=actor, supply=supply, action="check_in",
                          permission="supply.deliver", request_action="loan_completed",
                          note=note)  # fmt: skip


@transaction.atomic
def supply_close_lost(*, actor: Actor, supply: SupplyRequest, note: str = "") -> SupplyRequest:
    """The lender closes a loan the borrower lost (completed without return)."""
    return _supplier_step(actor=actor, supply=supply, action="close_lost",
                          permission="supply.deliver", request_action="loan_completed",
                          note=note)  # fmt: skip


@transaction.atomic
def supply_notify(*, actor: Actor, supply: SupplyRequest, note: str) -> RequestEvent:
    """A free-text message from the supplying library to the requester."""
    if not note.strip():
        raise ValidationError({"note": _("Write the message.")})
    supply = _fresh(supply)
    kind = _supplier_actor_kind(actor, supply, "supply.accept")
    event = RequestEvent.objects.create(
        request=supply.request, supply=supply, side="supplier", action="notify",
        from_state=supply.state, to_state=supply.state,
        actor=actor if isinstance(actor, User) else None,
        institution=supply.supplier, note=note,
    )  # fmt: skip
    if kind != PEER:
        messaging.record_supplier_message(supply, action="notify", note=note)
    return event


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

    _supplier_actor_kind(actor, supply, "supply.deliver")
    if supply.request.service_type != ServiceType.COPY:
        raise ValidationError(_("A loan is shipped, not uploaded."))
    uploads = upload if isinstance(upload, list) else [upload]
    checked = delivery.copy_prepare(uploads=uploads, supply=_fresh_readonly(supply))
    stored = delivery.copy_save_file(checked)
    try:
        with transaction.atomic():
            supply = _fresh(supply)
            _supplier_actor_kind(actor, supply, "supply.deliver")
            _apply(supply, machine=SUPPLIER, action="deliver", actor=actor, actor_kind=STAFF,
                   note=note)  # fmt: skip
            copy = delivery.copy_record(supply=supply, stored=stored, actor=actor)
            _copy_reaches_requester(supply, copy)
    except BaseException:
        delivery.copy_discard_file(stored)
        raise
    return supply


def _copy_reaches_requester(supply: SupplyRequest, copy) -> None:
    """The copy is stored for the request: the reader may download it (and is told)."""
    from kede.delivery import services as delivery

    request = _fresh(supply.request)
    replacing = request.state == R.PROBLEM
    if replacing:
        delivery.copies_retire(request=request, reason="replaced", keep=copy)
    _apply(request, machine=REQUESTER,
           action="copy_replaced" if replacing else "copy_delivered",
           actor=None, actor_kind=SYSTEM, supply=supply)  # fmt: skip
    if request.reader_id:
        delivery.copy_notify_reader(copy=copy)


@transaction.atomic
def supply_delivered_elsewhere(*, actor: Peer, supply: SupplyRequest, url: str) -> SupplyRequest:
    """The supplier's system says the copy is ready at `url`: fetch it (in the background),
    then deliver it to the reader as if uploaded here."""
    from kede.ill.tasks import fetch_remote_copy

    supply = _supplier_step(actor=actor, supply=supply, action="deliver",
                            permission="supply.deliver",
                            fields={"delivery_url": url})  # fmt: skip
    transaction.on_commit(lambda: fetch_remote_copy.enqueue(supply_id=supply.id))
    return supply


def supply_store_fetched_copy(*, supply: SupplyRequest, name: str, data: bytes) -> bool:
    """Stamp and store a copy fetched from the supplier's system; False if no longer wanted."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from kede.delivery import services as delivery

    upload = SimpleUploadedFile(name, data, content_type="application/pdf")
    checked = delivery.copy_prepare(uploads=[upload], supply=_fresh_readonly(supply))
    stored = delivery.copy_save_file(checked)
    try:
        with transaction.atomic():
            supply = _fresh(supply)
            request = _fresh(supply.request)
            if supply.state != S.DELIVERED or request.state not in (
                R.SENT,
                R.IN_PROCESS,
                R.CANCEL_PENDING,
                R.PROBLEM,
            ):
                delivery.copy_discard_file(stored)
                return False
            copy = delivery.copy_record(supply=supply, stored=stored, actor=None)
            _copy_reaches_requester(supply, copy)
    except BaseException:
        delivery.copy_discard_file(stored)
        raise
    return True


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
