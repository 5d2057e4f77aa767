"""The CSV template for members without a MARC export: rows in, MARC records out, and back."""

from __future__ import annotations

import csv
import io

from kede.catalog.ingest import CSV_MAPPING, ingest_all
from kede.catalog.ingest.readers import read_records
from kede.catalog.ingest.template import (
    CSV_COLUMNS,
    CSV_TEMPLATE_EXAMPLE,
    CSV_TEMPLATE_HEADER,
    convert_row,
    record_to_row,
)

ROWS = [
    {
        "local_id": "b0001",
        "title": "史记",
        "author": "司马迁",
        "publisher": "中华书局",
        "year": "1959",
        "isbn": "9787101003048; 7-101-00304-4",
        "issn": "",
        "edition": "第2版",
        "language": "chi",
        "call_number": "K204.2/1",
        "location": "古籍阅览室",
        "barcode": "30001234; 30001235",
        "copies": "2",
    },
    {
        "local_id": "b0002",
        "title": "The making of the English working class",
        "author": "Thompson, E. P.",
        "publisher": "Gollancz",
        "year": "1963",
        "isbn": "",
        "issn": "",
        "edition": "",
        "language": "eng",
        "call_number": "HD8389 .T5",
        "location": "Stacks",
        "barcode": "",
        "copies": "3",
    },
    {
        "local_id": "s0003",
        "title": "历史研究",
        "author": "",
        "publisher": "",
        "year": "",
        "isbn": "",
        "issn": "0459-1909",
        "edition": "",
        "language": "chi",
        "call_number": "",
        "location": "",
        "barcode": "",
        "copies": "",
    },
]


def to_csv(
    rows: list[dict[str, str]], delimiter: str = ",", header: list[str] | None = None
) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header or CSV_COLUMNS)
    for row in rows:
        writer.writerow([row.get(c, "") for c in CSV_COLUMNS])
    return out.getvalue()


def test_the_template_header_is_the_columns_and_its_example_reads_cleanly():
    assert next(csv.reader(io.StringIO(CSV_TEMPLATE_HEADER))) == list(CSV_COLUMNS)
    results = list(read_records(CSV_TEMPLATE_EXAMPLE.encode("utf-8-sig")))
    assert [r.error for r in results] == ["", ""]


def test_rows_round_trip_through_marc_records():
    # given rows written as a member's spreadsheet would be (UTF-8 with Excel's BOM)
    data = to_csv(ROWS).encode("utf-8-sig")
    # when they are read
    results = list(read_records(data))
    # then every row is a record, and the record gives the row back
    assert [r.error for r in results] == ["", "", ""]
    assert [record_to_row(r.record) for r in results] == ROWS
    assert [r.line for r in results] == [2, 3, 4]


def test_rows_through_the_pipeline_become_bibliographic_data_and_holdings():
    outcomes, report = ingest_all(to_csv(ROWS).encode())
    assert report.accepted == 3
    shiji, thompson, journal = outcomes
    assert shiji.bib.isbns == ["9787101003048"]  # both ISBNs are the same book
    assert shiji.bib.year == 1959 and shiji.bib.language == "chi" and shiji.bib.edition == "第2版"
    assert [(h.barcode, h.copies, h.location, h.call_number) for h in shiji.holdings] == [
        ("30001234", 1, "古籍阅览室", "K204.2/1"),
        ("30001235", 1, "古籍阅览室", "K204.2/1"),
    ]
    assert [(h.barcode, h.copies) for h in thompson.holdings] == [("", 3)]
    assert thompson.bib.author == "Thompson, E. P."
    assert journal.bib.format == "serial" and journal.bib.issns == ["0459-1909"]
    assert journal.holdings[0].implicit
    assert report.copies == 2 + 3 + 1


def test_every_problem_of_a_row_is_reported_with_its_line_and_good_rows_still_read():
    rows = [
        dict(ROWS[0]),
        {"local_id": "b9", "title": "", "year": "MCMLIX", "copies": "0"},
        {"local_id": "b0001", "title": "Again", "barcode": "1;2", "copies": "3"},
        {"local_id": "b10", "title": "Fine", "language": "Klingon"},
        dict(ROWS[1]),
    ]
    results = list(read_records(to_csv(rows).encode()))
    assert [r.line for r in results] == [2, 3, 4, 5, 6]
    assert results[0].record is not None and results[-1].record is not None
    assert results[1].error == (
        "title is empty; year 'MCMLIX' is not a year (write it as 2003); "
        "copies '0' is not a whole number from 1 to 9999"
    )
    assert results[2].error == (
        "copies is 3 but 2 barcode(s) are given; local_id 'b0001' is already used on line 2"
    )
    assert "'Klingon' is not a MARC language code" in results[3].error


def test_an_invalid_isbn_is_kept_aside_with_a_warning():
    row = {"local_id": "b1", "title": "Typo", "isbn": "9787101003049"}
    converted = convert_row(row)
    assert converted.record["020"]["z"] == "9787101003049"
    outcomes, _report = ingest_all(to_csv([row]).encode())
    assert outcomes[0].bib.isbns == [] and outcomes[0].bib.invalid_isbns == ["9787101003049"]
    assert any("not a valid ISBN" in w for w in outcomes[0].warnings)


def test_chinese_headers_gb18030_and_semicolons_from_a_chinese_excel():
    text = (
        "记录号;题名;著者;出版年;索书号;馆藏地;复本数\nz1;红楼梦;曹雪芹;1982;I242.4/1;文学书库;4\n"
    )
    outcomes, report = ingest_all(text.encode("gb18030"))
    assert report.accepted == 1
    [outcome] = outcomes
    assert outcome.bib.title == "红楼梦" and outcome.bib.author == "曹雪芹"
    assert outcome.holdings[0].copies == 4 and outcome.holdings[0].location == "文学书库"
    assert any("GB18030" in w for w in outcome.warnings)


def test_utf16_tab_separated_text_from_excel_is_read():
    text = "local_id\ttitle\tyear\r\nu1\t论语\t2006\r\n"
    [result] = list(read_records(b"\xff\xfe" + text.encode("utf-16-le")))
    assert result.record["245"]["a"] == "论语"


def test_a_header_without_the_required_columns_is_one_rejection_naming_them():
    [result] = list(read_records(b"title,author\nA,B\n"))
    assert result.error.startswith("the header has no local_id column")


def test_unknown_columns_are_ignored_with_a_warning():
    [result] = list(read_records(b"local_id,title,shelfmark\nb1,A title,X\n"))
    assert result.record is not None
    assert result.warnings == ("columns not in the template were ignored: shelfmark",)


def test_the_csv_mapping_is_used_for_csv_uploads():
    outcomes, _report = ingest_all(to_csv(ROWS[:1]).encode())
    assert outcomes[0].holdings[0].location == "古籍阅览室"
    assert CSV_MAPPING.copies == "9"
