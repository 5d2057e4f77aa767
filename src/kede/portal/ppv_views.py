"""Reader pages for pay-per-view: look an article up (or take a request's citation), see the
price and who pays what, confirm, download at once; "My purchases". And the centre's page for
loading a vendor's price list."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from kede.delivery import ppv, ppv_services
from kede.delivery.ppv_models import PpvPurchase, PpvStatus, VendorOffer
from kede.ill import selectors as ill
from kede.ill.models import Request

PAGE_SIZE = 20
JOURNAL_LIMIT = 50


class FindForm(forms.Form):
    doi = forms.CharField(label=gettext_lazy("DOI"), max_length=200, required=False)
    title = forms.CharField(label=gettext_lazy("Article title"), max_length=1000, required=False)
    issn = forms.CharField(label=gettext_lazy("ISSN"), max_length=20, required=False)
    volume = forms.CharField(label=gettext_lazy("Volume"), max_length=50, required=False)
    pages = forms.CharField(label=gettext_lazy("Pages"), max_length=50, required=False)
    year = forms.CharField(label=gettext_lazy("Year"), max_length=4, required=False)

    def citation(self) -> ppv.ArticleCitation:
        data = self.cleaned_data
        return ppv.ArticleCitation(
            title=data["title"],
            year=data["year"],
            volume=data["volume"],
            pages=data["pages"],
            issn=data["issn"],
            doi=data["doi"],
        )

    def is_empty(self) -> bool:
        return not any(self.cleaned_data.values())


class VendorLoadForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Vendor code"), max_length=32)
    name = forms.CharField(label=gettext_lazy("Vendor name"), max_length=200)
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, initial="CNY")
    prices = forms.FileField(
        label=gettext_lazy("Price list (CSV)"),
        help_text=gettext_lazy(
            "Columns: title, price, file (required); doi, issn, journal, author, year, volume, "
            "issue, pages, currency."
        ),
    )
    files = forms.FileField(label=gettext_lazy("The PDFs (one ZIP archive)"))


def _not_reader(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/ppv_not_reader.html", status=403)


def _said(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@login_required
@require_GET
def ppv_find(request: HttpRequest) -> HttpResponse:
    """Look an article up by DOI, by journal, volume and page, or by title and year."""
    if not ppv_services.ppv_may_buy(request.user):
        return _not_reader(request)
    form = FindForm(request.GET or None)
    return _render_find(request, form)


def _render_find(
    request: HttpRequest, form: FindForm, *, ill_request: Request | None = None
) -> HttpResponse:
    shown, journal, looked = None, [], False
    if form.is_bound and form.is_valid() and not form.is_empty():
        looked = True
        citation = form.citation()
        shown = ppv_services.ppv_quote(actor=request.user, citation=citation)
        if shown is None and citation.issn:
            journal = [
                ppv_services.ppv_offer_shown(actor=request.user, offer_id=offer.id)
                for offer in ppv_services.ppv_offers_of_journal(citation.issn)[:JOURNAL_LIMIT]
            ]
    return render(
        request,
        "portal/ppv_find.html",
        {
            "form": form,
            "shown": shown,
            "journal": journal,
            "looked": looked,
            "ill_request": ill_request,
        },
    )


@login_required
@require_GET
def ppv_for_request(request: HttpRequest, request_id: int) -> HttpResponse:
    """Whether the article of one of the reader's requests can be bought now, and for how much."""
    if not ppv_services.ppv_may_buy(request.user):
        return _not_reader(request)
    try:
        ill_request = ill.access_request_as_reader(request.user, request_id)
    except Request.DoesNotExist:
        raise Http404 from None
    citation = ppv_services.citation_of_request(ill_request)
    form = FindForm(
        {
            "doi": citation.doi,
            "title": citation.title,
            "issn": citation.issn,
            "volume": citation.volume,
            "pages": citation.pages,
            "year": citation.year,
        }
    )
    return _render_find(request, form, ill_request=ill_request)


@login_required
@require_http_methods(["GET", "POST"])
def ppv_confirm(request: HttpRequest, offer_id: int) -> HttpResponse:
    """The price, what the library pays and what the reader pays; confirming buys it."""
    if not ppv_services.ppv_may_buy(request.user):
        return _not_reader(request)
    if request.method == "POST":
        return _buy(request, offer_id)
    try:
        shown = ppv_services.ppv_offer_shown(actor=request.user, offer_id=offer_id)
    except VendorOffer.DoesNotExist:
        raise Http404 from None
    return render(request, "portal/ppv_confirm.html", {"shown": shown})


