"""Reader pages: search, a title and its holders, the request form, my requests, downloads."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kede.accounts import selectors as people
from kede.catalog import selectors as catalog
from kede.catalog.models import Work
from kede.core.statemachine import TransitionError
from kede.delivery import services as delivery
from kede.ill import selectors as ill
from kede.ill import services as ill_services
from kede.ill.models import Request
from kede.ill.states import READER, REQUESTER
from kede.portal.forms import CancelForm, CitationForm, ProblemForm, ServiceForm

PAGE_SIZE = 20
_ASCII_ID = re.compile(r"[0-9]{1,18}")


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    recent = ill.requests_of_reader(request.user)[:5] if request.user.is_authenticated else []
    return render(request, "portal/home.html", {"recent": recent})


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """Ranked search at the reader's level of choice: their own library, their region, or the
    whole consortium (with how many each level finds), narrowed by format and language."""
    query = request.GET.get("q", "").strip()[:300]
    kind = "articles" if request.GET.get("kind") == "articles" else "catalogue"
    if not query:
        return render(request, "portal/search.html", {"query": query, "kind": kind})
    if kind == "articles":
        return _search_articles(request, query)
    levels = catalog.search_levels(request.user)
    level = request.GET.get("level", "all")
    scope = dict(levels).get(level, {})
    formats = tuple(request.GET.getlist("format"))[:5]
    languages = tuple(request.GET.getlist("language"))[:5]
    number = request.GET.get("page", "1")
    page = catalog.works_search(
        query,
        page=int(number) if number.isascii() and number.isdigit() else 1,
        per_page=PAGE_SIZE,
        formats=formats,
        languages=languages,
        facets=("format", "language"),
        **scope,
    )
    counts = [
        (name, label, catalog.works_count(query, **filters))
        for (name, filters), label in zip(levels, _level_labels(levels), strict=True)
    ]
    return render(
        request,
        "portal/search.html",
        {"query": query, "page": page, "level": level, "levels": counts,
         "formats": formats, "languages": languages},
    )  # fmt: skip


def article_request_query(article) -> str:
    """The request form's address parameters for an article: its citation, and its journal's
    work when the catalogue has it (so the request is routed to the journal's holders)."""
    params = {
        "title": article.title[:1000],
        "author": "; ".join(article.authors)[:500],
        "container_title": article.journal_title[:1000],
        "volume": article.volume,
        "issue": article.issue,
        "pages": article.pages,
        "year": article.year or "",
        "issn": article.issn_print or article.issn_electronic,
        "doi": article.doi,
    }
    if article.journal_id:
        params["work"] = article.journal_id
    return urlencode({k: v for k, v in params.items() if v})


def _search_articles(request: HttpRequest, query: str) -> HttpResponse:
    """Journal articles, each with the libraries whose run of its journal includes it and a
    link that opens the request form filled with its citation."""
    number = request.GET.get("page", "1")
    page = catalog.articles_search(
        query, page=int(number) if number.isascii() and number.isdigit() else 1, per_page=PAGE_SIZE
    )
    for hit in page.hits:
        hit.request_query = article_request_query(hit.article)
    start = (page.number - 1) * page.per_page + 1
    return render(
        request,
        "portal/search_articles.html",
        {"query": query, "page": page, "kind": "articles", "start": start},
    )


def _level_labels(levels: list[tuple[str, dict]]) -> list[str]:
    names = {
        "library": _("My library"),
        "region": _("My region"),
        "all": _("All member libraries"),
    }
    return [names[name] for name, _filters in levels]


@require_GET
def work_detail(request: HttpRequest, work_id: int) -> HttpResponse:
    try:
        work = catalog.work_get(work_id)
    except Work.DoesNotExist:
        raise Http404 from None
    return render(
        request,
        "portal/work.html",
        {"work": work, "holdings": catalog.work_holdings(work)},
    )


def _initial_citation(work: Work | None) -> dict:
    if work is None:
        return {}
    if work.format == "serial":
        return {"container_title": work.title, "issn": work.issn}
    return {"container_title": work.title, "isbn": work.isbn, "author": work.author,
            "year": work.year}  # fmt: skip


def _earlier_like(user, citation: dict) -> list[Request]:
    return ill.earlier_requests_like(
        user,
        doi=citation["doi"],
        issn=citation["issn"],
        volume=citation["volume"],
        pages=citation["pages"],
        title=citation["title"],
    )


@login_required
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest) -> HttpResponse:
    membership = people.reader_membership(request.user)
    if membership is None:
        return render(request, "portal/not_reader.html", status=403)
    work_id = request.GET.get("work") or request.POST.get("work") or ""
    work = catalog.works_by_ids([int(work_id)]).first() if _ASCII_ID.fullmatch(work_id) else None
    given = {k: v[:1000] for k, v in request.GET.items() if k in CitationForm.base_fields}
    form = CitationForm(request.POST or None, initial=_initial_citation(work) | given)
    service_form = ServiceForm(request.POST or None)
    duplicates: list[Request] = []
    if request.method == "POST" and form.is_valid() and service_form.is_valid():
        if not request.POST.get("confirm_duplicate"):
            duplicates = _earlier_like(request.user, form.cleaned_data)
        if not duplicates:
            try:
                created = ill_services.request_submit(
                    actor=request.user,
                    citation=ill_services.Citation(**form.cleaned_data),
                    work=work,
                    service_type=service_form.cleaned_data["service_type"],
                    needed_by=service_form.cleaned_data["needed_by"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request, _("Request %(number)s sent.") % {"number": created.number}
                )
                return redirect("portal:request-detail", request_id=created.id)
    return render(
        request,
        "portal/request_form.html",
        {
            "form": form,
            "service_form": service_form,
            "work": work,
            "membership": membership,
            "duplicates": duplicates,
        },
    )


@login_required
@require_GET
def my_requests(request: HttpRequest) -> HttpResponse:
    page = Paginator(ill.requests_of_reader(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "portal/my_requests.html", {"page": page})


@login_required
@require_GET
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        ill_request = ill.access_request_as_reader(request.user, request_id)
    except Request.DoesNotExist:
        raise Http404 from None
    copies = [(c, delivery.copy_link(c)) for c in ill_request.copies.order_by("-uploaded_at")]
    reader_actions = REQUESTER.actions_from(ill_request.state, [READER])
    return render(
        request,
        "portal/request_detail.html",
        {
            "req": ill_request,
            "current": ill_request.supplies.select_related("supplier")
            .order_by("-position")
            .first(),
            "reader_actions": reader_actions,
            "history": ill.request_history(ill_request).filter(side="requester"),
            "copies": copies,
            "refusals": ill.refusals(ill_request),
            "can_cancel": "cancel" in reader_actions or "ask_cancel" in reader_actions,
            "cancel_form": CancelForm(),
            "can_report": "report_problem" in REQUESTER.actions_from(ill_request.state, [READER])
            and any(c.is_available() for c, _link in copies),
            "problem_form": ProblemForm(),
        },
    )


@login_required
@require_POST
def request_report_problem(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        ill_request = ill.access_request_as_reader(request.user, request_id)
    except Request.DoesNotExist:
        raise Http404 from None
    form = ProblemForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what is wrong with the copy."))
        return redirect("portal:request-detail", request_id=ill_request.id)
    try:
        ill_services.request_report_problem(
            actor=request.user, request=ill_request, **form.cleaned_data
        )
    except (TransitionError, PermissionDenied, ValidationError) as exc:
        messages.error(request, _("The problem could not be reported: %(why)s") % {"why": exc})
    else:
        messages.success(
            request, _("Reported. The library that sent the copy will send a new one.")
        )
    return redirect("portal:request-detail", request_id=ill_request.id)


def cancel_and_report(request: HttpRequest, ill_request: Request) -> None:
    """Cancel on the person's behalf and tell them how it went (reader and staff pages)."""
    form = CancelForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        done = ill_services.request_cancel(actor=request.user, request=ill_request, note=note)
    except (TransitionError, PermissionDenied) as exc:
        messages.error(request, _("The request could not be cancelled: %(why)s") % {"why": exc})
    else:
        if done.state == "cancel_pending":
            messages.success(
                request,
                _("The supplying library has already started: it has been asked to cancel."),
            )
        else:
            messages.success(request, _("Request cancelled."))


@login_required
@require_POST
def request_cancel(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        ill_request = ill.access_request_as_reader(request.user, request_id)
    except Request.DoesNotExist:
        raise Http404 from None
    cancel_and_report(request, ill_request)
    return redirect("portal:request-detail", request_id=ill_request.id)


@login_required
@require_GET
def copy_download(request: HttpRequest, copy_id: int, token: str) -> HttpResponse:
    try:
        copy = delivery.copy_download(
            actor=request.user, copy_id=copy_id, token=token, ip=client_ip(request)
        )
    except delivery.DownloadRefused as exc:
        return render(
            request,
            "portal/download_refused.html",
            {"message": delivery.refusal_message(exc.code)},
            status=410 if exc.code in {"deleted", "expired", "used_up"} else 403,
        )
    try:
        handle = copy.file.open("rb")
    except (OSError, ObjectDoesNotExist):
        return render(
            request,
            "portal/download_refused.html",
            {"message": _("The file could not be read from storage; your library has been told.")},
            status=503,
        )
    response = FileResponse(
        handle, as_attachment=True, filename=f"{copy.request.number}.pdf",
        content_type="application/pdf",
    )  # fmt: skip
    response["Cache-Control"] = "private, no-store"
    return response
