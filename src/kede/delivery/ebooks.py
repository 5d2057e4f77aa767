"""E-book lending: the only writers of titles, licences, loans and holds, and the reads about them.

A reader borrows under a licence of their own library or of the consortium, never another
library's. Every change to a title's loans and holds locks the title's row first, so two readers
going for the last copy queue one behind the other: the first gets it, the second is told. A
copy that comes free (returned, expired, an offer not taken up, a licence added) is offered at
once to the first reader waiting who may use that licence; the offer keeps the copy for them
for a while, and the reader is told by mail in the same transaction. The file itself is handed
out only stamped for the reader, through a signed link, while the loan is open.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from kede.accounts import selectors as people
from kede.accounts.models import MembershipStatus, Role, User
from kede.catalog.models import Work
from kede.consortium.models import Consortium, Institution
from kede.core.identifiers import normalise_isbn
from kede.delivery.checks import CopyRejected, check_pdf
from kede.delivery.ebook_models import (
    OPEN_HOLD_STATES,
    EbookHold,
    EbookHoldState,
    EbookLicence,
    EbookLoan,
    EbookLoanState,
    EbookTitle,
)
from kede.delivery.stamping import stamp_copy

logger = logging.getLogger(__name__)

_LINK_SALT = "kede.delivery.ebook-link"
# How long a freed copy is kept for the reader first in line, and when the due-date reminder
# goes out. Settings may override both.
OFFER_HOURS = 48
REMIND_DAYS_BEFORE_DUE = 2
MAX_EBOOK_MB = 300


def offer_hours() -> int:
    return getattr(settings, "KEDE_EBOOK_OFFER_HOURS", OFFER_HOURS)


def remind_days_before_due() -> int:
    return getattr(settings, "KEDE_EBOOK_REMIND_DAYS_BEFORE_DUE", REMIND_DAYS_BEFORE_DUE)


# ---- who may use which licence ---------------------------------------------------------------


def _reader_libraries(user) -> list[Institution]:
    """The libraries whose licences the person may borrow under (their home libraries)."""
    return list(people.institutions_for(user, "ebook.borrow"))


def _licences_of(libraries: list[Institution]) -> QuerySet[EbookLicence]:
    if not libraries:
        return EbookLicence.objects.none()
    return EbookLicence.objects.filter(
        Q(holder__isnull=True) | Q(holder__in=libraries), active=True
    ).select_related("holder")


def licences_for_reader(user) -> QuerySet[EbookLicence]:
    """Active licences the person may borrow under: their library's and the consortium's."""
    return _licences_of(_reader_libraries(user))


def _may_use(user, licence: EbookLicence) -> bool:
    libraries = _reader_libraries(user)
    if not libraries or not licence.active:
        return False
    return licence.holder_id is None or licence.holder_id in {lib.id for lib in libraries}


def _in_lending_order(licences) -> list[EbookLicence]:
    """A library's own licences first, so the consortium's shared copies stay for others."""
    return sorted(licences, key=lambda lic: (lic.holder_id is None, lic.id))


# ---- reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Availability:
    copies: int = 0
    free: int = 0
    waiting: int = 0
    holders: list[str] = field(default_factory=list)


def consortium_name() -> str:
    """The consortium's name in the active language."""
    consortium = Consortium.objects.order_by("id").first()
    if consortium is None:
        return _("The consortium")
    language = get_language() or ""
    return (
        consortium.name_en if language.startswith("en") and consortium.name_en else consortium.name
    )


def holder_name(licence: EbookLicence, consortium: str | None = None) -> str:
    """Who lends under the licence: the library's name, or the consortium's."""
    if licence.holder_id is not None:
        return licence.holder.local_name
    return consortium if consortium is not None else consortium_name()


