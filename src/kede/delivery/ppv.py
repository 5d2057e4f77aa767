"""Pay-per-view: buying one article from a vendor for one reader. Pure: no Django.

A vendor is reached through a `VendorConnector`: `quote` says whether it sells the article a
citation names and at what price, `order` buys it for one purchase, `fetch` hands over the file.
`CatalogueVendor` is the connector for a vendor whose price list (a CSV) and files (PDFs) the
centre uploads; `parse_price_list` reads that list row by row, keeping the good rows and saying
for every bad one which row, which column and what is wrong. `split_price` says what the
reader's library pays of a price and what the reader pays.

Every error here extends `PpvError`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from kede.catalog.normalise import fold_text, volume_key
from kede.core.identifiers import normalise_doi, normalise_issn

CENT = Decimal("0.01")
MAX_PRICE = Decimal("99999.99")
MAX_ROWS = 100_000
MAX_TITLE = 1000
REQUIRED_COLUMNS = ("title", "price", "file")
OPTIONAL_COLUMNS = ("doi", "issn", "journal", "author", "year", "volume", "issue", "pages",
                    "currency")  # fmt: skip
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

_PRICE = re.compile(r"[0-9]{1,5}(?:\.[0-9]{1,2})?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_YEAR = re.compile(r"[0-9]{4}")
_FILE = re.compile(r"[^/\\:*?\"<>|\x00-\x1f]{1,200}")
_FIRST_PAGE = re.compile(r"[0-9A-Za-z]+")


# ---- errors ----------------------------------------------------------------------------------


class PpvError(Exception):
    """Anything that goes wrong buying an article; `code` says what, `params` the details."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


class PriceListError(PpvError):
    """The price list as a whole cannot be read (not a CSV, a required column missing…)."""


class NotOffered(PpvError):
    """The vendor no longer sells the article quoted."""


class PriceChanged(PpvError):
    """The vendor's price is no longer the one quoted; `params["price"]` is the new one."""


class FileUnavailable(PpvError):
    """The vendor accepted the order but cannot hand over the file now."""


# ---- citations, offers, quotes, orders -------------------------------------------------------


@dataclass(frozen=True)
class ArticleCitation:
    """What a reader asks for, as they gave it."""

    title: str = ""
    year: str = ""
    volume: str = ""
    issue: str = ""
    pages: str = ""
    issn: str = ""
    doi: str = ""


@dataclass(frozen=True)
class Offer:
    """One article a vendor sells: a row of its price list."""

    ref: str  # the vendor's own name for the article; for a price list, its file's name
    title: str
    price: Decimal
    currency: str
    file: str
    doi: str = ""  # normalised, lower case
    issn: str = ""  # NNNN-NNNC
    journal: str = ""
    author: str = ""
    year: str = ""
    volume: str = ""
    issue: str = ""
    pages: str = ""
    row: int = 0  # its row in the price list, the header being row 1

    @property
    def title_key(self) -> str:
        return title_key(self.title)

    @property
    def volume_key(self) -> str:
        return volume_key(self.volume)

    @property
    def start_page(self) -> str:
        return start_page(self.pages)


@dataclass(frozen=True)
class Quote:
    vendor: str
    offer_ref: str
    title: str
    price: Decimal
    currency: str


@dataclass(frozen=True)
class Order:
    vendor: str
    order_ref: str
    offer_ref: str
    buyer_ref: str
    price: Decimal
    currency: str


class VendorConnector(Protocol):
    """How Kede talks to a vendor. `order` must be idempotent for one `buyer_ref`: Kede may
    place the same order again after a crash, and expects the same order back, not a second."""

    code: str

    def quote(self, citation: ArticleCitation) -> Quote | None: ...

    def order(self, quote: Quote, buyer_ref: str) -> Order: ...

    def fetch(self, order: Order) -> bytes: ...


# ---- match keys ------------------------------------------------------------------------------


def title_key(title: str) -> str:
    return fold_text(title)[:500]


