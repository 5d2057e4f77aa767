"""Reader pages for e-books: the titles one's library or the consortium lends, a title with its
buttons (borrow, place a hold, download, renew, return), and "My e-books"."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kede.accounts import selectors as people
from kede.delivery import ebooks
from kede.delivery.ebook_models import EbookHold, EbookLoan, EbookLoanState, EbookTitle

PAGE_SIZE = 20


def _not_reader(request: HttpRequest) -> HttpResponse:
    return render(request, "ebooks/not_reader.html", status=403)


def _when(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def _said(exc: ValidationError | PermissionDenied) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def _title_or_404(request: HttpRequest, title_id: int) -> EbookTitle:
    try:
        return ebooks.ebook_title_for_reader(request.user, title_id)
    except EbookTitle.DoesNotExist:
        raise Http404 from None


def _loan_or_404(request: HttpRequest, loan_id: int) -> EbookLoan:
    try:
        return ebooks.ebook_loan_for_reader(request.user, loan_id)
    except EbookLoan.DoesNotExist:
        raise Http404 from None


@login_required
@require_GET
def ebook_list(request: HttpRequest) -> HttpResponse:
    if people.reader_membership(request.user) is None:
        return _not_reader(request)
    query = request.GET.get("q", "").strip()[:200]
    page = Paginator(ebooks.ebook_titles_for_reader(request.user, query), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    availability = ebooks.ebook_availability(request.user, list(page))
    return render(
        request,
        "ebooks/list.html",
        {
            "page": page,
            "rows": [(title, availability[title.id]) for title in page],
            "ebook_query": query,
            "extra": {"q": query} if query else {},
        },
    )


@login_required
@require_GET
def ebook_detail(request: HttpRequest, title_id: int) -> HttpResponse:
    if people.reader_membership(request.user) is None:
        return _not_reader(request)
    title = _title_or_404(request, title_id)
    return render(
        request,
        "ebooks/detail.html",
        {"ebook": title, "status": ebooks.ebook_title_status(request.user, title)},
    )


@login_required
@require_POST
def ebook_borrow(request: HttpRequest, title_id: int) -> HttpResponse:
    title = _title_or_404(request, title_id)
    try:
        loan = ebooks.ebook_borrow(actor=request.user, title=title)
    except ValidationError as exc:
        messages.error(request, _said(exc))
    else:
        messages.success(
            request,
            _("Borrowed until %(until)s. Download it below.") % {"until": _when(loan.due_at)},
        )
    return redirect("portal:ebook", title_id=title.id)


@login_required
@require_POST
def ebook_place_hold(request: HttpRequest, title_id: int) -> HttpResponse:
    title = _title_or_404(request, title_id)
    try:
        ebooks.ebook_place_hold(actor=request.user, title=title)
    except ValidationError as exc:
        messages.error(request, _said(exc))
    else:
        messages.success(
            request, _("You are on the waiting list. You will be told by mail when a copy is free.")
        )
    return redirect("portal:ebook", title_id=title.id)


@login_required
@require_POST
def ebook_cancel_hold(request: HttpRequest, hold_id: int) -> HttpResponse:
    try:
        hold = ebooks.ebook_hold_for_reader(request.user, hold_id)
    except EbookHold.DoesNotExist:
        raise Http404 from None
    try:
        ebooks.ebook_cancel_hold(actor=request.user, hold=hold)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _said(exc))
    else:
        messages.success(request, _("You have left the waiting list."))
    return redirect("portal:ebook", title_id=hold.title_id)


@login_required
@require_POST
def ebook_renew(request: HttpRequest, loan_id: int) -> HttpResponse:
    loan = _loan_or_404(request, loan_id)
    try:
        loan = ebooks.ebook_renew(actor=request.user, loan=loan)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _said(exc))
    else:
        messages.success(
            request,
            _("Renewed until %(until)s.") % {"until": _when(loan.due_at)},
        )
    return redirect("portal:ebook", title_id=loan.title_id)


@login_required
@require_POST
def ebook_return(request: HttpRequest, loan_id: int) -> HttpResponse:
    loan = _loan_or_404(request, loan_id)
    try:
        ebooks.ebook_return(actor=request.user, loan=loan)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _said(exc))
    else:
        messages.success(request, _("Returned. Thank you."))
    return redirect("portal:my-ebooks")


@login_required
@require_GET
def ebook_download(request: HttpRequest, loan_id: int, token: str) -> HttpResponse:
    loan = ebooks.ebook_loan_by_link(loan_id)
    try:
        if loan is None:
            raise ebooks.EbookDownloadRefused("bad_link")
        stamped = ebooks.ebook_download(actor=request.user, loan=loan, token=token)
    except ebooks.EbookDownloadRefused as exc:
        return render(
            request,
            "ebooks/download_refused.html",
            {"message": ebooks.download_refusal_message(exc.code)},
            status=410 if exc.code == "ended" else 403,
        )
    except OSError:
        return render(
            request,
            "ebooks/download_refused.html",
            {"message": _("The e-book could not be read from storage; try again later.")},
            status=503,
        )
    response = HttpResponse(stamped.data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{stamped.filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def my_ebooks(request: HttpRequest) -> HttpResponse:
    loans = ebooks.ebook_loans_of_reader(request.user)
    now = timezone.now()
    current = [
        (loan, ebooks.ebook_link(loan))
        for loan in loans.filter(state=EbookLoanState.ACTIVE, due_at__gt=now)
    ]
    holds = [
        (hold, ebooks.hold_position(hold) if hold.state == "waiting" else None)
        for hold in ebooks.ebook_holds_of_reader(request.user)
    ]
    past = loans.exclude(id__in=[loan.id for loan, _link in current])[:PAGE_SIZE]
    return render(
        request,
        "ebooks/mine.html",
        {"current": current, "holds": holds, "past": past, "now": now},
    )