def _used_by_licence(licence_ids: list[int], now: datetime.datetime) -> dict[int, int]:
    """Copies of each licence that are out: on loan, or kept for a reader who was offered one."""
    used: dict[int, int] = dict.fromkeys(licence_ids, 0)
    if not licence_ids:
        return used
    loans = (
        EbookLoan.objects.filter(licence_id__in=licence_ids, state=EbookLoanState.ACTIVE)
        .order_by()
        .values_list("licence_id")
        .annotate(n=Count("id"))
    )
    offers = (
        EbookHold.objects.filter(
            licence_id__in=licence_ids, state=EbookHoldState.OFFERED, expires_at__gt=now
        )
        .order_by()
        .values_list("licence_id")
        .annotate(n=Count("id"))
    )
    for licence_id, n in [*loans, *offers]:
        used[licence_id] += n
    return used


def _free_copies(licence: EbookLicence, now: datetime.datetime) -> int:
    return max(0, licence.copies - _used_by_licence([licence.id], now)[licence.id])


def ebook_titles_for_reader(user, query: str = "") -> QuerySet[EbookTitle]:
    """Titles the person may borrow (their library or the consortium licenses them)."""
    titles = EbookTitle.objects.filter(id__in=licences_for_reader(user).values("title_id"))
    for word in query.split()[:8]:
        titles = titles.filter(
            Q(title__icontains=word) | Q(author__icontains=word) | Q(isbn__icontains=word)
        )
    return titles.order_by("title", "id")


def ebook_title_for_reader(user, title_id: int) -> EbookTitle:
    """One title the person may borrow; "not licensed to you" looks like "does not exist"."""
    return ebook_titles_for_reader(user).select_related("work").get(id=title_id)


def ebook_availability(user, titles) -> dict[int, Availability]:
    """For each title: the copies the person's licences allow, how many are free, and how many
    readers are waiting."""
    now = timezone.now()
    ids = [t.id for t in titles]
    licences = list(licences_for_reader(user).filter(title_id__in=ids))
    used = _used_by_licence([lic.id for lic in licences], now)
    waiting = dict(
        EbookHold.objects.filter(title_id__in=ids, state=EbookHoldState.WAITING)
        .order_by()
        .values_list("title_id")
        .annotate(n=Count("id"))
    )
    result = {}
    shared = consortium_name() if any(lic.holder_id is None for lic in licences) else ""
    for title_id in ids:
        mine = _in_lending_order(lic for lic in licences if lic.title_id == title_id)
        result[title_id] = Availability(
            copies=sum(lic.copies for lic in mine),
            free=sum(max(0, lic.copies - used[lic.id]) for lic in mine),
            waiting=waiting.get(title_id, 0),
            holders=list(dict.fromkeys(holder_name(lic, shared) for lic in mine)),
        )
    return result


def ebook_loans_of_reader(user) -> QuerySet[EbookLoan]:
    """The person's own loans, newest first; nobody else's are ever listed."""
    if not user.is_authenticated:
        return EbookLoan.objects.none()
    return (
        EbookLoan.objects.filter(reader=user)
        .select_related("title", "licence", "licence__holder")
        .order_by("-started_at", "-id")
    )


def ebook_loan_for_reader(user, loan_id: int) -> EbookLoan:
    """One of the person's own loans; another reader's loan looks like none at all."""
    return ebook_loans_of_reader(user).get(id=loan_id)


def ebook_holds_of_reader(user) -> QuerySet[EbookHold]:
    if not user.is_authenticated:
        return EbookHold.objects.none()
    return (
        EbookHold.objects.filter(reader=user, state__in=OPEN_HOLD_STATES)
        .select_related("title")
        .order_by("created_at", "id")
    )


def ebook_hold_for_reader(user, hold_id: int) -> EbookHold:
    return ebook_holds_of_reader(user).get(id=hold_id)


def hold_position(hold: EbookHold) -> int:
    """1 for the first reader waiting for the title."""
    earlier = EbookHold.objects.filter(title_id=hold.title_id, state=EbookHoldState.WAITING).filter(
        Q(created_at__lt=hold.created_at) | Q(created_at=hold.created_at, id__lt=hold.id)
    )
    return earlier.count() + 1


