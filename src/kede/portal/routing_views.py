"""Routing pages: a request's rota with every candidate's score and reasons, which the
requesting library's staff may edit (and the centre override), and the centre's policies."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from kede.ill.models import Request, ServiceType
from kede.routing import selectors as routing
from kede.routing import services as routing_services
from kede.routing.messages import CRITERIA, KINDS
from kede.routing.policy import CRITERIA as CRITERION_NAMES


def _request_or_404(request: HttpRequest, request_id: int) -> Request:
    try:
        return routing.access_request_for_rota(request.user, request_id)
    except Request.DoesNotExist:
        raise Http404 from None


def _edited_order(post, current: list[int], fixed: set[int]) -> list[int]:
    """The rota as the form asks for it: rows sorted by their order numbers, removed ones
    left out, the added one at the end. Suppliers already asked keep their place."""
    rows = []
    for n, inst_id in enumerate(current):
        raw = post.get(f"order_{inst_id}", "")
        try:
            order = float(raw)
        except ValueError:
            order = float(n + 1)
        if inst_id in fixed or not post.get(f"remove_{inst_id}"):
            rows.append((0 if inst_id in fixed else 1, order, n, inst_id))
    wanted = [inst_id for *_key, inst_id in sorted(rows)]
    added = post.get("add", "")
    if added.isdigit() and int(added) not in wanted:
        wanted.append(int(added))
    return wanted


@login_required
@require_http_methods(["GET", "POST"])
def rota(request: HttpRequest, request_id: int) -> HttpResponse:
    req = _request_or_404(request, request_id)
    plan = routing_services.rota_plan_for(req)
    may_edit = routing.may_edit_rota(request.user, req) and req.state in routing_services.EDITABLE
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied(_("Only the requesting library's staff may change this rota."))
        tried = set(req.supplies.values_list("supplier_id", flat=True))
        wanted = _edited_order(request.POST, [int(i) for i in plan.suppliers], tried)
        try:
            version = int(request.POST.get("version", ""))
        except ValueError:
            version = -1
        try:
            routing_services.rota_edit(
                actor=request.user, request=req, suppliers=wanted, expected_version=version
            )
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        else:
            messages.success(request, _("Rota saved."))
        return redirect("portal:routing-rota", request_id=req.id)
    view = routing.plan_view(req, plan)
    return render(
        request,
        "portal/routing_rota.html",
        {
            "req": req,
            "view": view,
            "kinds": KINDS,
            "may_edit": may_edit,
            "is_centre": routing.is_centre(request.user),
            "addable": routing.addable_institutions(req, plan) if may_edit else [],
        },
    )


class PolicyForm(forms.Form):
    config = forms.CharField(
        label=gettext_lazy("Policy (JSON)"),
        widget=forms.Textarea(attrs={"rows": 18, "cols": 80, "spellcheck": "false"}),
    )
    note = forms.CharField(label=gettext_lazy("Why it changes"), max_length=500, required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


@login_required
@require_http_methods(["GET", "POST"])
def policy(request: HttpRequest) -> HttpResponse:
    """The centre's ranking policy per service type: edit the weighted criteria; a policy
    with bad weights or unknown criteria is refused with the reason."""
    if not routing.is_centre(request.user):
        raise PermissionDenied(_("This page is for the consortium centre."))
    service = request.GET.get("service", ServiceType.COPY)
    if service not in ServiceType.values:
        raise Http404
    row, active = routing.active_policy(service)
    current_version = row.version if row else 0
    if request.method == "POST":
        form = PolicyForm(request.POST)
        if form.is_valid():
            try:
                routing_services.policy_save(
                    actor=request.user,
                    service_type=service,
                    config=form.cleaned_data["config"],
                    note=form.cleaned_data["note"],
                    expected_version=form.cleaned_data["version"] or 0,
                )
            except ValidationError as exc:
                form.add_error("config", exc)
            else:
                messages.success(request, _("Policy saved: it applies to new requests."))
                return redirect(f"{request.path}?service={service}")
        status = 400
    else:
        form = PolicyForm(
            initial={
                "config": json.dumps(active.to_config(), indent=2, ensure_ascii=False),
                "version": current_version,
            }
        )
        status = 200
    return render(
        request,
        "portal/routing_policy.html",
        {
            "form": form,
            "service": service,
            "services": ServiceType.choices,
            "active": row,
            "criteria": [(name, CRITERIA.get(name, name)) for name in CRITERION_NAMES],
            "history": routing.policy_history(service),
        },
        status=status,
    )
