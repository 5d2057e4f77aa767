"""The steps of a request after the first answer, on both sides: loans going out and coming
back, conditions, cancellations, renewals, messages between the two libraries.

One POST address per side takes the step's name; each step is a service call, so the state
tables decide what is possible and the page only offers what the table allows.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_
from django.views.decorators.http import require_POST

from kede.core.statemachine import TransitionError
from kede.ill import selectors as ill
from kede.ill import services
from kede.ill.models import Request, SupplyRequest

_DEFAULT_LOAN_DAYS = 28


def _date(request: HttpRequest, name: str, default_days: int | None = None) -> datetime.date:
    raw = request.POST.get(name, "").strip()
    if not raw and default_days is not None:
        return timezone.localdate() + datetime.timedelta(days=default_days)
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({name: _("Give a date as YYYY-MM-DD.")}) from None


def _cost(request: HttpRequest) -> Decimal | None:
    raw = request.POST.get("cost", "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise ValidationError(
            {"cost": _("Write the cost as a number, e.g. 30 or 12.50.")}
        ) from None


def _note(request: HttpRequest) -> str:
    return request.POST.get("note", "").strip()[:2000]


def _yes(request: HttpRequest) -> bool:
    return request.POST.get("answer") == "yes"


# Supplier steps: name → (service call, message shown when done).
_SUPPLIER_STEPS: dict[str, tuple[Callable[..., object], str]] = {
    "ship": (
        lambda r, u, s: services.supply_ship(
            actor=u, supply=s, due_date=_date(r, "due_date", _DEFAULT_LOAN_DAYS), note=_note(r)
        ),
        N_("Shipped; the requesting library has been told."),
    ),
    "offer_conditions": (
        lambda r, u, s: services.supply_offer_conditions(
            actor=u,
            supply=s,
            conditions=_note(r),
            cost=_cost(r),
            currency=r.POST.get("currency", "CNY")[:3].upper() or "CNY",
        ),
        N_("Conditions sent; the request waits for the requester's answer."),
    ),
    "answer_cancel": (
        lambda r, u, s: services.supply_answer_cancel(
            actor=u, supply=s, accept=_yes(r), note=_note(r)
        ),
        N_("Answer to the cancellation sent."),
    ),
    "mark_overdue": (
        lambda r, u, s: services.supply_mark_overdue(actor=u, supply=s),
        N_("Marked overdue; the borrowing library has been told."),
    ),
    "recall": (
        lambda r, u, s: services.supply_recall(actor=u, supply=s, note=_note(r)),
        N_("Recalled; the borrowing library has been told."),
    ),
    "answer_renew": (
        lambda r, u, s: services.supply_answer_renew(
            actor=u,
            supply=s,
            grant=_yes(r),
            due_date=_date(r, "due_date", _DEFAULT_LOAN_DAYS) if _yes(r) else None,
            note=_note(r),
        ),
        N_("Answer to the renewal sent."),
    ),
    "check_in": (
        lambda r, u, s: services.supply_check_in(actor=u, supply=s, note=_note(r)),
        N_("Checked in: the loan is complete."),
    ),
    "close_lost": (
        lambda r, u, s: services.supply_close_lost(actor=u, supply=s, note=_note(r)),
        N_("Closed without return."),
    ),
    "notify": (
        lambda r, u, s: services.supply_notify(actor=u, supply=s, note=_note(r)),
        N_("Message sent to the requesting library."),
    ),
}

# Borrowing-library (and reader) steps.
_REQUESTER_STEPS: dict[str, tuple[Callable[..., object], str]] = {
    "answer_conditions": (
        lambda r, u, q: services.request_answer_conditions(
            actor=u, request=q, accept=_yes(r), note=_note(r)
        ),
        N_("Answer to the conditions sent."),
    ),
    "item_received": (
        lambda r, u, q: services.request_item_received(actor=u, request=q, note=_note(r)),
        N_("Received; the reader can collect it."),
    ),
    "check_out": (
        lambda r, u, q: services.request_check_out(actor=u, request=q, note=_note(r)),
        N_("Checked out to the reader."),
    ),
    "ask_renew": (
        lambda r, u, q: services.request_ask_renew(actor=u, request=q, note=_note(r)),
        N_("Renewal asked; the lending library will answer."),
    ),
    "returned_by_reader": (
        lambda r, u, q: services.request_returned_by_reader(actor=u, request=q, note=_note(r)),
        N_("Returned by the reader; ship it back to the lender."),
    ),
    "ship_return": (
        lambda r, u, q: services.request_ship_return(actor=u, request=q, note=_note(r)),
        N_("Shipped back; the lending library has been told."),
    ),
    "report_lost": (
        lambda r, u, q: services.request_report_lost(actor=u, request=q, note=_note(r)),
        N_("Reported lost to the lending library."),
    ),
    "notify": (
        lambda r, u, q: services.request_notify(actor=u, request=q, note=_note(r)),
        N_("Message sent to the supplying library."),
    ),
    "ask_status": (
        lambda r, u, q: services.request_ask_status(actor=u, request=q),
        N_("Status asked; the answer will appear in the message log."),
    ),
}

# Steps a reader may take on their own request.
READER_STEPS = frozenset({"answer_conditions", "ask_renew"})


def _run(request: HttpRequest, step: Callable[[], object], done: str) -> None:
    try:
        step()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except (TransitionError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _(done))


@login_required
@require_POST
def supply_step(request: HttpRequest, supply_id: int, step: str) -> HttpResponse:
    try:
        supply = ill.access_supply_request(request.user, supply_id)
    except SupplyRequest.DoesNotExist:
        raise Http404 from None
    if step not in _SUPPLIER_STEPS:
        raise Http404
    call, done = _SUPPLIER_STEPS[step]
    _run(request, lambda: call(request, request.user, supply), done)
    return redirect("portal:staff-supply", supply_id=supply.id)


@login_required
@require_POST
def borrowing_step(request: HttpRequest, request_id: int, step: str) -> HttpResponse:
    try:
        req = ill.access_request_as_staff(request.user, request_id)
    except Request.DoesNotExist:
        raise Http404 from None
    if step not in _REQUESTER_STEPS:
        raise Http404
    call, done = _REQUESTER_STEPS[step]
    _run(request, lambda: call(request, request.user, req), done)
    return redirect("portal:staff-borrowing", request_id=req.id)


@login_required
@require_POST
def reader_step(request: HttpRequest, request_id: int, step: str) -> HttpResponse:
    try:
        req = ill.access_request_as_reader(request.user, request_id)
    except Request.DoesNotExist:
        raise Http404 from None
    if step not in READER_STEPS:
        raise Http404
    call, done = _REQUESTER_STEPS[step]
    _run(request, lambda: call(request, request.user, req), done)
    return redirect("portal:request-detail", request_id=req.id)


@login_required
@require_POST
def shipping_labels(request: HttpRequest) -> HttpResponse:
    """Labels for the selected loans to ship: from, to, request number and due date."""
    from kede.portal.staff_views import _require_staff, _selected_supplies

    _require_staff(request)
    supplies = [s for s in _selected_supplies(request) if s.request.service_type == "loan"]
    return render(request, "staff/labels.html", {"supplies": supplies})


# Steps that need nothing but the click, offered on the selected requests of the workbench.
BULK_SUPPLIER_STEPS = frozenset({"ship", "check_in", "mark_overdue"})


@login_required
@require_POST
def bulk_supply_step(request: HttpRequest, step: str) -> HttpResponse:
    """One step on many requests: those it applies to change, the others are named."""
    from kede.portal.staff_views import _require_staff, _selected_supplies

    _require_staff(request)
    if step not in BULK_SUPPLIER_STEPS:
        raise Http404
    call, _done = _SUPPLIER_STEPS[step]
    done, refused = [], []
    for supply in _selected_supplies(request):
        try:
            call(request, request.user, supply)
        except (TransitionError, PermissionDenied, ValidationError):
            refused.append(supply.request.number)
        else:
            done.append(supply.request.number)
    if done:
        messages.success(request, _("Done: %(numbers)s.") % {"numbers": ", ".join(done)})
    if refused:
        messages.error(
            request,
            _("Not changed (not possible in their state): %(numbers)s.")
            % {"numbers": ", ".join(refused)},
        )
    if not done and not refused:
        messages.error(request, _("Select requests first."))
    return redirect("portal:staff")
