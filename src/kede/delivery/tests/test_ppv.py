"""Pay-per-view's core: reading a vendor's price list, finding the article a citation names,
ordering and fetching it, and who pays what. Pure: no database."""

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kede.delivery import ppv
from kede.delivery.ppv import (
    ArticleCitation,
    CatalogueVendor,
    OfferIndex,
    PriceListError,
    SharePolicy,
    match_offer,
    parse_price_list,
    split_price,
)

HEADER = ["doi", "issn", "journal", "title", "year", "volume", "issue", "pages", "price", "file"]


def price_list(*rows: list[str], header: list[str] = HEADER) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


GOOD = ["10.1000/PP.50.76", "0031-2746", "Past & present", "The moral economy of the crowd",
        "1971", "50", "1", "76-136", "25.00", "thompson.pdf"]  # fmt: skip


# ---- the price list --------------------------------------------------------------------------


def test_a_spreadsheets_csv_is_read_with_exact_prices_and_normalised_identifiers():
    # given a list saved by a spreadsheet: BOM, CRLF, headers in another case and order
    text = price_list(
        ["12.5", "b.pdf", "Silk and tea", "https://doi.org/10.5555/ABC.1", "00312746"],
        header=["Price", "FILE", "Title", "DOI", "ISSN"],
    )
    # when it is read
    result = parse_price_list(("\ufeff" + text).encode("utf-8"))
    # then the row is on sale at exactly 12.50, with its DOI and ISSN written one way
    assert result.errors == []
    (offer,) = result.offers
    assert offer.price == Decimal("12.50") and isinstance(offer.price, Decimal)
    assert offer.doi == "10.5555/abc.1"
    assert offer.issn == "0031-2746"
    assert (offer.ref, offer.file, offer.currency, offer.row) == ("b.pdf", "b.pdf", "CNY", 2)


def test_a_list_saved_as_gb18030_by_a_chinese_spreadsheet_is_read():
    text = price_list(["", "", "可得演示学报", "川西高原的茶马古道", "2023", "12", "3", "45-67",
                       "12.00", "茶马古道.pdf"])  # fmt: skip
    result = parse_price_list(text.encode("gb18030"))
    assert [o.title for o in result.offers] == ["川西高原的茶马古道"]
    assert result.offers[0].file == "茶马古道.pdf"


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [
        ("price", "12,50", "bad_price"),
        ("price", "-3", "bad_price"),
        ("price", "1e3", "bad_price"),
        ("price", "NaN", "bad_price"),
        ("price", "0.00", "not_positive"),
        ("price", "", "missing"),
        ("title", "  ", "missing"),
        ("doi", "doi-less", "bad_doi"),
        ("issn", "0031-2745", "bad_issn"),
        ("year", "19x1", "bad_year"),
        ("file", "../../etc/passwd.pdf", "bad_file_name"),
        ("file", "thompson.docx", "bad_file_name"),
        ("file", "", "missing"),
    ],
)
def test_a_bad_cell_is_reported_by_row_and_column_and_the_good_rows_are_kept(column, value, code):
    # given a list whose second data row has one bad cell
    bad = list(GOOD)
    bad[HEADER.index(column)] = value
    bad[HEADER.index("file")] = value if column == "file" else "other.pdf"
    bad[HEADER.index("doi")] = value if column == "doi" else ""
    # when it is read
    result = parse_price_list(price_list(GOOD, bad))
    # then the first is on sale and the second is refused, saying where and why
    assert [o.row for o in result.offers] == [2]
    assert result.errors == [ppv.RowError(row=3, column=column, code=code, value=value.strip())]


def test_every_problem_of_a_row_is_reported_not_only_the_first():
    row = ["10.1/x", "1234-5678", "", "", "2O20", "", "", "", "cheap", "x.pdf"]
    result = parse_price_list(price_list(row))
    assert result.offers == []
    assert {(e.column, e.code) for e in result.errors} == {
        ("doi", "bad_doi"),
        ("issn", "bad_issn"),
        ("title", "missing"),
        ("year", "bad_year"),
        ("price", "bad_price"),
    }
    assert result.rejected_rows == [2]


def test_the_same_file_or_doi_twice_is_refused_naming_the_row_that_had_it_first():
    again = list(GOOD)
    again[HEADER.index("doi")] = "10.1000/pp.50.76"
    result = parse_price_list(price_list(GOOD, again))
    assert [o.row for o in result.offers] == [2]
    assert {(e.column, e.code, e.first_row) for e in result.errors} == {
        ("file", "duplicate", 2),
        ("doi", "duplicate", 2),
    }


def test_rows_in_another_currency_or_naming_a_file_not_uploaded_are_refused():
    usd = ["", *GOOD[1:-1], "a.pdf"]
    text = price_list([*GOOD, "CNY"], [*usd, "usd"], header=[*HEADER, "currency"])
    result = parse_price_list(text, files={"thompson.pdf"})
    assert [o.file for o in result.offers] == ["thompson.pdf"]
    assert {(e.column, e.code, e.value) for e in result.errors} == {
        ("currency", "other_currency", "USD"),
        ("file", "file_missing", "a.pdf"),
    }