def start_page(pages: str) -> str:
    """The first page of "45-67", "e1023", "3, 9-12": "45", "e1023", "3"; "" if none."""
    match = _FIRST_PAGE.search(pages or "")
    if match is None:
        return ""
    page = match.group(0).lower()
    return (page.lstrip("0") or "0") if page.isdigit() else page


def doi_key(raw: str) -> str:
    doi = normalise_doi(raw or "")
    return doi.lower() if doi else ""


# ---- finding the offer for a citation --------------------------------------------------------


class OfferLookup(Protocol):
    """Where a connector finds a vendor's offers: in memory, or in the database."""

    def with_doi(self, doi: str) -> Sequence[Offer]: ...

    def with_issn(self, issn: str, volume: str, start_page: str) -> Sequence[Offer]: ...

    def with_title(self, title_key: str) -> Sequence[Offer]: ...

    def with_ref(self, ref: str, *, withdrawn: bool = False) -> Offer | None: ...


class OfferIndex:
    """An `OfferLookup` over a list of offers held in memory."""

    def __init__(self, offers: Iterable[Offer]) -> None:
        self.offers = list(offers)

    def with_doi(self, doi: str) -> list[Offer]:
        return [o for o in self.offers if o.doi and o.doi == doi]

    def with_issn(self, issn: str, volume: str, start_page: str) -> list[Offer]:
        return [
            o
            for o in self.offers
            if o.issn == issn and o.volume_key == volume and o.start_page == start_page
        ]

    def with_title(self, title_key: str) -> list[Offer]:
        return [o for o in self.offers if o.title_key == title_key]

    def with_ref(self, ref: str, *, withdrawn: bool = False) -> Offer | None:
        return next((o for o in self.offers if o.ref == ref), None)


def match_offer(offers: OfferLookup, citation: ArticleCitation) -> Offer | None:
    """The offer for the article the citation names: by DOI; else by ISSN, volume and first
    page; else by title and year. An offer with another DOI than the citation's is never taken.
    A title that names several articles (same title, no year to tell them apart) matches none:
    better no offer than the wrong article sold."""
    doi = doi_key(citation.doi)
    if doi:
        found = offers.with_doi(doi)
        if found:
            return found[0]

    def compatible(offer: Offer) -> bool:
        return not (doi and offer.doi and offer.doi != doi)

    issn = normalise_issn(citation.issn or "") or ""
    volume, page = volume_key(citation.volume), start_page(citation.pages)
    if issn and volume and page:
        found = [o for o in offers.with_issn(issn, volume, page) if compatible(o)]
        if found:
            return found[0]
    key = title_key(citation.title)
    if not key:
        return None
    year = citation.year.strip()
    found = [
        o
        for o in offers.with_title(key)
        if compatible(o) and (not year or not o.year or o.year == year)
    ]
    if year and len(found) > 1:
        found = [o for o in found if o.year == year] or found
    return found[0] if len(found) == 1 else None


# ---- the price-list vendor -------------------------------------------------------------------


class CatalogueVendor:
    """A vendor whose price list and files are held by the centre: quoting is matching the
    citation against the list, ordering checks the offer still stands at the quoted price, and
    the file is read from where the centre keeps it."""

    def __init__(self, code: str, offers: OfferLookup, read_file: Callable[[str], bytes]) -> None:
        self.code = code
        self.offers = offers
        self.read_file = read_file

    def quote(self, citation: ArticleCitation) -> Quote | None:
        offer = match_offer(self.offers, citation)
        return None if offer is None else self.quote_offer(offer)

    def quote_offer(self, offer: Offer) -> Quote:
        return Quote(
            vendor=self.code,
            offer_ref=offer.ref,
            title=offer.title,
            price=offer.price,
            currency=offer.currency,
        )

    def order(self, quote: Quote, buyer_ref: str) -> Order:
        if quote.vendor != self.code:
            raise NotOffered("other_vendor", vendor=quote.vendor)
        offer = self.offers.with_ref(quote.offer_ref)
        if offer is None:
            raise NotOffered("withdrawn", ref=quote.offer_ref)
        if (offer.price, offer.currency) != (quote.price, quote.currency):
            raise PriceChanged("price_changed", price=offer.price, currency=offer.currency)
        digest = hashlib.sha256(f"{self.code}\x00{buyer_ref}".encode()).hexdigest()[:12]
        return Order(
            vendor=self.code,
            order_ref=f"{self.code}-{digest}",
            offer_ref=offer.ref,
            buyer_ref=buyer_ref,
            price=offer.price,
            currency=offer.currency,
        )

    def fetch(self, order: Order) -> bytes:
        offer = self.offers.with_ref(order.offer_ref, withdrawn=True)
        if offer is None:
            raise FileUnavailable("no_offer", ref=order.offer_ref)
        try:
            return self.read_file(offer.file)
        except (OSError, KeyError) as exc:
            raise FileUnavailable("unreadable", file=offer.file, detail=str(exc)[:200]) from exc


