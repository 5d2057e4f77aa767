"""Pay-per-view: the only writers of vendors, their offers, purchases and charges, and the reads.

The centre loads a vendor's price list (a CSV) and its PDFs; good rows go on sale, bad rows are
reported row by row and change nothing. A reader whose citation matches an offer sees the price,
what their library pays of it (`PpvPolicy`) and what they pay, and confirms a signed quote. The
purchase is recorded first (once per reader and article, however often they click), then
ordered from the vendor through its connector, then the file is fetched, stamped for the reader
and delivered in one transaction with the charges billing will settle. Each step is guarded by
the purchase's status, so the page and the safety-net task queued with the purchase may both
run it: a crash anywhere leaves a purchase the task finishes, never a lost or double one.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import logging
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import Least
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from pypdf import PdfReader

from kede.accounts import selectors as people
from kede.accounts.models import User
from kede.consortium.models import Institution
from kede.core.identifiers import normalise_issn
from kede.delivery import ppv
from kede.delivery.checks import CopyRejected, check_pdf
from kede.delivery.ppv_models import (
    PpvCharge,
    PpvDownloadLog,
    PpvPayer,
    PpvPolicy,
    PpvPurchase,
    PpvStatus,
    Vendor,
    VendorOffer,
)
from kede.delivery.stamping import stamp_copy

logger = logging.getLogger(__name__)

_LINK_SALT = "kede.delivery.ppv-link"
_QUOTE_SALT = "kede.delivery.ppv-quote"
QUOTE_MAX_AGE = 3600  # seconds a price shown to a reader may be confirmed
# The safety net: a purchase the page did not finish (a crash, a vendor down) is taken up by a
# task this long after it was confirmed, and again with backoff.
COMPLETE_AFTER = datetime.timedelta(minutes=2)
MAX_COMPLETE_ATTEMPTS = 8
MAX_PRICE_LIST_BYTES = 20 * 1024 * 1024
_CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")
_CURRENCY = re.compile(r"[A-Z]{3}")

PdfSource = Mapping[str, Callable[[], bytes]]


# ---- words for people ------------------------------------------------------------------------


def money(amount: Decimal, currency: str) -> str:
    return f"¥{amount:.2f}" if currency == "CNY" else f"{amount:.2f} {currency}"


def row_problem_message(error: ppv.RowError) -> str:
    """One line for the centre: which row, which column, what is wrong."""
    value = error.value
    reasons = {
        "missing": _("is empty"),
        "too_long": _("is too long"),
        "bad_price": _("“%(value)s” is not a price (write it like 12.50)"),
        "not_positive": _("the price must be more than 0"),
        "bad_currency": _("“%(value)s” is not a currency code (e.g. CNY)"),
        "other_currency": _("“%(value)s” is not the vendor's currency"),
        "bad_file_name": _("“%(value)s” is not the name of a PDF file"),
        "file_missing": _("“%(value)s” was not uploaded with the list"),
        "duplicate": _("“%(value)s” is already in row %(first)s"),
        "bad_doi": _("“%(value)s” is not a DOI"),
        "bad_issn": _("“%(value)s” is not a valid ISSN"),
        "bad_year": _("“%(value)s” is not a year"),
        "extra_cells": _("has cells beyond the last column: %(value)s"),
        "empty": _("the PDF is empty"),
        "too_large": _("the PDF is larger than allowed"),
        "not_pdf": _("the file is not a PDF"),
        "encrypted": _("the PDF is password-protected"),
        "damaged": _("the PDF is damaged"),
        "no_pages": _("the PDF has no pages"),
    }
    reason = reasons.get(error.code, error.code) % {"value": value, "first": error.first_row}
    if error.column:
        return _("Row %(row)s, %(column)s: %(reason)s.") % {
            "row": error.row,
            "column": error.column,
            "reason": reason,
        }
    return _("Row %(row)s: %(reason)s.") % {"row": error.row, "reason": reason}


def price_list_message(exc: ppv.PriceListError) -> str:
    p = exc.params
    return {
        "binary": _("The price list is not a text file. Save it from the spreadsheet as CSV."),
        "encoding": _("The price list is neither UTF-8 nor GB 18030 text."),
        "empty": _("The price list is empty."),
        "missing_columns": _(
            "The price list has no column %(columns)s. Its first row must name the columns."
        )
        % {"columns": ", ".join(map(str, p.get("columns") or []))},
        "too_many_rows": _("The price list has more than %(limit)s rows.")
        % {"limit": p.get("limit")},
        "not_csv": _("The price list cannot be read as CSV near line %(line)s.")
        % {"line": p.get("line")},
        "too_large": _("The price list is larger than %(mb)s MB.")
        % {"mb": MAX_PRICE_LIST_BYTES // (1024 * 1024)},
    }.get(exc.code, _("The price list cannot be read."))


def purchase_refusal_message(code: str) -> str:
    return {
        "not_reader": _("Only an approved reader of a member library can buy articles."),
        "bad_quote": _("This price was not shown to you. Look the article up again."),
        "quote_expired": _(
            "The price was shown more than an hour ago. Check it and confirm again."
        ),
        "withdrawn": _("The vendor no longer sells this article."),
        "price_changed": _("The price has changed. Check the new price and confirm again."),
        "other_vendor": _("The vendor no longer sells this article."),
    }.get(code, _("The article could not be bought."))


# ---- who may, and who pays what --------------------------------------------------------------


def _reader_library(user) -> Institution | None:
    """The library a person buys as a reader of, if they may buy at all."""
    membership = people.reader_membership(user)
    if membership is None or not people.permitted(user, "ppv.buy", membership.institution):
        return None
    return membership.institution


def ppv_may_buy(user) -> bool:
    return _reader_library(user) is not None


def ppv_may_manage(user) -> bool:
    return people.institutions_for(user, "ppv.manage").exists()


def share_policy_for(institution: Institution) -> ppv.SharePolicy:
    """The library's own share, else the consortium's default, else the reader pays all."""
    policy = (
        PpvPolicy.objects.filter(institution=institution).first()
        or PpvPolicy.objects.filter(institution__isnull=True).first()
    )
    if policy is None:
        return ppv.SharePolicy()
    return ppv.SharePolicy(
        percent=policy.library_percent, cap=policy.cap_per_article, currency=policy.currency
    )


def ppv_policy_set(
    *,
    actor: User | None,
    institution: Institution | None,
    percent: Decimal,
    cap: Decimal | None = None,
    currency: str = "CNY",
) -> PpvPolicy:
    """Set what a library (None: the consortium's default) pays of each article's price.
    `actor` None is a trusted caller (the command line)."""
    if actor is not None and not ppv_may_manage(actor):
        raise PermissionDenied(_("Only the centre sets what libraries pay for articles."))
    if not Decimal(0) <= percent <= Decimal(100):
        raise ValidationError({"percent": _("Give a percentage between 0 and 100.")})
    if cap is not None and cap < 0:
        raise ValidationError({"cap": _("The limit per article cannot be negative.")})
    currency = currency.upper()
    if not _CURRENCY.fullmatch(currency):
        raise ValidationError({"currency": _("Give the currency as a three-letter code.")})
    with transaction.atomic():
        policy, _created = PpvPolicy.objects.update_or_create(
            institution=institution,
            defaults={"library_percent": percent, "cap_per_article": cap, "currency": currency},
        )
    return policy


# ---- loading a vendor's price list and files -------------------------------------------------


def pdfs_in_folder(folder: Path) -> dict[str, Callable[[], bytes]]:
    """The PDFs directly in `folder`, by file name, read only when asked for."""
    if not folder.is_dir():
        raise ValidationError({"files": _("%(folder)s is not a folder.") % {"folder": folder}})
    return {
        path.name: path.read_bytes
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix.lower() == ".pdf"
    }


def pdfs_in_zip(data: bytes) -> dict[str, Callable[[], bytes]]:
    """The PDFs in a ZIP archive, by file name (folders inside are ignored), each read with
    the upload limit so that a compressed bomb is refused, not unpacked."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValidationError({"files": _("The files are not a ZIP archive.")}) from exc
    limit = settings.KEDE_MAX_UPLOAD_BYTES

    def reader(info: zipfile.ZipInfo) -> Callable[[], bytes]:
        def read() -> bytes:
            with archive.open(info) as handle:
                content = handle.read(limit + 1)
            if len(content) > limit:
                raise CopyRejected("too_large", size=len(content), limit=limit)
            return content

        return read

    found: dict[str, Callable[[], bytes]] = {}
    for info in archive.infolist():
        name = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if info.is_dir() or not name.lower().endswith(".pdf") or name.startswith("."):
            continue
        found.setdefault(name, reader(info))
    return found


@dataclass
class LoadReport:
    vendor: Vendor | None = None
    applied: bool = False
    loaded: int = 0
    withdrawn: int = 0
    errors: list[ppv.RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({e.row for e in self.errors})

    def problems(self) -> list[str]:
        return [row_problem_message(e) for e in sorted(self.errors, key=lambda e: e.row)]


def _checked_pdf(offer: ppv.Offer, files: PdfSource) -> tuple[bytes, int] | ppv.RowError:
    try:
        data = files[offer.file]()
        return data, check_pdf(data, max_bytes=settings.KEDE_MAX_UPLOAD_BYTES).pages
    except CopyRejected as exc:
        return ppv.RowError(row=offer.row, column="file", code=exc.code, value=offer.file)
    except OSError as exc:
        logger.warning("cannot read %s: %s", offer.file, exc)
        return ppv.RowError(row=offer.row, column="file", code="file_missing", value=offer.file)


def ppv_vendor_load(
    *,
    actor: User | None,
    code: str,
    name: str,
    prices: bytes,
    files: PdfSource,
    currency: str = "CNY",
) -> LoadReport:
    """Put a vendor's price list on sale: every good row is on sale at its price with its PDF,
    articles not in the list any more are withdrawn, bad rows are reported and change nothing.
    A list without a single good row changes nothing at all. `actor` None is a trusted caller
    (the command line); otherwise only the centre may."""
    if actor is not None and not ppv_may_manage(actor):
        raise PermissionDenied(_("Only the centre loads vendors' price lists."))
    code, name, currency = code.strip().upper(), name.strip(), currency.strip().upper()
    if not _CODE.fullmatch(code):
        raise ValidationError(
            {"code": _("A vendor code is up to 32 letters, digits, hyphens or underscores.")}
        )
    if not name:
        raise ValidationError({"name": _("Give the vendor's name.")})
    if not _CURRENCY.fullmatch(currency):
        raise ValidationError({"currency": _("Give the currency as a three-letter code.")})
    try:
        if len(prices) > MAX_PRICE_LIST_BYTES:
            raise ppv.PriceListError("too_large")
        parsed = ppv.parse_price_list(prices, currency=currency, files=list(files))
    except ppv.PriceListError as exc:
        raise ValidationError({"prices": price_list_message(exc)}) from exc
    report = LoadReport(errors=list(parsed.errors))
    vendor = Vendor.objects.filter(code=code).first()
    known = {}
    if vendor is not None:
        known = {o.sha256: o.file.name for o in VendorOffer.objects.filter(vendor=vendor)}
    good: list[tuple[ppv.Offer, str, str, int]] = []
    saved: list[str] = []
    try:
        for offer in parsed.offers:
            checked = _checked_pdf(offer, files)
            if isinstance(checked, ppv.RowError):
                report.errors.append(checked)
                continue
            data, pages = checked
            digest = hashlib.sha256(data).hexdigest()
            path = known.get(digest)
            if path is None:
                path = default_storage.save(
                    f"ppv/{code.lower()}/{digest[:16]}.pdf", ContentFile(data)
                )
                saved.append(path)
                known[digest] = path
            good.append((offer, path, digest, pages))
        if not good:
            _discard(saved)
            return report
        replaced = _record_offers(code, name, currency, good, report)
    except BaseException:
        _discard(saved)
        raise
    still_used = set(VendorOffer.objects.filter(file__in=replaced).values_list("file", flat=True))
    _discard([path for path in replaced if path not in still_used])
    logger.info(
        "vendor %s: %s offers loaded, %s withdrawn, %s rows rejected",
        code,
        report.loaded,
        report.withdrawn,
        report.rejected,
    )
    return report


@transaction.atomic
def _record_offers(
    code: str,
    name: str,
    currency: str,
    good: list[tuple[ppv.Offer, str, str, int]],
    report: LoadReport,
) -> list[str]:
    """Record the good rows; return the files no row of this vendor uses any more."""
    now = timezone.now()
    vendor, _created = Vendor.objects.update_or_create(
        code=code, defaults={"name": name, "currency": currency, "loaded_at": now}
    )
    before = dict(VendorOffer.objects.filter(vendor=vendor).values_list("ref", "file"))
    for offer, path, digest, pages in good:
        VendorOffer.objects.update_or_create(
            vendor=vendor,
            ref=offer.ref,
            defaults={
                "title": offer.title,
                "journal": offer.journal,
                "author": offer.author,
                "year": offer.year,
                "volume": offer.volume,
                "issue": offer.issue,
                "pages": offer.pages,
                "issn": offer.issn,
                "doi": offer.doi,
                "title_key": offer.title_key,
                "volume_key": offer.volume_key,
                "start_page": offer.start_page[:50],
                "price": offer.price,
                "currency": offer.currency,
                "file": path,
                "file_pages": pages,
                "sha256": digest,
                "active": True,
                "loaded_at": now,
            },
        )
    refs = {offer.ref for offer, *_rest in good}
    report.withdrawn = (
        VendorOffer.objects.filter(vendor=vendor, active=True)
        .exclude(ref__in=refs)
        .update(active=False)
    )
    report.vendor, report.applied, report.loaded = vendor, True, len(good)
    used = {path for _offer, path, *_rest in good}
    # A withdrawn article keeps its file: a purchase in flight may still fetch it.
    return [path for ref, path in before.items() if ref in refs and path and path not in used]


def _discard(paths: list[str]) -> None:
    for path in paths:
        try:
            default_storage.delete(path)
        except OSError:
            logger.exception("could not remove unused vendor file %s", path)


def vendors_overview() -> QuerySet[Vendor]:
    return Vendor.objects.annotate(
        on_sale=Count("offers", filter=Q(offers__active=True), distinct=True),
        sold=Count("purchases", filter=Q(purchases__status=PpvStatus.DELIVERED), distinct=True),
    ).order_by("code")


# ---- the connector for a vendor --------------------------------------------------------------


def _as_offer(row: VendorOffer) -> ppv.Offer:
    return ppv.Offer(
        ref=row.ref,
        title=row.title,
        price=row.price,
        currency=row.currency,
        file=row.file.name,
        doi=row.doi,
        issn=row.issn,
        journal=row.journal,
        author=row.author,
        year=row.year,
        volume=row.volume,
        issue=row.issue,
        pages=row.pages,
    )


class StoredOffers:
    """A vendor's offers in the database, found by the same keys the pure core matches on."""

    def __init__(self, vendor: Vendor) -> None:
        self.vendor = vendor

    def _on_sale(self) -> QuerySet[VendorOffer]:
        return VendorOffer.objects.filter(vendor=self.vendor, active=True).order_by("id")

    def with_doi(self, doi: str) -> list[ppv.Offer]:
        return [_as_offer(o) for o in self._on_sale().filter(doi=doi)[:5]]

    def with_issn(self, issn: str, volume: str, start_page: str) -> list[ppv.Offer]:
        rows = self._on_sale().filter(issn=issn, volume_key=volume, start_page=start_page)
        return [_as_offer(o) for o in rows[:5]]

    def with_title(self, title_key: str) -> list[ppv.Offer]:
        return [_as_offer(o) for o in self._on_sale().filter(title_key=title_key)[:20]]

    def with_ref(self, ref: str, *, withdrawn: bool = False) -> ppv.Offer | None:
        rows = VendorOffer.objects.filter(vendor=self.vendor, ref=ref)
        row = (rows if withdrawn else rows.filter(active=True)).first()
        return None if row is None else _as_offer(row)


def _read_stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def connector_for(vendor: Vendor) -> ppv.CatalogueVendor:
    """The connector that reaches the vendor (today: the price list the centre uploaded)."""
    return ppv.CatalogueVendor(vendor.code, StoredOffers(vendor), _read_stored)


# ---- prices shown to a reader ----------------------------------------------------------------


def citation_of_request(request) -> ppv.ArticleCitation:
    return ppv.ArticleCitation(
        title=request.title,
        year=request.year,
        volume=request.volume,
        issue=request.issue,
        pages=request.pages,
        issn=request.issn,
        doi=request.doi,
    )


@dataclass(frozen=True)
class PriceShown:
    """An article on sale as one reader sees it: the price, who pays what, the signed quote
    they confirm, and their earlier purchase of it whose file is still there, if any."""

    offer: VendorOffer
    split: ppv.Split
    library: Institution
    token: str
    earlier: PpvPurchase | None

    @property
    def price(self) -> str:
        return money(self.split.price, self.split.currency)

    @property
    def library_pays(self) -> str:
        return money(self.split.library_pays, self.split.currency)

    @property
    def reader_pays(self) -> str:
        return money(self.split.reader_pays, self.split.currency)


def _offers_on_sale() -> QuerySet[VendorOffer]:
    return VendorOffer.objects.filter(active=True, vendor__active=True).select_related("vendor")


def _available_purchase(user, offer: VendorOffer) -> PpvPurchase | None:
    latest = PpvPurchase.objects.filter(reader=user, offer=offer).order_by("-repeat").first()
    if latest is not None and (
        latest.is_available() or latest.status in (PpvStatus.ORDERING, PpvStatus.ORDERED)
    ):
        return latest
    return None


def _quote_payload(user, library: Institution, offer: VendorOffer, split: ppv.Split) -> dict:
    return {
        "r": user.id,
        "o": offer.id,
        "i": library.id,
        "p": str(split.price),
        "l": str(split.library_pays),
        "c": split.currency,
    }


def _shown(user, library: Institution, offer: VendorOffer) -> PriceShown:
    split = ppv.split_price(offer.price, offer.currency, share_policy_for(library))
    token = signing.dumps(_quote_payload(user, library, offer, split), salt=_QUOTE_SALT)
    return PriceShown(
        offer=offer,
        split=split,
        library=library,
        token=token,
        earlier=_available_purchase(user, offer),
    )


def ppv_quote(*, actor, citation: ppv.ArticleCitation) -> PriceShown | None:
    """The cheapest offer of any vendor for the article the citation names, priced for the
    person as a reader of their library; None when nobody sells it or they may not buy."""
    library = _reader_library(actor)
    if library is None:
        return None
    quotes: list[tuple[Decimal, str, ppv.Quote]] = []
    for vendor in Vendor.objects.filter(active=True).order_by("code"):
        try:
            quote = connector_for(vendor).quote(citation)
        except ppv.PpvError:
            logger.exception("vendor %s could not quote", vendor.code)
            continue
        if quote is not None:
            quotes.append((quote.price, vendor.code, quote))
    if not quotes:
        return None
    _price, code, quote = min(quotes, key=lambda q: (q[0], q[1]))
    offer = _offers_on_sale().filter(vendor__code=code, ref=quote.offer_ref).first()
    return None if offer is None else _shown(actor, library, offer)


def ppv_offer_shown(*, actor, offer_id: int) -> PriceShown:
    """One article on sale, priced for the person; VendorOffer.DoesNotExist when it is not on
    sale or they may not buy."""
    library = _reader_library(actor)
    if library is None:
        raise VendorOffer.DoesNotExist
    return _shown(actor, library, _offers_on_sale().get(id=offer_id))


def ppv_offers_of_journal(issn: str) -> QuerySet[VendorOffer]:
    """Articles on sale from one journal, newest first."""
    issn = normalise_issn(issn) or ""
    if not issn:
        return VendorOffer.objects.none()
    return _offers_on_sale().filter(issn=issn).order_by("-year", "volume_key", "start_page", "id")


# ---- buying ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurchaseResult:
    purchase: PpvPurchase
    new: bool  # False: the reader had bought it already (a double click, or an earlier visit)


def _refused(code: str) -> ValidationError:
    return ValidationError(purchase_refusal_message(code), code=code)


def ppv_purchase(*, actor: User, token: str) -> PurchaseResult:
    """Buy the article of a signed quote for `actor`, at the price and share they were shown,
    and deliver it at once. The same reader confirming twice gets one purchase. Raises
    ValidationError (with a code) when the quote is not theirs, too old, or out of date."""
    library = _reader_library(actor)
    if library is None:
        raise _refused("not_reader")
    try:
        payload = signing.loads(token, salt=_QUOTE_SALT, max_age=QUOTE_MAX_AGE)
    except signing.SignatureExpired:
        raise _refused("quote_expired") from None
    except signing.BadSignature:
        raise _refused("bad_quote") from None
    if not isinstance(payload, dict) or payload.get("r") != actor.id:
        raise _refused("bad_quote")
    offer = _offers_on_sale().filter(id=payload.get("o")).first()
    if offer is None:
        raise _refused("withdrawn")
    split = ppv.split_price(offer.price, offer.currency, share_policy_for(library))
    if _quote_payload(actor, library, offer, split) != payload:
        raise _refused("price_changed")
    purchase, new = _purchase_once(actor, library, offer, split)
    if purchase.status in (PpvStatus.ORDERING, PpvStatus.ORDERED):
        purchase = ppv_fulfil(purchase=purchase)
    return PurchaseResult(purchase=purchase, new=new)


def _purchase_once(
    actor: User, library: Institution, offer: VendorOffer, split: ppv.Split
) -> tuple[PpvPurchase, bool]:
    from kede.delivery.ppv_tasks import complete_ppv_purchase

    with transaction.atomic():
        earlier = (
            PpvPurchase.objects.select_for_update()
            .filter(reader=actor, offer=offer)
            .order_by("-repeat")
            .first()
        )
        if earlier is not None and (
            earlier.is_available() or earlier.status in (PpvStatus.ORDERING, PpvStatus.ORDERED)
        ):
            return earlier, False
        repeat = earlier.repeat + 1 if earlier is not None else 0
        try:
            with transaction.atomic():
                purchase = PpvPurchase.objects.create(
                    reader=actor,
                    institution=library,
                    offer=offer,
                    vendor=offer.vendor,
                    repeat=repeat,
                    title=offer.title,
                    price=split.price,
                    library_pays=split.library_pays,
                    reader_pays=split.reader_pays,
                    currency=split.currency,
                )
        except IntegrityError:  # the same confirmation, a moment earlier, in another request
            return PpvPurchase.objects.get(reader=actor, offer=offer, repeat=repeat), False
        complete_ppv_purchase.using(run_after=timezone.now() + COMPLETE_AFTER).enqueue(
            purchase_id=purchase.id, attempt=1
        )
    return purchase, True


def _order_of(purchase: PpvPurchase) -> ppv.Order:
    return ppv.Order(
        vendor=purchase.vendor.code,
        order_ref=purchase.vendor_order_ref,
        offer_ref=purchase.offer.ref,
        buyer_ref=purchase.number,
        price=purchase.price,
        currency=purchase.currency,
    )


def ppv_fulfil(*, purchase: PpvPurchase) -> PpvPurchase:
    """Take a confirmed purchase as far as it goes now: order it from the vendor, then fetch
    the file, stamp it for the reader and deliver it with its charges. Each step changes the
    status only from the one before, so running this twice at once does every step once. A
    vendor that refuses the order fails the purchase (nothing is charged); a file that cannot
    be fetched leaves it ordered, for the task to try again."""
    purchase = PpvPurchase.objects.select_related("offer", "vendor", "reader", "institution").get(
        pk=purchase.pk
    )
    connector = connector_for(purchase.vendor)
    if purchase.status == PpvStatus.ORDERING:
        quote = ppv.Quote(
            vendor=purchase.vendor.code,
            offer_ref=purchase.offer.ref,
            title=purchase.title,
            price=purchase.price,
            currency=purchase.currency,
        )
        try:
            order = connector.order(quote, purchase.number)
        except (ppv.NotOffered, ppv.PriceChanged) as exc:
            PpvPurchase.objects.filter(pk=purchase.pk, status=PpvStatus.ORDERING).update(
                status=PpvStatus.FAILED, failure=exc.code
            )
            logger.info("purchase %s refused by the vendor: %s", purchase.number, exc.code)
            return PpvPurchase.objects.get(pk=purchase.pk)
        except ppv.PpvError:  # the vendor cannot be reached now: the task tries again
            logger.exception("purchase %s could not be ordered now", purchase.number)
            return purchase
        PpvPurchase.objects.filter(pk=purchase.pk, status=PpvStatus.ORDERING).update(
            status=PpvStatus.ORDERED, vendor_order_ref=order.order_ref, ordered_at=timezone.now()
        )
        purchase.refresh_from_db()
    if purchase.status == PpvStatus.ORDERED:
        _deliver(purchase, connector)
        purchase.refresh_from_db()
    return purchase


def _stamp_labels() -> dict[str, str]:
    return {
        "title": _("Kede pay-per-view"),
        "request": _("Purchase"),
        "reader": _("Reader"),
        "institution": _("Library"),
        "supplier": _("Sold by"),
        "date": _("Date"),
        "pages": _("Pages"),
        "footer_notice": _("Bought for the reader's own study."),
    }


def _licence_notice() -> str:
    return _(
        "This article was bought for the private study or research of the reader named above "
        "only. It may not be copied again, passed on or published."
    )


def _deliver(purchase: PpvPurchase, connector: ppv.VendorConnector) -> bool:
    from kede.delivery.services import limits_for

    reader = purchase.reader
    try:
        data = connector.fetch(_order_of(purchase))
        with translation.override(reader.preferred_language or settings.LANGUAGE_CODE):
            stamped = stamp_copy(
                data,
                request_number=purchase.number,
                reader_name=reader.shown_name,
                institution=purchase.institution.local_name,
                supplier=purchase.vendor.name,
                notice=_licence_notice(),
                delivered_on=timezone.localdate(),
                labels=_stamp_labels(),
            )
        pages = len(PdfReader(io.BytesIO(stamped)).pages)
    except (ppv.FileUnavailable, CopyRejected) as exc:
        logger.error("purchase %s: the file cannot be had now (%s)", purchase.number, exc)
        return False
    digest = hashlib.sha256(stamped).hexdigest()
    try:
        path = default_storage.save(
            f"ppv-copies/{timezone.localdate():%Y/%m}/{digest[:16]}.pdf", ContentFile(stamped)
        )
    except OSError:
        logger.exception("purchase %s: storing the file failed", purchase.number)
        return False
    now = timezone.now()
    limits = limits_for(None)
    try:
        with transaction.atomic():
            delivered = PpvPurchase.objects.filter(pk=purchase.pk, status=PpvStatus.ORDERED).update(
                status=PpvStatus.DELIVERED,
                delivered_at=now,
                file=path,
                size=len(stamped),
                pages=pages,
                sha256=digest,
                download_limit=limits.download_limit,
                expires_at=now + datetime.timedelta(days=limits.days_after_upload),
                days_after_first_download=limits.days_after_first_download,
            )
            if delivered:
                _record_charges(purchase, now)
    except BaseException:
        _discard([path])
        raise
    if not delivered:  # delivered meanwhile by the other runner
        _discard([path])
    return bool(delivered)


def _record_charges(purchase: PpvPurchase, now: datetime.datetime) -> None:
    for payer, amount in (
        (PpvPayer.LIBRARY, purchase.library_pays),
        (PpvPayer.READER, purchase.reader_pays),
    ):
        if amount > 0:
            PpvCharge.objects.create(
                purchase=purchase,
                payer=payer,
                institution=purchase.institution,
                reader=purchase.reader,
                vendor=purchase.vendor,
                amount=amount,
                currency=purchase.currency,
                created_at=now,
            )


def ppv_purchases_unfinished() -> QuerySet[PpvPurchase]:
    return PpvPurchase.objects.filter(status__in=[PpvStatus.ORDERING, PpvStatus.ORDERED])


# ---- the reader's purchases and the file -----------------------------------------------------


def purchases_of_reader(user) -> QuerySet[PpvPurchase]:
    """The person's own purchases, newest first; nobody else's are ever listed."""
    if not user.is_authenticated:
        return PpvPurchase.objects.none()
    return (
        PpvPurchase.objects.filter(reader=user)
        .select_related("vendor", "offer", "institution")
        .order_by("-created_at", "-id")
    )


def purchase_for_reader(user, purchase_id: int) -> PpvPurchase:
    """One of the person's own purchases; another reader's looks like none at all."""
    return purchases_of_reader(user).get(id=purchase_id)


def ppv_link(purchase: PpvPurchase) -> str:
    token = signing.dumps({"p": purchase.id, "r": purchase.reader_id}, salt=_LINK_SALT)
    return reverse("portal:ppv-download", kwargs={"purchase_id": purchase.id, "token": token})


class PpvDownloadRefused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def download_refusal_message(code: str) -> str:
    return {
        "bad_link": _("This download link is not valid. Use the link on your purchase's page."),
        "not_yours": _("This article was bought by someone else."),
        "not_ready": _("The file is not ready yet; try again in a few minutes."),
        "deleted": _("This file has been deleted: its download period or limit is over."),
        "expired": _("This file's download period is over."),
        "used_up": _("This file has been downloaded as many times as allowed."),
    }.get(code, _("This file cannot be downloaded."))


def ppv_download(*, actor: User, purchase_id: int, token: str, ip: str | None) -> PpvPurchase:
    """Count one download by the buyer through a signed link, or say why not. Only the reader
    who bought the article may download it. Every try is logged."""
    purchase = PpvPurchase.objects.filter(id=purchase_id).first()
    if purchase is None:
        raise PpvDownloadRefused("bad_link")
    outcome = "ok"
    try:
        try:
            payload = signing.loads(token, salt=_LINK_SALT)
        except signing.BadSignature:
            raise PpvDownloadRefused("bad_link") from None
        if payload != {"p": purchase.id, "r": purchase.reader_id}:
            raise PpvDownloadRefused("bad_link")
        if actor.id != purchase.reader_id:
            raise PpvDownloadRefused("not_yours")
        now = timezone.now()
        if purchase.status != PpvStatus.DELIVERED or purchase.expires_at is None:
            raise PpvDownloadRefused("not_ready")
        if purchase.deleted_at is not None:
            raise PpvDownloadRefused("deleted")
        if now >= purchase.expires_at:
            raise PpvDownloadRefused("expired")
        counted = PpvPurchase.objects.filter(
            id=purchase.id,
            deleted_at__isnull=True,
            expires_at__gt=now,
            downloads__lt=F("download_limit"),
        ).update(downloads=F("downloads") + 1)
        if not counted:
            raise PpvDownloadRefused("used_up")
        ends = now + datetime.timedelta(days=purchase.days_after_first_download)
        PpvPurchase.objects.filter(id=purchase.id, first_downloaded_at__isnull=True).update(
            first_downloaded_at=now, expires_at=Least(F("expires_at"), Value(ends))
        )
    except PpvDownloadRefused as exc:
        outcome = exc.code
        raise
    finally:
        PpvDownloadLog.objects.create(purchase=purchase, user=actor, ip=ip, outcome=outcome)
    purchase.refresh_from_db()
    return purchase


def ppv_purge_expired(now: datetime.datetime | None = None) -> int:
    """Delete the files of purchases past their period or limit. Safe to run twice at once."""
    now = now or timezone.now()
    due = PpvPurchase.objects.filter(status=PpvStatus.DELIVERED, deleted_at__isnull=True).filter(
        Q(expires_at__lte=now) | Q(downloads__gte=F("download_limit"))
    )
    purged = 0
    for purchase in due.iterator():
        reason = "used_up" if purchase.downloads >= purchase.download_limit else "expired"
        try:
            default_storage.delete(purchase.file.name)
        except OSError:
            logger.exception("could not delete purchased file %s; will retry", purchase.file.name)
            continue
        purged += PpvPurchase.objects.filter(id=purchase.id, deleted_at__isnull=True).update(
            deleted_at=now, deleted_reason=reason
        )
    return purged


# ---- the demo --------------------------------------------------------------------------------

DEMO_VENDOR = ("DEMOPUB", "可得演示出版社 Kede Demo Press")
DEMO_ARTICLES = [
    # doi, issn, journal, title, year, volume, issue, pages, price
    ("10.5555/kede.demo.1", "0031-2746", "Past & present", "The moral economy revisited",
     "2019", "243", "1", "3-40", "25.00"),
    ("10.5555/kede.demo.2", "0031-2746", "Past & present", "Silk, tea and the Canton trade",
     "2021", "250", "1", "61-98", "25.00"),
    ("10.5555/kede.demo.3", "", "可得演示学报", "川西高原的茶马古道", "2023", "12", "3",
     "45-67", "12.00"),
]  # fmt: skip


def _demo_price_list() -> bytes:
    import csv

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["doi", "issn", "journal", "title", "year", "volume", "issue", "pages",
                     "price", "file"])  # fmt: skip
    for n, row in enumerate(DEMO_ARTICLES, start=1):
        writer.writerow([*row, f"article-{n}.pdf"])
    return out.getvalue().encode()


def ppv_demo_load() -> int:
    """A demo vendor with three articles on sale, and the consortium paying half of each
    article up to ¥20. Safe to run again; returns the articles put on sale."""
    from kede.delivery.ebooks import demo_pdf

    if Vendor.objects.filter(code=DEMO_VENDOR[0]).exists():
        return 0
    files = {
        f"article-{n}.pdf": (lambda title=row[3], journal=row[2]: demo_pdf(title, journal, [title]))
        for n, row in enumerate(DEMO_ARTICLES, start=1)
    }
    report = ppv_vendor_load(
        actor=None,
        code=DEMO_VENDOR[0],
        name=DEMO_VENDOR[1],
        prices=_demo_price_list(),
        files=files,
    )
    if not PpvPolicy.objects.filter(institution__isnull=True).exists():
        ppv_policy_set(actor=None, institution=None, percent=Decimal(50), cap=Decimal(20))
    return report.loaded


def parse_amount(raw: str) -> Decimal:
    """A money amount or percentage typed by a person; ValueError when it is not one."""
    try:
        value = Decimal(raw.strip())
    except InvalidOperation as exc:
        raise ValueError(raw) from exc
    if not value.is_finite():
        raise ValueError(raw)
    return value