def test_row_numbers_are_the_spreadsheets_even_after_blank_lines_and_cells_on_two_lines():
    multi = list(GOOD)
    multi[HEADER.index("title")] = "A title\nbroken over two lines"
    multi[HEADER.index("file")] = "two.pdf"
    multi[HEADER.index("doi")] = ""
    bad = [*GOOD[:-2], "x", "three.pdf"]
    bad[0] = ""
    text = price_list(GOOD, ["", "", ""], multi, bad)
    result = parse_price_list(text)
    assert [o.row for o in result.offers] == [2, 4]
    assert result.offers[1].title == "A title broken over two lines"
    assert [e.row for e in result.errors] == [5]


def test_cells_beyond_the_header_are_refused_rather_than_guessed():
    result = parse_price_list(price_list([*GOOD, "stray"]))
    assert result.offers == []
    assert result.errors == [ppv.RowError(row=2, column="", code="extra_cells", value="stray")]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"title,price\nA,1\n", "missing_columns"),
        (b"%PDF-1.7\x00\x01binary", "binary"),
    ],
)
def test_a_list_that_cannot_be_read_at_all_is_refused_as_a_whole(data, code):
    with pytest.raises(PriceListError) as exc:
        parse_price_list(data)
    assert exc.value.code == code
    assert isinstance(exc.value, ppv.PpvError)


def test_a_missing_column_is_named():
    with pytest.raises(PriceListError) as exc:
        parse_price_list("Title,Price\nA,1\n")
    assert exc.value.params["columns"] == ["file"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([*'ab1.,"\n\r -/\\x', "é", "价"]), max_size=400))
def test_fuzz_any_text_is_either_refused_whole_or_every_row_is_accounted_for(body):
    # given a valid header and anything after it
    text = "title,price,file,doi,year\n" + body
    try:
        result = parse_price_list(text)
    except PriceListError as exc:
        assert exc.code in {"not_csv", "binary"}
        return
    # then each row is either on sale or refused, never both, and what is on sale is sane
    sold = {o.row for o in result.offers}
    refused = set(result.rejected_rows)
    assert not sold & refused
    assert all(o.price > 0 and o.price == o.price.quantize(Decimal("0.01")) for o in result.offers)
    assert all(o.file.lower().endswith(".pdf") and "/" not in o.file for o in result.offers)
    assert len({o.file for o in result.offers}) == len(result.offers)
    assert all(e.row >= 2 for e in result.errors)


words = st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=30)
prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(words, prices, st.integers(1000, 2100)), min_size=1, max_size=20))
def test_fuzz_rows_written_by_a_csv_writer_come_back_as_they_were(rows):
    # given well-formed rows with any letters, prices and years
    lines = [[title, str(price), f"f{n}.pdf", str(year)] for n, (title, price, year) in
             enumerate(rows)]  # fmt: skip
    # when the list is written as CSV and read back
    result = parse_price_list(price_list(*lines, header=["title", "price", "file", "year"]))
    # then every row is on sale with its exact title, price and year
    assert result.errors == []
    assert [(o.title, o.price, o.year) for o in result.offers] == [
        (" ".join(t.split()), p, str(y)) for t, p, y in rows
    ]


# ---- finding the article ---------------------------------------------------------------------


def offer(**fields) -> ppv.Offer:
    base = {"ref": fields.get("file", "x.pdf"), "title": "T", "price": Decimal("10.00"),
            "currency": "CNY", "file": "x.pdf"}  # fmt: skip
    return ppv.Offer(**{**base, **fields})


CATALOGUE = OfferIndex(
    [
        offer(ref="a", file="a.pdf", doi="10.1000/pp.50.76", issn="0031-2746", volume="50",
              pages="76-136", title="The moral economy of the English crowd", year="1971"),
        offer(ref="b", file="b.pdf", issn="0031-2746", volume="Vol. 51", pages="3-9",
              title="Rites of violence", year="1973"),
        offer(ref="c", file="c.pdf", title="Introduction", year="1990"),
        offer(ref="d", file="d.pdf", title="Introduction", year="2001"),
        offer(ref="e", file="e.pdf", title="川西高原的茶马古道", year="2023"),
    ]
)  # fmt: skip


@pytest.mark.parametrize(
    ("citation", "expected"),
    [
        # the DOI wins even when the reader's title is off
        (ArticleCitation(doi="https://doi.org/10.1000/PP.50.76", title="Wrong"), "a"),
        # ISSN, volume and first page, however the reader wrote them
        (ArticleCitation(issn="00312746", volume="51", pages="3–9"), "b"),
        (ArticleCitation(issn="0031-2746", volume="v. 50", pages="76"), "a"),
        # title and year, folded (case, punctuation, traditional characters)
        (ArticleCitation(title="THE MORAL ECONOMY OF THE ENGLISH CROWD.", year="1971"), "a"),
        (ArticleCitation(title="川西高原的茶馬古道"), "e"),
        (ArticleCitation(title="Introduction", year="2001"), "d"),
    ],
)
def test_a_citation_finds_its_article(citation, expected):
    found = match_offer(CATALOGUE, citation)
    assert found is not None and found.ref == expected