def _buy(request: HttpRequest, offer_id: int) -> HttpResponse:
    try:
        result = ppv_services.ppv_purchase(
            actor=request.user, token=request.POST.get("quote", "")[:2000]
        )
    except ValidationError as exc:
        messages.error(request, _said(exc))
        if exc.code == "withdrawn":
            return redirect("portal:ppv-find")
        return redirect("portal:ppv-confirm", offer_id=offer_id)
    purchase = result.purchase
    if not result.new and purchase.status == PpvStatus.DELIVERED:
        messages.info(request, _("You have bought this article already; here it is."))
    elif purchase.status == PpvStatus.DELIVERED:
        messages.success(request, _("Bought. Download it now."))
    elif purchase.status == PpvStatus.FAILED:
        messages.error(
            request,
            _("The vendor could not sell the article after all. Nothing was charged."),
        )
    else:
        messages.info(
            request,
            _(
                "Your purchase is recorded; the file will be ready in a few minutes. Nothing is "
                "charged until it is."
            ),
        )
    return redirect("portal:ppv-purchase", purchase_id=purchase.id)


@login_required
@require_GET
def ppv_purchases(request: HttpRequest) -> HttpResponse:
    page = Paginator(ppv_services.purchases_of_reader(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [(p, ppv_services.ppv_link(p) if p.is_available() else None, _amounts(p)) for p in page]
    return render(request, "portal/ppv_purchases.html", {"page": page, "rows": rows})


def _amounts(purchase: PpvPurchase) -> dict[str, str]:
    return {
        "price": ppv_services.money(purchase.price, purchase.currency),
        "library_pays": ppv_services.money(purchase.library_pays, purchase.currency),
        "reader_pays": ppv_services.money(purchase.reader_pays, purchase.currency),
    }


@login_required
@require_GET
def ppv_purchase(request: HttpRequest, purchase_id: int) -> HttpResponse:
    try:
        purchase = ppv_services.purchase_for_reader(request.user, purchase_id)
    except PpvPurchase.DoesNotExist:
        raise Http404 from None
    return render(
        request,
        "portal/ppv_purchase.html",
        {
            "purchase": purchase,
            "amounts": _amounts(purchase),
            "link": ppv_services.ppv_link(purchase) if purchase.is_available() else None,
            "refusal": ""
            if purchase.status != PpvStatus.FAILED
            else ppv_services.purchase_refusal_message(purchase.failure),
        },
    )


@login_required
@require_GET
def ppv_download(request: HttpRequest, purchase_id: int, token: str) -> HttpResponse:
    try:
        purchase = ppv_services.ppv_download(
            actor=request.user,
            purchase_id=purchase_id,
            token=token,
            ip=request.META.get("REMOTE_ADDR"),
        )
    except ppv_services.PpvDownloadRefused as exc:
        return render(
            request,
            "portal/ppv_download_refused.html",
            {"message": ppv_services.download_refusal_message(exc.code)},
            status=410 if exc.code in {"deleted", "expired", "used_up"} else 403,
        )
    try:
        handle = purchase.file.open("rb")
    except (OSError, ValueError):
        return render(
            request,
            "portal/ppv_download_refused.html",
            {"message": _("The file could not be read from storage; try again later.")},
            status=503,
        )
    response = FileResponse(
        handle, as_attachment=True, filename=f"{purchase.number}.pdf",
        content_type="application/pdf",
    )  # fmt: skip
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def ppv_manage(request: HttpRequest) -> HttpResponse:
    """The centre puts a vendor's price list and PDFs on sale and sees what was refused."""
    if not ppv_services.ppv_may_manage(request.user):
        raise PermissionDenied(_("This page is for the consortium centre."))
    form = VendorLoadForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            report = ppv_services.ppv_vendor_load(
                actor=request.user,
                code=data["code"],
                name=data["name"],
                currency=data["currency"],
                prices=data["prices"].read(ppv_services.MAX_PRICE_LIST_BYTES + 1),
                files=ppv_services.pdfs_in_zip(data["files"].read()),
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field_name, errors in exc.message_dict.items():
                    form.add_error(field_name if field_name in form.fields else None, errors)
            else:
                form.add_error(None, exc)
        else:
            if report.applied:
                messages.success(
                    request,
                    _("%(n)s articles on sale, %(w)s withdrawn, %(r)s rows refused.")
                    % {"n": report.loaded, "w": report.withdrawn, "r": report.rejected},
                )
            else:
                messages.error(request, _("No row could be loaded; nothing was changed."))
    return render(
        request,
        "portal/ppv_manage.html",
        {"form": form, "report": report, "vendors": ppv_services.vendors_overview()},
    )
