"""The CSV template for members without a MARC export. Pure: no Django.

One row per title. A row becomes a small MARC record (so the rest of ingest has one path):

    local_id     001              the record's id in the member's own list (required)
    title        245 $a           (required)
    author       100 $a           "Surname, Forename" or a name as written (王小明)
    publisher    264 _1 $b
    year         008/07-10, 264 _1 $c   "2003", "c2003", "民国89年"
    isbn         020 $a ($z when invalid)   several separated by ";"
    issn         022 $a ($y when invalid); an ISSN without an ISBN makes the row a serial
    edition      250 $a
    language     008/35-37        MARC code (chi, eng), or zh/en/ja/ko/fr/de/ru/es
    call_number  852 $h
    location     852 $b
    barcode      852 $p           several separated by ";": one 852 per copy
    copies       852 $9           a count; must equal the number of barcodes when both are given

The file may be UTF-8 (with or without the BOM Excel writes), UTF-16 with a BOM (Excel's
"Unicode text") or GB18030/GBK (Excel on a Chinese Windows); comma, semicolon or tab separated.
Headers are matched without regard to case, spaces or hyphens, and common Chinese headers
(题名, 著者, 出版社, 出版年, 索书号, 馆藏地, 条码号, 复本数 ...) are understood too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from kede.catalog.ingest.lean import Field, Record, Subfield
from kede.catalog.normalise import year_of
from kede.core.identifiers import normalise_isbn, normalise_issn

CSV_COLUMNS: tuple[str, ...] = (
    "local_id",
    "title",
    "author",
    "publisher",
    "year",
    "isbn",
    "issn",
    "edition",
    "language",
    "call_number",
    "location",
    "barcode",
    "copies",
)
CSV_REQUIRED: tuple[str, ...] = ("local_id", "title")

# What a download page can show next to the template.
CSV_COLUMN_HELP: dict[str, str] = {
    "local_id": "Required. The title's number in your own list; the same number on every upload.",
    "title": "Required. The title as on the title page.",
    "author": "Main author, 'Surname, Forename' or as written (王小明).",
    "publisher": "Publisher's name.",
    "year": "Year of publication (2003, c2003, 民国89年).",
    "isbn": "ISBN-10 or ISBN-13; several separated by ';'.",
    "issn": "ISSN for a journal or series.",
    "edition": "Edition statement (2nd ed., 第2版).",
    "language": "Language code: chi, eng, jpn ... (zh, en, ja also accepted).",
    "call_number": "Your call number (K825.6/123, PL2658.E8).",
    "location": "Where it is shelved (branch or collection).",
    "barcode": "Item barcode; several separated by ';' (one per copy).",
    "copies": "Number of copies (default 1); must match the barcodes when both are given.",
}

# The header line a page offers for download (Excel opens it; UTF-8 with BOM keeps Chinese).
CSV_TEMPLATE_HEADER = ",".join(CSV_COLUMNS) + "\r\n"
CSV_TEMPLATE_EXAMPLE = (
    CSV_TEMPLATE_HEADER
    + "b0001,史记,司马迁,中华书局,1959,9787101003048,,,chi,"
    + "K204.2/1,古籍阅览室,30001234;30001235,2\r\n"
    + 'b0002,The making of the English working class,"Thompson, E. P.",Gollancz,1963,'
    + ",,,eng,HD8389 .T5,Stacks,,1\r\n"
)

_ALIASES: dict[str, str] = {
    "id": "local_id",
    "record_id": "local_id",
    "localid": "local_id",
    "control_number": "local_id",
    "记录号": "local_id",
    "本地号": "local_id",
    "控制号": "local_id",
    "书目号": "local_id",
    "题名": "title",
    "书名": "title",
    "正题名": "title",
    "著者": "author",
    "作者": "author",
    "责任者": "author",
    "creator": "author",
    "出版社": "publisher",
    "出版者": "publisher",
    "出版年": "year",
    "出版年份": "year",
    "出版日期": "year",
    "date": "year",
    "isbn号": "isbn",
    "国际标准书号": "isbn",
    "issn号": "issn",
    "版次": "edition",
    "语种": "language",
    "lang": "language",
    "索书号": "call_number",
    "call_no": "call_number",
    "callnumber": "call_number",
    "馆藏地": "location",
    "馆藏地点": "location",
    "馆藏位置": "location",
    "条码": "barcode",
    "条码号": "barcode",
    "条形码": "barcode",
    "barcodes": "barcode",
    "复本数": "copies",
    "复本": "copies",
    "册数": "copies",
    "copy_count": "copies",
}

# ISO 639-1 codes and names people type, for the most common languages of a Chinese consortium.
_LANGUAGES: dict[str, str] = {
    "zh": "chi",
    "zho": "chi",
    "chinese": "chi",
    "中文": "chi",
    "汉语": "chi",
    "en": "eng",
    "english": "eng",
    "英文": "eng",
    "英语": "eng",
    "ja": "jpn",
    "japanese": "jpn",
    "日文": "jpn",
    "日语": "jpn",
    "ko": "kor",
    "korean": "kor",
    "韩文": "kor",
    "fr": "fre",
    "fra": "fre",
    "french": "fre",
    "法文": "fre",
    "de": "ger",
    "deu": "ger",
    "german": "ger",
    "德文": "ger",
    "ru": "rus",
    "russian": "rus",
    "俄文": "rus",
    "es": "spa",
    "spanish": "spa",
    "西班牙文": "spa",
}
_LIST_SEPARATORS = re.compile(r"\s*[;|；，、]\s*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MAX_LOCAL_ID = 100
_MAX_COPIES = 9999


@dataclass
class RowResult:
    """One CSV row turned into a MARC record, or the reasons it cannot be."""

    record: Record | None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def header_key(cell: str) -> str:
    """A header cell as a template column name, or "" when it is none of them."""
    text = unicodedata.normalize("NFKC", cell).strip().lstrip("\ufeff").strip().casefold()
    text = re.sub(r"[\s\-]+", "_", text)
    if text in CSV_COLUMNS:
        return text
    return _ALIASES.get(text, _ALIASES.get(text.replace("_", ""), ""))


def _cell(row: Mapping[str, str], name: str) -> str:
    return " ".join(_CONTROL.sub(" ", row.get(name) or "").split())


def _split(text: str) -> list[str]:
    return [part for part in _LIST_SEPARATORS.split(text) if part]


def _language(text: str) -> str | None:
    code = text.strip().casefold()
    if re.fullmatch(r"[a-z]{3}", code) and code not in {"zho", "fra", "deu"}:
        return code
    return _LANGUAGES.get(code)


def _fixed_field(year: int | None, language: str) -> str:
    """008 for a book: date type s/n, date 1, no place ('xx '), language."""
    date_type, date1 = ("s", f"{year:04d}") if year else ("n", "uuuu")
    return f"{'':6}{date_type}{date1}{'':4}xx {'':17}{language or '   ':3} d"


def convert_row(row: Mapping[str, str]) -> RowResult:
    """A template row (column name -> cell text) as a MARC record. Every problem with the row
    is listed; a row with errors has no record."""
    errors: list[str] = []
    warnings: list[str] = []
    local_id = _cell(row, "local_id")
    title = _cell(row, "title")
    if not local_id:
        errors.append("local_id is empty")
    elif len(local_id) > _MAX_LOCAL_ID:
        errors.append(f"local_id is longer than {_MAX_LOCAL_ID} characters")
    if not title:
        errors.append("title is empty")

    year_text = _cell(row, "year")
    year = year_of(year_text) if year_text else None
    if year_text and year is None:
        errors.append(f"year {year_text!r} is not a year (write it as 2003)")

    language_text = _cell(row, "language")
    language = _language(language_text) if language_text else ""
    if language is None:
        errors.append(
            f"language {language_text!r} is not a MARC language code (chi, eng, jpn, ...)"
        )
        language = ""

    isbn_fields: list[Field] = []
    for isbn in _split(_cell(row, "isbn")):
        if normalise_isbn(isbn):
            isbn_fields.append(Field.make("020", " ", " ", [Subfield("a", isbn)]))
        else:
            warnings.append(f"isbn {isbn!r} is not a valid ISBN; kept as an invalid ISBN (020 $z)")
            isbn_fields.append(Field.make("020", " ", " ", [Subfield("z", isbn)]))
    issn_fields: list[Field] = []
    for issn in _split(_cell(row, "issn")):
        if normalise_issn(issn):
            issn_fields.append(Field.make("022", " ", " ", [Subfield("a", issn)]))
        else:
            warnings.append(
                f"issn {issn!r} is not a valid ISSN; kept as an incorrect ISSN (022 $y)"
            )
            issn_fields.append(Field.make("022", " ", " ", [Subfield("y", issn)]))

    barcodes = _split(_cell(row, "barcode"))
    if len(set(barcodes)) != len(barcodes):
        errors.append("the same barcode is given twice")
    copies_text = _cell(row, "copies")
    copies: int | None = None
    if copies_text:
        if copies_text.isdigit() and 1 <= int(copies_text) <= _MAX_COPIES:
            copies = int(copies_text)
        else:
            errors.append(f"copies {copies_text!r} is not a whole number from 1 to {_MAX_COPIES}")
    if copies is not None and barcodes and copies != len(barcodes):
        errors.append(f"copies is {copies} but {len(barcodes)} barcode(s) are given")

    if errors:
        return RowResult(None, errors, warnings)

    serial = bool(issn_fields) and not isbn_fields
    record = Record(f"00000na{'s' if serial else 'm'} a2200000 i 4500")
    record.add_field(Field.control("001", local_id))
    record.add_field(Field.control("008", _fixed_field(year, language)))
    record.add_field(*isbn_fields, *issn_fields)
    author = _cell(row, "author")
    if author:
        personal = "1" if "," in author else "0"
        record.add_field(Field.make("100", personal, " ", [Subfield("a", author)]))
    record.add_field(Field.make("245", "1" if author else "0", "0", [Subfield("a", title)]))
    edition = _cell(row, "edition")
    if edition:
        record.add_field(Field.make("250", " ", " ", [Subfield("a", edition)]))
    publisher = _cell(row, "publisher")
    if publisher or year_text:
        imprint = [Subfield("b", publisher)] if publisher else []
        imprint += [Subfield("c", year_text)] if year_text else []
        record.add_field(Field.make("264", " ", "1", imprint))

    call_number = _cell(row, "call_number")
    location = _cell(row, "location")
    shelf = [Subfield("b", location)] if location else []
    shelf += [Subfield("h", call_number)] if call_number else []
    if barcodes:
        for barcode in barcodes:
            count = [Subfield("9", "1")] if copies is not None else []
            record.add_field(Field.make("852", " ", " ", [*shelf, Subfield("p", barcode), *count]))
    elif shelf or copies is not None:
        count = [Subfield("9", str(copies))] if copies is not None else []
        record.add_field(Field.make("852", " ", " ", [*shelf, *count]))
    return RowResult(record, errors, warnings)


def record_to_row(record: Record) -> dict[str, str]:
    """A record written by `convert_row` back as a template row (the inverse, for checks and
    for offering a member its own data back)."""

    def first(tag: str, code: str) -> str:
        for f in record.get_fields(tag):
            values = f.get_subfields(code)
            if values:
                return values[0]
        return ""

    def every(tag: str, codes: str) -> list[str]:
        return [v for f in record.get_fields(tag) for v in f.get_subfields(*codes)]

    control = record.get("001")
    fixed = record.get("008")
    language = fixed.data[35:38].strip() if fixed is not None and fixed.data else ""
    holdings = record.get_fields("852")
    counts = [int(v) for f in holdings for v in f.get_subfields("9") if v.isdigit()]
    return {
        "local_id": control.data if control is not None and control.data else "",
        "title": first("245", "a"),
        "author": first("100", "a"),
        "publisher": first("264", "b"),
        "year": first("264", "c"),
        "isbn": "; ".join(every("020", "az")),
        "issn": "; ".join(every("022", "ay")),
        "edition": first("250", "a"),
        "language": language,
        "call_number": first("852", "h"),
        "location": first("852", "b"),
        "barcode": "; ".join(every("852", "p")),
        "copies": str(sum(counts)) if counts else "",
    }