# ---- the price list --------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One thing wrong with one row: `row` as a spreadsheet numbers it (the header is row 1)."""

    row: int
    column: str
    code: str
    value: str = ""
    first_row: int = 0  # for a duplicate: the row that gave the value first


@dataclass
class PriceList:
    offers: list[Offer] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected_rows(self) -> list[int]:
        return sorted({e.row for e in self.errors})


def decode_price_list(data: bytes) -> str:
    """UTF-8 (with or without the BOM spreadsheets write), else GB 18030, as Chinese
    spreadsheet programs save CSV."""
    if b"\x00" in data:
        raise PriceListError("binary")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise PriceListError("encoding")


def _cell(record: list[str], index: dict[str, int], column: str) -> str:
    position = index.get(column)
    if position is None or position >= len(record):
        return ""
    return record[position].strip()


def parse_price_list(
    text: str | bytes,
    *,
    currency: str = "CNY",
    files: Collection[str] | None = None,
) -> PriceList:
    """Read a price list. Columns (a header row, any order, any case): title, price and file
    are required; doi, issn, journal, author, year, volume, issue, pages and currency are
    optional. `currency` is the vendor's: a row in another is refused. `files`, when given,
    are the names of the files uploaded with the list: a row whose file is not among them is
    refused. Raises PriceListError when the list as a whole cannot be read."""
    if isinstance(text, bytes):
        text = decode_price_list(text)
    if "\x00" in text:
        raise PriceListError("binary")
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    result = PriceList()
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            raise PriceListError("empty")
        names = [cell.strip().lower() for cell in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise PriceListError("missing_columns", columns=missing, found=names)
        index: dict[str, int] = {}
        for position, name in enumerate(names):
            if name in COLUMNS and name not in index:
                index[name] = position
        seen_files: dict[str, int] = {}
        seen_dois: dict[str, int] = {}
        available = set(files) if files is not None else None
        row = 1
        for record in reader:
            row += 1
            if row > MAX_ROWS + 1:
                raise PriceListError("too_many_rows", limit=MAX_ROWS)
            if not any(cell.strip() for cell in record):
                continue
            offer, errors = _read_row(
                row, record, index, len(names), currency, available, seen_files, seen_dois
            )
            if errors:
                result.errors.extend(errors)
            elif offer is not None:
                result.offers.append(offer)
    except csv.Error as exc:
        raise PriceListError("not_csv", line=reader.line_num, detail=str(exc)) from exc
    return result


def _read_row(
    row: int,
    record: list[str],
    index: dict[str, int],
    width: int,
    vendor_currency: str,
    available: set[str] | None,
    seen_files: dict[str, int],
    seen_dois: dict[str, int],
) -> tuple[Offer | None, list[RowError]]:
    errors: list[RowError] = []

    def cell(column: str) -> str:
        return _cell(record, index, column)

    def refuse(column: str, code: str, value: str = "", first_row: int = 0) -> None:
        errors.append(
            RowError(row=row, column=column, code=code, value=value[:100], first_row=first_row)
        )

    if any(cell.strip() for cell in record[width:]):
        refuse("", "extra_cells", ", ".join(c.strip() for c in record[width:] if c.strip()))

    title = " ".join(cell("title").split())
    if not title:
        refuse("title", "missing")
    elif len(title) > MAX_TITLE:
        refuse("title", "too_long", title)

    raw_price = cell("price")
    price = Decimal(0)
    if not raw_price:
        refuse("price", "missing")
    elif not _PRICE.fullmatch(raw_price):
        refuse("price", "bad_price", raw_price)
    else:
        price = Decimal(raw_price).quantize(CENT)
        if price <= 0:
            refuse("price", "not_positive", raw_price)

    currency = cell("currency").upper() or vendor_currency
    if not _CURRENCY.fullmatch(currency):
        refuse("currency", "bad_currency", cell("currency"))
    elif currency != vendor_currency:
        refuse("currency", "other_currency", currency)

    file = cell("file")
    if not file:
        refuse("file", "missing")
    elif not _FILE.fullmatch(file) or file.startswith(".") or not file.lower().endswith(".pdf"):
        refuse("file", "bad_file_name", file)
    elif available is not None and file not in available:
        refuse("file", "file_missing", file)
    elif file in seen_files:
        refuse("file", "duplicate", file, seen_files[file])

    raw_doi = cell("doi")
    doi = doi_key(raw_doi)
    if raw_doi and not doi:
        refuse("doi", "bad_doi", raw_doi)
    elif doi in seen_dois:
        refuse("doi", "duplicate", raw_doi, seen_dois[doi])

    raw_issn = cell("issn")
    issn = (normalise_issn(raw_issn) or "") if raw_issn else ""
    if raw_issn and not issn:
        refuse("issn", "bad_issn", raw_issn)

    year = cell("year")
    if year and not _YEAR.fullmatch(year):
        refuse("year", "bad_year", year)

    short = {c: " ".join(cell(c).split()) for c in ("volume", "issue", "pages")}
    for column, value in short.items():
        if len(value) > 50:
            refuse(column, "too_long", value)
    journal, author = " ".join(cell("journal").split()), " ".join(cell("author").split())
    if len(journal) > MAX_TITLE:
        refuse("journal", "too_long", journal)
    if len(author) > 500:
        refuse("author", "too_long", author)

    if errors:
        return None, errors
    seen_files[file] = row
    if doi:
        seen_dois[doi] = row
    return (
        Offer(
            ref=file,
            title=title,
            price=price,
            currency=currency,
            file=file,
            doi=doi,
            issn=issn,
            journal=journal,
            author=author,
            year=year,
            volume=short["volume"],
            issue=short["issue"],
            pages=short["pages"],
            row=row,
        ),
        [],
    )


# ---- who pays what ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SharePolicy:
    """The library pays `percent` of each article's price, at most `cap` (in `currency`) an
    article; no cap when `cap` is None."""

    percent: Decimal = Decimal(0)
    cap: Decimal | None = None
    currency: str = "CNY"


@dataclass(frozen=True)
class Split:
    price: Decimal
    library_pays: Decimal
    reader_pays: Decimal
    currency: str


def split_price(price: Decimal, currency: str, policy: SharePolicy) -> Split:
    """What the library pays of `price` and what the reader pays; the two add up to the price.
    A cap in another currency than the price's cannot bound the library's cost, so then the
    library pays nothing and the reader sees the whole price before buying."""
    price = Decimal(price)
    if not price.is_finite() or price < 0:
        raise PpvError("bad_price", price=price)
    if not Decimal(0) <= policy.percent <= Decimal(100):
        raise PpvError("bad_percent", percent=policy.percent)
    if policy.cap is not None and policy.cap < 0:
        raise PpvError("bad_cap", cap=policy.cap)
    price = price.quantize(CENT, rounding=ROUND_HALF_UP)
    if policy.cap is not None and currency != policy.currency:
        library = Decimal("0.00")
    else:
        library = (price * policy.percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        if policy.cap is not None:
            library = min(library, policy.cap.quantize(CENT, rounding=ROUND_HALF_UP))
    library = min(library, price)
    return Split(price=price, library_pays=library, reader_pays=price - library, currency=currency)