def _waiting_for(licence: EbookLicence) -> QuerySet[EbookHold]:
    """Waiting holds for the licence's title whose reader may borrow under this licence."""
    holds = EbookHold.objects.filter(title_id=licence.title_id, state=EbookHoldState.WAITING)
    if licence.holder_id is None:
        return holds
    return holds.filter(
        reader__memberships__institution_id=licence.holder_id,
        reader__memberships__role=Role.READER,
        reader__memberships__status=MembershipStatus.ACTIVE,
        reader__memberships__institution__is_active=True,
    )


def _renewal_refusal(loan: EbookLoan, now: datetime.datetime) -> ValidationError | None:
    licence = loan.licence
    if not loan.is_open(now):
        return ValidationError(_("This loan has ended; borrow the e-book again."), code="ended")
    if not _may_use(loan.reader, licence):
        return ValidationError(
            _(
                "This loan cannot be renewed: the licence has ended or you are no longer a "
                "reader of the library that holds it."
            ),
            code="not_licensed",
        )
    if loan.renewals_used >= licence.renewals:
        return ValidationError(
            _("This loan has been renewed as often as the licence allows."),
            code="no_renewals_left",
        )
    if _waiting_for(licence).exists():
        return ValidationError(
            _("Other readers are waiting for this e-book, so the loan cannot be renewed."),
            code="others_waiting",
        )
    return None


@dataclass(frozen=True)
class TitleStatus:
    """What the person sees on a title's page and which buttons they get."""

    availability: Availability
    loan: EbookLoan | None
    link: str | None
    hold: EbookHold | None
    position: int | None
    offer_open: bool
    can_borrow: bool
    can_hold: bool
    can_renew: bool
    renew_refusal: str


def ebook_title_status(user, title: EbookTitle) -> TitleStatus:
    now = timezone.now()
    availability = ebook_availability(user, [title])[title.id]
    loan = (
        ebook_loans_of_reader(user)
        .filter(title=title, state=EbookLoanState.ACTIVE, due_at__gt=now)
        .first()
    )
    hold = ebook_holds_of_reader(user).filter(title=title).first()
    offer_open = bool(
        hold is not None
        and hold.state == EbookHoldState.OFFERED
        and hold.expires_at
        and hold.expires_at > now
    )
    refusal = _renewal_refusal(loan, now) if loan is not None else None
    return TitleStatus(
        availability=availability,
        loan=loan,
        link=ebook_link(loan) if loan is not None else None,
        hold=hold,
        position=hold_position(hold) if hold and hold.state == EbookHoldState.WAITING else None,
        offer_open=offer_open,
        can_borrow=loan is None and (offer_open or availability.free > 0),
        can_hold=loan is None and hold is None and availability.free == 0,
        can_renew=loan is not None and refusal is None,
        renew_refusal=refusal.messages[0] if refusal is not None and loan is not None else "",
    )


# ---- writes ----------------------------------------------------------------------------------


def _lock_title(title_id: int) -> None:
    """Every change to a title's loans and holds locks its row first: they queue, never race."""
    list(EbookTitle.objects.select_for_update().filter(pk=title_id).values_list("pk"))


def _refuse_non_reader(libraries: list[Institution]) -> None:
    if not libraries:
        raise ValidationError(
            _("Only an approved reader of a member library can borrow e-books."),
            code="not_reader",
        )


def _usable_licences(libraries: list[Institution], title_id: int) -> list[EbookLicence]:
    licences = _in_lending_order(_licences_of(libraries).filter(title_id=title_id))
    if not licences:
        raise ValidationError(
            _("Neither your library nor the consortium lends this e-book."),
            code="not_licensed",
        )
    return licences


def _refuse_if_on_loan(actor: User, title_id: int) -> None:
    if EbookLoan.objects.filter(
        reader=actor, title_id=title_id, state=EbookLoanState.ACTIVE
    ).exists():
        raise ValidationError(_("You already have this e-book on loan."), code="already_borrowed")


