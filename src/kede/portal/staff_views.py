"""Librarian workbench: incoming and outgoing queues, answering requests, approving readers."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kede.accounts import selectors as people
from kede.accounts import services as people_services
from kede.accounts.models import Membership, Role
from kede.core.statemachine import TransitionError
from kede.ill import selectors as ill
from kede.ill import services as ill_services
from kede.ill.models import Request, SupplyRequest
from kede.ill.states import REQUESTER, STAFF, SUPPLIER
from kede.portal.forms import CancelForm, DeliverForm, RefuseForm
from kede.portal.views import cancel_and_report

STAFF_ROLES = (Role.ILL_STAFF, Role.INSTITUTION_ADMIN, Role.REGION_ADMIN, Role.CENTRE_ADMIN)


def _require_staff(request: HttpRequest) -> None:
    if not people.has_any_role(request.user, *STAFF_ROLES):
        raise PermissionDenied(_("This page is for library staff."))


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    state = request.GET.get("state", "open")
    outgoing_queue = request.GET.get("out_queue", "")
    incoming = ill.incoming_in_queue(request.user, state)
    outgoing = ill.outgoing_in_queue(request.user, outgoing_queue)
    return render(
        request,
        "staff/dashboard.html",
        {
            "state": state,
            "incoming": Paginator(incoming, 50).get_page(request.GET.get("in")),
            "outgoing": Paginator(outgoing, 50).get_page(request.GET.get("out")),
            "registrations": people.reader_registrations_to_approve(request.user)[:50],
            "supplier_states": SupplyRequest._meta.get_field("state").choices,
            "incoming_queues": [
                ("to_review", _("To review")),
                ("to_scan", _("To pull from the shelf and scan")),
                ("to_ship", _("To pull from the shelf and ship")),
                ("to_answer", _("Cancellations and renewals to answer")),
                ("on_loan", _("Out on loan, awaiting return")),
                ("overdue", _("Overdue")),
                ("coming_back", _("On their way back")),
            ],
            "outgoing_queue": outgoing_queue,
            "outgoing_queues": [
                ("conditions", _("Conditions to answer")),
                ("to_receive", _("Loans on their way to us")),
                ("on_loan", _("Loans at our library or with readers")),
                ("to_send_back", _("To send back")),
                ("unfilled", _("Could not be supplied")),
            ],
        },
    )


def _supply_or_404(request: HttpRequest, supply_id: int) -> SupplyRequest:
    try:
        return ill.access_supply_request(request.user, supply_id)
    except SupplyRequest.DoesNotExist:
        raise Http404 from None


@login_required
@require_GET
def supply_detail(request: HttpRequest, supply_id: int) -> HttpResponse:
    supply = _supply_or_404(request, supply_id)
    return _render_supply(request, supply)


def _render_supply(
    request: HttpRequest,
    supply: SupplyRequest,
    *,
    refuse_form: RefuseForm | None = None,
    deliver_form: DeliverForm | None = None,
    status: int = 200,
) -> HttpResponse:
    actions = SUPPLIER.actions_from(supply.state, [STAFF])
    today = timezone.localdate()
    return render(
        request,
        "staff/supply_detail.html",
        {
            "supply": supply,
            "req": supply.request,
            "history": ill.supply_history(supply),
            "actions": actions,
            "answer_steps": [
                ("cancel_accept", _("Agree to cancel"), "answer_cancel"),
                ("cancel_refuse", _("Refuse to cancel: it goes ahead"), "answer_cancel"),
                ("renew_grant", _("Renew"), "answer_renew"),
                ("renew_refuse", _("Refuse the renewal"), "answer_renew"),
            ],
            "loan_steps": [
                ("mark_overdue", _("Mark overdue")),
                ("recall", _("Recall")),
                ("check_in", _("Checked in: back on the shelf")),
                ("close_lost", _("Close as lost")),
            ],
            "default_due": today + datetime.timedelta(days=28),
            "renew_due": (supply.due_date or today) + datetime.timedelta(days=28),
            "message_log": ill.message_log(supply=supply),
            "refuse_form": refuse_form or RefuseForm(prefix="refuse"),
            "deliver_form": deliver_form or DeliverForm(prefix="deliver"),
        },
        status=status,
    )


@login_required
@require_POST
def supply_accept(request: HttpRequest, supply_id: int) -> HttpResponse:
    supply = _supply_or_404(request, supply_id)
    try:
        ill_services.supply_accept(actor=request.user, supply=supply)
    except (TransitionError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, _("You will supply request %(number)s.") % {"number": supply.request.number}
        )
    return redirect("portal:staff-supply", supply_id=supply.id)


@login_required
@require_POST
def supply_refuse(request: HttpRequest, supply_id: int) -> HttpResponse:
    supply = _supply_or_404(request, supply_id)
    form = RefuseForm(request.POST, prefix="refuse")
    if not form.is_valid():
        return _render_supply(request, supply, refuse_form=form, status=400)
    try:
        ill_services.supply_refuse(actor=request.user, supply=supply, **form.cleaned_data)
    except (TransitionError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        supply.request.refresh_from_db(fields=["state"])
        if supply.request.state == "unfilled":
            outcome = _(
                "Answered: cannot supply. No other library can supply it; the reader has been told."
            )
        else:
            outcome = _(
                "Answered: cannot supply. The request goes to the next library that holds it."
            )
        messages.success(request, outcome)
    return redirect("portal:staff-supply", supply_id=supply.id)


@login_required
@require_POST
def supply_deliver(request: HttpRequest, supply_id: int) -> HttpResponse:
    supply = _supply_or_404(request, supply_id)
    form = DeliverForm(request.POST, request.FILES, prefix="deliver")
    if not form.is_valid():
        return _render_supply(request, supply, deliver_form=form, status=400)
    try:
        ill_services.supply_deliver(
            actor=request.user, supply=supply, upload=form.cleaned_data["file"],
            note=form.cleaned_data["note"],
        )  # fmt: skip
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _render_supply(request, supply, deliver_form=form, status=400)
    except (TransitionError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Copy delivered; the reader has been told."))
    return redirect("portal:staff-supply", supply_id=supply.id)


@login_required
@require_GET
def borrowing_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        req = ill.access_request_as_staff(request.user, request_id)
    except Request.DoesNotExist:
        raise Http404 from None
    actions = REQUESTER.actions_from(req.state, [STAFF])
    supplies = list(req.supplies.select_related("supplier").order_by("position"))
    return render(
        request,
        "staff/borrowing_detail.html",
        {
            "req": req,
            "history": ill.request_history(req),
            "supplies": supplies,
            "current": supplies[-1] if supplies else None,
            "actions": actions,
            "loan_steps": [
                ("item_received", _("Received from the lender")),
                ("check_out", _("Checked out to the reader")),
                ("returned_by_reader", _("Returned by the reader")),
                ("ship_return", _("Shipped back to the lender")),
                ("report_lost", _("Report lost")),
            ],
            "message_log": ill.message_log(request=req),
            "can_cancel": "cancel" in actions or "ask_cancel" in actions,
            "cancel_form": CancelForm(),
        },
    )


@login_required
@require_POST
def borrowing_cancel(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        req = ill.access_request_as_staff(request.user, request_id)
    except Request.DoesNotExist:
        raise Http404 from None
    cancel_and_report(request, req)
    return redirect("portal:staff-borrowing", request_id=req.id)


@login_required
@require_http_methods(["GET"])
def readers(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    page = Paginator(people.readers_visible_to(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "staff/readers.html", {"page": page})


@login_required
@require_POST
def reader_decide(request: HttpRequest, membership_id: int, decision: str) -> HttpResponse:
    try:
        membership = people.access_reader_membership(request.user, membership_id)
    except Membership.DoesNotExist:
        raise Http404 from None
    service = {
        "approve": people_services.reader_approve,
        "reject": people_services.reader_reject,
    }.get(decision)
    if service is None:
        raise Http404
    try:
        service(actor=request.user, membership=membership, note=request.POST.get("note", "")[:500])
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, _("Decision saved for %(name)s.") % {"name": membership.user})
    return redirect("portal:staff-readers")


def _selected_supplies(request: HttpRequest) -> list[SupplyRequest]:
    """The selected requests the caller may act on; others' ids are silently not there."""
    ids = [int(i) for i in request.POST.getlist("ids") if i.isascii() and i.isdigit()][:200]
    return list(ill.supply_requests_for(request.user).filter(id__in=ids))


@login_required
@require_POST
def bulk_accept(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    accepted, refused = [], []
    for supply in _selected_supplies(request):
        try:
            ill_services.supply_accept(actor=request.user, supply=supply)
        except (TransitionError, PermissionDenied):
            refused.append(supply.request.number)
        else:
            accepted.append(supply.request.number)
    if accepted:
        messages.success(
            request, _("You will supply: %(numbers)s.") % {"numbers": ", ".join(accepted)}
        )
    if refused:
        messages.error(
            request,
            _("Not changed (already answered or cancelled): %(numbers)s.")
            % {"numbers": ", ".join(refused)},
        )
    if not accepted and not refused:
        messages.error(request, _("Select requests first."))
    return redirect("portal:staff")


@login_required
@require_POST
def pull_slips(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    supplies = _selected_supplies(request)
    call_numbers = ill.call_numbers_at_suppliers(supplies)
    slips = [{"supply": s, "call_number": call_numbers.get(s.id, "")} for s in supplies]
    return render(request, "staff/slips.html", {"slips": slips})