@pytest.mark.parametrize(
    "citation",
    [
        ArticleCitation(title="Introduction"),  # two articles share it: selling one is a guess
        ArticleCitation(title="Rites of violence", year="1999"),
        ArticleCitation(title="The moral economy of the English crowd", doi="10.9999/other"),
        ArticleCitation(issn="0031-2746", volume="51", pages="4"),
        ArticleCitation(),
    ],
)
def test_no_article_is_sold_on_a_guess(citation):
    assert match_offer(CATALOGUE, citation) is None


# ---- the price-list vendor -------------------------------------------------------------------


def vendor(files: dict[str, bytes] | None = None) -> CatalogueVendor:
    files = {"a.pdf": b"%PDF-a"} if files is None else files
    return CatalogueVendor("DEMO", CATALOGUE, lambda name: files[name])


def test_the_vendor_quotes_orders_and_hands_over_the_file():
    shop = vendor()
    quote = shop.quote(ArticleCitation(doi="10.1000/pp.50.76"))
    assert quote == ppv.Quote("DEMO", "a", "The moral economy of the English crowd",
                              Decimal("10.00"), "CNY")  # fmt: skip
    order = shop.order(quote, "PPV0000001")
    assert (order.offer_ref, order.price, order.buyer_ref) == ("a", Decimal("10.00"), "PPV0000001")
    # ordering again for the same purchase (after a crash) is the same order, not a second
    assert shop.order(quote, "PPV0000001") == order
    assert shop.order(quote, "PPV0000002").order_ref != order.order_ref
    assert shop.fetch(order) == b"%PDF-a"


def test_an_order_at_a_price_the_vendor_no_longer_asks_is_refused_with_the_new_price():
    quote = ppv.Quote("DEMO", "a", "T", Decimal("8.00"), "CNY")
    with pytest.raises(ppv.PriceChanged) as exc:
        vendor().order(quote, "PPV1")
    assert exc.value.params["price"] == Decimal("10.00")


def test_an_article_withdrawn_or_a_file_lost_is_said_so():
    with pytest.raises(ppv.NotOffered):
        vendor().order(ppv.Quote("DEMO", "gone", "T", Decimal("10.00"), "CNY"), "PPV1")
    order = vendor().order(vendor().quote(ArticleCitation(title="Rites of violence")), "PPV1")
    with pytest.raises(ppv.FileUnavailable) as exc:
        vendor(files={}).fetch(order)
    assert isinstance(exc.value, ppv.PpvError)


# ---- who pays what ---------------------------------------------------------------------------

HALF_UP_TO_20 = SharePolicy(percent=Decimal(50), cap=Decimal(20), currency="CNY")


@pytest.mark.parametrize(
    ("price", "currency", "policy", "library", "reader"),
    [
        ("25.00", "CNY", HALF_UP_TO_20, "12.50", "12.50"),
        ("60.00", "CNY", HALF_UP_TO_20, "20.00", "40.00"),  # the cap bounds the library's cost
        ("10.00", "CNY", SharePolicy(Decimal("33.33")), "3.33", "6.67"),
        ("0.05", "CNY", SharePolicy(Decimal(50)), "0.03", "0.02"),  # half a cent rounds up
        ("99.00", "CNY", SharePolicy(Decimal(100)), "99.00", "0.00"),
        ("99.00", "CNY", SharePolicy(), "0.00", "99.00"),
        ("30.00", "USD", HALF_UP_TO_20, "0.00", "30.00"),  # a cap in yuan cannot bound dollars
        ("30.00", "USD", SharePolicy(Decimal(50), currency="CNY"), "15.00", "15.00"),
    ],
)
def test_the_library_pays_its_share_and_the_reader_the_rest(
    price, currency, policy, library, reader
):
    split = split_price(Decimal(price), currency, policy)
    assert (split.library_pays, split.reader_pays) == (Decimal(library), Decimal(reader))
    assert split.currency == currency


@pytest.mark.parametrize(
    "policy", [SharePolicy(Decimal(101)), SharePolicy(Decimal(-1)), SharePolicy(cap=Decimal(-5))]
)
def test_a_policy_that_makes_no_sense_is_refused(policy):
    with pytest.raises(ppv.PpvError):
        split_price(Decimal(10), "CNY", policy)


@given(
    prices,
    st.decimals(min_value=0, max_value=100, places=2),
    st.none() | st.decimals(min_value=0, max_value=1000, places=2),
)
def test_fuzz_the_two_shares_always_add_up_to_the_price_and_respect_the_cap(price, percent, cap):
    split = split_price(price, "CNY", SharePolicy(percent=percent, cap=cap))
    assert split.library_pays + split.reader_pays == price
    assert Decimal(0) <= split.library_pays <= price
    assert split.reader_pays >= 0
    if cap is not None:
        assert split.library_pays <= cap
    assert split.library_pays <= (price * percent / 100) + Decimal("0.005")