def ebook_borrow(*, actor: User, title: EbookTitle) -> EbookLoan:
    """Lend the title to `actor` under a licence with a free copy (or the one kept for them)."""
    libraries = _reader_libraries(actor)
    _refuse_non_reader(libraries)
    ebook_settle(title.pk)  # committed even if the loan is refused: time has passed for all
    with transaction.atomic():
        return _borrow(actor, title, libraries)


def _borrow(actor: User, title: EbookTitle, libraries: list[Institution]) -> EbookLoan:
    _lock_title(title.pk)
    now = timezone.now()
    licences = _usable_licences(libraries, title.pk)
    _refuse_if_on_loan(actor, title.pk)
    hold = EbookHold.objects.filter(
        reader=actor, title_id=title.pk, state__in=OPEN_HOLD_STATES
    ).first()
    licence = None
    if hold is not None and hold.state == EbookHoldState.OFFERED and hold.expires_at > now:
        licence = next((lic for lic in licences if lic.id == hold.licence_id), None)
    if licence is None:
        licence = next((lic for lic in licences if _free_copies(lic, now) > 0), None)
    if licence is None:
        raise ValidationError(
            _("All copies are out. Place a hold and you will be told by mail when one is free."),
            code="none_free",
        )
    try:
        with transaction.atomic():
            loan = EbookLoan.objects.create(
                licence=licence,
                title_id=title.pk,
                reader=actor,
                institution=licence.holder if licence.holder_id else libraries[0],
                started_at=now,
                due_at=now + datetime.timedelta(days=licence.loan_days),
            )
    except IntegrityError:
        raise ValidationError(
            _("You already have this e-book on loan."), code="already_borrowed"
        ) from None
    if hold is not None:
        EbookHold.objects.filter(pk=hold.pk, state=hold.state).update(
            state=EbookHoldState.FULFILLED
        )
    return loan


def _fresh_own_loan(actor: User, loan: EbookLoan) -> EbookLoan:
    fresh = EbookLoan.objects.select_related("licence", "licence__holder", "title", "reader").get(
        pk=loan.pk
    )
    if fresh.reader_id != actor.id:
        raise PermissionDenied(_("This is not your loan."))
    return fresh


@transaction.atomic
def ebook_renew(*, actor: User, loan: EbookLoan) -> EbookLoan:
    """Lend it for another loan period from the current due date, as often as the licence
    allows and only while nobody who may use the licence is waiting."""
    _lock_title(loan.title_id)
    loan = _fresh_own_loan(actor, loan)
    now = timezone.now()
    refusal = _renewal_refusal(loan, now)
    if refusal is not None:
        raise refusal
    due = loan.due_at + datetime.timedelta(days=loan.licence.loan_days)
    renewed = EbookLoan.objects.filter(
        pk=loan.pk, state=EbookLoanState.ACTIVE, renewals_used=loan.renewals_used
    ).update(due_at=due, renewals_used=F("renewals_used") + 1, due_reminded_at=None)
    if not renewed:
        raise ValidationError(_("The loan changed meanwhile; reload the page."), code="conflict")
    loan.refresh_from_db()
    return loan


@transaction.atomic
def ebook_return(*, actor: User, loan: EbookLoan) -> EbookLoan:
    """End the loan now; the copy goes to the next reader waiting, if any."""
    _lock_title(loan.title_id)
    loan = _fresh_own_loan(actor, loan)
    now = timezone.now()
    returned = EbookLoan.objects.filter(pk=loan.pk, state=EbookLoanState.ACTIVE).update(
        state=EbookLoanState.RETURNED, returned_at=now
    )
    if not returned:
        raise ValidationError(_("This loan has already ended."), code="ended")
    _settle(loan.title_id, now)
    loan.refresh_from_db()
    return loan


def ebook_place_hold(*, actor: User, title: EbookTitle) -> EbookHold:
    """Put `actor` on the title's waiting list; only when every copy they may use is out."""
    libraries = _reader_libraries(actor)
    _refuse_non_reader(libraries)
    ebook_settle(title.pk)
    with transaction.atomic():
        return _place_hold(actor, title, libraries)


def _place_hold(actor: User, title: EbookTitle, libraries: list[Institution]) -> EbookHold:
    _lock_title(title.pk)
    now = timezone.now()
    licences = _usable_licences(libraries, title.pk)
    _refuse_if_on_loan(actor, title.pk)
    if EbookHold.objects.filter(
        reader=actor, title_id=title.pk, state__in=OPEN_HOLD_STATES
    ).exists():
        raise ValidationError(
            _("You are already on the waiting list for this e-book."), code="already_waiting"
        )
    if any(_free_copies(lic, now) > 0 for lic in licences):
        raise ValidationError(_("A copy is free now: borrow it instead."), code="copy_free")
    try:
        with transaction.atomic():
            return EbookHold.objects.create(title_id=title.pk, reader=actor, created_at=now)
    except IntegrityError:
        raise ValidationError(
            _("You are already on the waiting list for this e-book."), code="already_waiting"
        ) from None


@transaction.atomic
def ebook_cancel_hold(*, actor: User, hold: EbookHold) -> EbookHold:
    """Leave the waiting list; a copy kept for the reader goes to the next in line."""
    _lock_title(hold.title_id)
    hold = EbookHold.objects.get(pk=hold.pk)
    if hold.reader_id != actor.id:
        raise PermissionDenied(_("This is not your hold."))
    cancelled = EbookHold.objects.filter(pk=hold.pk, state__in=OPEN_HOLD_STATES).update(
        state=EbookHoldState.CANCELLED
    )
    if not cancelled:
        raise ValidationError(_("This hold has already ended."), code="ended")
    _settle(hold.title_id, timezone.now())
    hold.refresh_from_db()
    return hold


def _offer_free_copies(title_id: int, now: datetime.datetime) -> list[EbookHold]:
    """Offer each free copy to the first reader waiting who may use its licence, and queue
    their mail. Call inside a transaction holding the title's lock."""
    waiting = list(
        EbookHold.objects.filter(title_id=title_id, state=EbookHoldState.WAITING)
        .select_related("reader")
        .order_by("created_at", "id")
    )
    if not waiting:
        return []
    from kede.delivery.ebook_tasks import send_hold_available_mail

    ends = now + datetime.timedelta(hours=offer_hours())
    licences = _in_lending_order(
        EbookLicence.objects.filter(title_id=title_id, active=True).select_related("holder")
    )
    offered = []
    for licence in licences:
        free = _free_copies(licence, now)
        while free > 0:
            hold = next((h for h in waiting if _may_use(h.reader, licence)), None)
            if hold is None:
                break
            waiting.remove(hold)
            done = EbookHold.objects.filter(pk=hold.pk, state=EbookHoldState.WAITING).update(
                state=EbookHoldState.OFFERED, licence=licence, notified_at=now, expires_at=ends
            )
            if done:
                send_hold_available_mail.enqueue(hold_id=hold.id)
                offered.append(hold)
                free -= 1
    return offered


@dataclass(frozen=True)
class ExpiryReport:
    expired: int = 0
    lapsed: int = 0
    offered: int = 0

    def __add__(self, other: ExpiryReport) -> ExpiryReport:
        return ExpiryReport(
            self.expired + other.expired, self.lapsed + other.lapsed, self.offered + other.offered
        )


def _settle(title_id: int, now: datetime.datetime) -> ExpiryReport:
    """Bring one title up to `now`: loans past due expire, offers not taken up lapse, and every
    free copy is offered to the readers waiting. Call inside a transaction holding its lock."""
    expired = EbookLoan.objects.filter(
        title_id=title_id, state=EbookLoanState.ACTIVE, due_at__lte=now
    ).update(state=EbookLoanState.EXPIRED)
    lapsed = EbookHold.objects.filter(
        title_id=title_id, state=EbookHoldState.OFFERED, expires_at__lte=now
    ).update(state=EbookHoldState.LAPSED)
    offered = len(_offer_free_copies(title_id, now))
    return ExpiryReport(expired=expired, lapsed=lapsed, offered=offered)


def ebook_settle(title_id: int, now: datetime.datetime | None = None) -> ExpiryReport:
    """`_settle` one title in a transaction of its own."""
    with transaction.atomic():
        _lock_title(title_id)
        return _settle(title_id, now or timezone.now())


def ebooks_expire_due(now: datetime.datetime | None = None) -> ExpiryReport:
    """End loans past their due date and offers not taken up in time, and offer every copy
    that is free to the readers waiting. Idempotent, and safe to run twice at once."""
    now = now or timezone.now()
    due = EbookLoan.objects.filter(state=EbookLoanState.ACTIVE, due_at__lte=now)
    stale = EbookHold.objects.filter(state=EbookHoldState.OFFERED, expires_at__lte=now)
    # Copies may be free while readers wait: a licence added or enlarged, a reader who left.
    waiting = EbookHold.objects.filter(state=EbookHoldState.WAITING)
    titles = {
        *due.values_list("title_id", flat=True),
        *stale.values_list("title_id", flat=True),
        *waiting.values_list("title_id", flat=True),
    }
    report = ExpiryReport()
    for title_id in sorted(titles):
        report += ebook_settle(title_id, now)
    if report != ExpiryReport():
        logger.info(
            "e-books: %s loans expired, %s offers lapsed, %s offered",
            report.expired,
            report.lapsed,
            report.offered,
        )
    return report


def ebook_loans_to_remind(now: datetime.datetime | None = None) -> list[EbookLoan]:
    """Open loans due within the reminder period whose reader has not been reminded yet. A loan
    shorter than that period is not reminded: its reader was told the date when borrowing."""
    now = now or timezone.now()
    window = datetime.timedelta(days=remind_days_before_due())
    return list(
        EbookLoan.objects.filter(
            state=EbookLoanState.ACTIVE,
            due_reminded_at__isnull=True,
            due_at__gt=now,
            due_at__lte=now + window,
        )
        .filter(due_at__gt=F("started_at") + window)
        .order_by("due_at", "id")
    )


def ebook_loan_mark_reminded(loan: EbookLoan, now: datetime.datetime | None = None) -> bool:
    """Record the reminder; True only for the one caller that recorded it first."""
    return bool(
        EbookLoan.objects.filter(
            pk=loan.pk, state=EbookLoanState.ACTIVE, due_reminded_at__isnull=True
        ).update(due_reminded_at=now or timezone.now())
    )


# ---- the file --------------------------------------------------------------------------------


def ebook_loan_by_link(loan_id: int) -> EbookLoan | None:
    """The loan a download link names, whoever asks: the link's signature and
    `ebook_download` decide whether the asker gets anything, and say why not."""
    return EbookLoan.objects.filter(id=loan_id).first()


def ebook_link(loan: EbookLoan) -> str:
    token = signing.dumps({"l": loan.id, "r": loan.reader_id}, salt=_LINK_SALT)
    return reverse("portal:ebook-download", kwargs={"loan_id": loan.id, "token": token})


class EbookDownloadRefused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def download_refusal_message(code: str) -> str:
    return {
        "bad_link": _("This download link is not valid. Use the link on the e-book's page."),
        "not_yours": _("This e-book was lent to someone else."),
        "not_reader": _("Only an approved reader of a member library can read e-books."),
        "ended": _("This loan has ended, so the e-book can no longer be downloaded."),
    }.get(code, _("This e-book cannot be downloaded."))


@dataclass(frozen=True)
class StampedEbook:
    filename: str
    data: bytes


def _stamp_labels(until: str) -> dict[str, str]:
    return {
        "title": _("Kede e-book lending"),
        "request": _("Loan"),
        "reader": _("Reader"),
        "institution": _("Library"),
        "supplier": _("Licensed by"),
        "date": _("Lent until"),
        "pages": _("Pages"),
        "footer_notice": _("Lent until %(until)s for the reader's own study.") % {"until": until},
    }


def _lending_notice(title: EbookTitle, until: str) -> str:
    return _(
        "“%(title)s” is lent to the reader named above until %(until)s, for their own study "
        "or research only. It may not be copied again, passed on or published. When the loan "
        "ends the e-book can no longer be downloaded from Kede."
    ) % {"title": title.title, "until": until}


def ebook_download(*, actor: User, loan: EbookLoan, token: str) -> StampedEbook:
    """The e-book stamped for its reader: only the loan's reader, only while the loan is open,
    only through the signed link. Raises EbookDownloadRefused, or OSError if storage fails."""
    try:
        payload = signing.loads(token, salt=_LINK_SALT)
    except signing.BadSignature:
        raise EbookDownloadRefused("bad_link") from None
    if not isinstance(payload, dict) or payload != {"l": loan.id, "r": loan.reader_id}:
        raise EbookDownloadRefused("bad_link")
    if actor.id != loan.reader_id:
        raise EbookDownloadRefused("not_yours")
    loan = EbookLoan.objects.select_related(
        "title", "reader", "institution", "licence", "licence__holder"
    ).get(pk=loan.pk)
    if not loan.is_open():
        raise EbookDownloadRefused("ended")
    if people.reader_membership(actor) is None:
        raise EbookDownloadRefused("not_reader")
    with loan.title.file.open("rb") as handle:
        pdf = handle.read()
    reader = loan.reader
    with translation.override(reader.preferred_language or settings.LANGUAGE_CODE):
        due = timezone.localtime(loan.due_at)
        until = f"{due:%Y-%m-%d %H:%M}"
        try:
            stamped = stamp_copy(
                pdf,
                request_number=loan.number,
                reader_name=reader.shown_name,
                institution=loan.institution.local_name,
                supplier=holder_name(loan.licence),
                notice=_lending_notice(loan.title, until),
                delivered_on=due.date(),
                labels=_stamp_labels(until),
            )
        except CopyRejected as exc:
            logger.error("e-book %s cannot be stamped: %s", loan.title_id, exc.code)
            raise OSError(f"e-book file damaged: {exc.code}") from exc
    return StampedEbook(filename=f"{loan.number}.pdf", data=stamped)


# ---- titles and licences (the centre's and libraries' set-up) --------------------------------


def ebook_check_pdf(data: bytes) -> int:
    """The page count of an e-book's PDF, or a ValidationError saying what is wrong with it."""
    from kede.delivery.services import rejection_message

    try:
        return check_pdf(data, max_bytes=MAX_EBOOK_MB * 1024 * 1024).pages
    except CopyRejected as exc:
        raise ValidationError({"file": rejection_message(exc)}) from exc


def ebook_title_add(
    *,
    title: str,
    pdf: bytes,
    author: str = "",
    publisher: str = "",
    year: str = "",
    isbn: str = "",
    work: Work | None = None,
) -> EbookTitle:
    """Store the PDF, then record the title; linked to the union catalogue by ISBN if none is
    given. A failure leaves no orphan file."""
    if not title.strip():
        raise ValidationError({"title": _("Give the e-book's title.")})
    if isbn:
        normalised = normalise_isbn(isbn)
        if normalised is None:
            raise ValidationError({"isbn": _("“%(isbn)s” is not a valid ISBN.") % {"isbn": isbn}})
        isbn = normalised
    pages = ebook_check_pdf(pdf)
    if work is None and isbn:
        work = Work.objects.filter(isbn=isbn).first()
    digest = hashlib.sha256(pdf).hexdigest()
    path = default_storage.save(
        f"ebooks/{timezone.localdate():%Y/%m}/{digest[:16]}.pdf", ContentFile(pdf)
    )
    try:
        with transaction.atomic():
            return EbookTitle.objects.create(
                title=title.strip(),
                author=author.strip(),
                publisher=publisher.strip(),
                year=year.strip(),
                isbn=isbn,
                file=path,
                pages=pages,
                work=work,
            )
    except BaseException:
        default_storage.delete(path)
        raise


@transaction.atomic
def ebook_licence_add(
    *,
    title: EbookTitle,
    holder: Institution | None = None,
    copies: int = 1,
    loan_days: int = 14,
    renewals: int = 0,
) -> EbookLicence:
    """A licence for the consortium (holder None) or one library; readers waiting get its copies."""
    if copies < 1 or loan_days < 1 or renewals < 0:
        raise ValidationError(
            _("A licence lends at least one copy for at least one day, with no negative renewals.")
        )
    _lock_title(title.pk)
    licence = EbookLicence.objects.create(
        title=title, holder=holder, copies=copies, loan_days=loan_days, renewals=renewals
    )
    _settle(title.pk, timezone.now())
    return licence


# ---- the demo --------------------------------------------------------------------------------

DEMO_TITLES = [
    # title, author, publisher, year, lines of its pages
    ("论语", "孔子", "可得演示", "2024", ["学而时习之，不亦说乎？", "有朋自远方来，不亦乐乎？"]),
    ("Pride and Prejudice", "Jane Austen", "Kede demo", "1813",
     ["It is a truth universally acknowledged, that a single man in possession of a good",
      "fortune, must be in want of a wife."]),
    ("On the Origin of Species", "Charles Darwin", "Kede demo", "1859",
     ["When on board H.M.S. 'Beagle,' as naturalist, I was much struck with certain facts",
      "in the distribution of the inhabitants of South America."]),
]  # fmt: skip


def demo_pdf(title: str, author: str, lines: list[str], pages: int = 4) -> bytes:
    """A small e-book: a title page, then pages of text, drawn with reportlab."""
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfgen.canvas import Canvas

    from kede.delivery.stamping import CJK_FONT

    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A5)
    canvas.setTitle(title)
    canvas.setAuthor(author)
    width, height = A5
    canvas.setFont(CJK_FONT, 22)
    canvas.drawCentredString(width / 2, height * 0.6, title)
    canvas.setFont(CJK_FONT, 14)
    canvas.drawCentredString(width / 2, height * 0.6 - 36, author)
    canvas.showPage()
    for number in range(1, pages):
        canvas.setFont(CJK_FONT, 10)
        y = height - 60
        for _repeat in range(3):
            for line in lines:
                canvas.drawString(40, y, line[:70])
                y -= 16
        canvas.drawCentredString(width / 2, 30, str(number))
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def ebooks_demo_load() -> int:
    """Three demo e-books: the first under a consortium licence with one copy (so a second
    reader meets the waiting list), the second licensed to USST, the third to FDU (so each is
    invisible to the other's readers). Safe to run again; returns the titles created."""
    if EbookTitle.objects.filter(title__in=[t[0] for t in DEMO_TITLES]).exists():
        return 0
    libraries = {i.code: i for i in Institution.objects.filter(code__in=["USST", "FDU"])}
    terms = [
        (None, 1, 14, 1),
        (libraries.get("USST"), 2, 21, 2),
        (libraries.get("FDU"), 3, 7, 0),
    ]
    created = 0
    with transaction.atomic():
        for (name, author, publisher, year, lines), (holder, copies, days, renewals) in zip(
            DEMO_TITLES, terms, strict=True
        ):
            title = ebook_title_add(
                title=name,
                author=author,
                publisher=publisher,
                year=year,
                pdf=demo_pdf(name, author, lines),
            )
            created += 1
            if holder is not None or copies == 1:
                ebook_licence_add(
                    title=title, holder=holder, copies=copies, loan_days=days, renewals=renewals
                )
    return created
