"""Reading MARC records into plain bibliographic data. Pure: no Django.

This is the foundation's simple loader; the union-catalogue work replaces it with field
mapping per source, normalisation and de-duplication.
"""

from __future__ import annotations

import gzip
import io
import re
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pymarc

from kede.core.identifiers import normalise_isbn, normalise_issn


class MarcError(Exception):
    """A record that cannot be read or used."""


@dataclass
class BibRecord:
    local_id: str
    title: str
    author: str = ""
    publisher: str = ""
    year: str = ""
    edition: str = ""
    isbns: list[str] = field(default_factory=list)
    issns: list[str] = field(default_factory=list)
    format: str = "book"
    language: str = ""
    call_number: str = ""


@dataclass
class ReadResult:
    """One position in a file: a usable record or the reason it is not."""

    position: int
    record: BibRecord | None = None
    error: str = ""


_FORMATS = {
    "a": "book",
    "t": "book",
    "c": "score",
    "d": "score",
    "e": "map",
    "f": "map",
    "g": "video",
    "i": "audio",
    "j": "audio",
    "k": "image",
    "m": "e-resource",
    "o": "kit",
    "p": "mixed",
    "r": "object",
}
_TRAILING_PUNCT = re.compile(r"[\s/:;,.=]+$")
_YEAR = re.compile(r"(1[5-9][0-9][0-9]|20[0-9][0-9])")


def clean(text: str) -> str:
    """Composed Unicode (MARC-8 and many exports decompose accents), single spaces, no ISBD
    punctuation at the end."""
    return _TRAILING_PUNCT.sub("", " ".join(unicodedata.normalize("NFC", text).split()))


def fold(text: str) -> str:
    """Search key: compatibility-normalised, case-folded, accents and hyphens stripped."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch) and ch != "-")
    return " ".join(stripped.casefold().split())


def _subfields(record: pymarc.Record, tag: str, codes: str) -> str:
    f = record.get(tag)
    if f is None or f.is_control_field():
        return ""
    return clean(" ".join(f.get_subfields(*codes)))


def _format(record: pymarc.Record) -> str:
    leader = str(record.leader)
    kind = leader[6] if len(leader) > 7 else "a"
    level = leader[7] if len(leader) > 7 else "m"
    if kind in "at" and level in "sb":
        return "serial"
    return _FORMATS.get(kind, "book")


def bib_from_record(record: pymarc.Record) -> BibRecord:
    title = _subfields(record, "245", "abnp")
    if not title:
        raise MarcError("no title (245 $a)")
    control = record.get("001")
    local_id = control.data.strip() if control is not None and control.data else ""
    if not local_id:
        raise MarcError("no record id (001)")
    author = (
        _subfields(record, "100", "abcd")
        or _subfields(record, "110", "ab")
        or _subfields(record, "111", "a")
        or _subfields(record, "245", "c")
    )
    imprint = record.get("264") or record.get("260")
    publisher = clean(" ".join(imprint.get_subfields("b"))) if imprint else ""
    date_text = " ".join(imprint.get_subfields("c")) if imprint else ""
    fixed = record.get("008")
    year = ""
    language = ""
    if fixed is not None and fixed.data and len(fixed.data) >= 38:
        if _YEAR.fullmatch(fixed.data[7:11]):
            year = fixed.data[7:11]
        language = fixed.data[35:38].strip(" |")
    if not year and (m := _YEAR.search(date_text)):
        year = m.group(1)
    isbns = [
        n
        for f in record.get_fields("020")
        for a in f.get_subfields("a")
        if (n := normalise_isbn(a))
    ]
    issns = [
        n
        for f in record.get_fields("022")
        for a in f.get_subfields("a")
        if (n := normalise_issn(a))
    ]
    call_number = (
        _subfields(record, "050", "ab")
        or _subfields(record, "090", "ab")
        or _subfields(record, "852", "hi")
    )
    return BibRecord(
        local_id=local_id,
        title=title,
        author=author,
        publisher=publisher,
        year=year,
        edition=_subfields(record, "250", "a"),
        isbns=list(dict.fromkeys(isbns)),
        issns=list(dict.fromkeys(issns)),
        format=_format(record),
        language=language,
        call_number=call_number,
    )


def _open_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def read_marc_file(path: Path) -> Iterator[ReadResult]:
    """Every record of a MARC21 (ISO 2709) or MARCXML file, good or bad, in order."""
    try:
        data = _open_bytes(path)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield ReadResult(1, error=f"unreadable file: {exc}")
        return
    if data.lstrip()[:1] == b"<":
        yield from _read_xml(data)
    else:
        yield from _read_binary(data)


def _read_binary(data: bytes) -> Iterator[ReadResult]:
    reader = pymarc.MARCReader(io.BytesIO(data), to_unicode=True, force_utf8=False, permissive=True)
    with warnings.catch_warnings():
        # pymarc warns about odd subfield codes it still reads; the record is kept as read.
        warnings.simplefilter("ignore")
        yield from _convert_all(reader)


def _convert_all(reader: pymarc.MARCReader) -> Iterator[ReadResult]:
    for position, record in enumerate(reader, start=1):
        if record is None:
            yield ReadResult(position, error=f"unreadable: {reader.current_exception}")
            continue
        yield _convert(position, record)


def _read_xml(data: bytes) -> Iterator[ReadResult]:
    if b"<!DOCTYPE" in data[:2048] or b"<!ENTITY" in data:
        yield ReadResult(1, error="refused: XML with a DTD or entities")
        return
    try:
        records = pymarc.parse_xml_to_array(io.BytesIO(data))
    except Exception as exc:
        yield ReadResult(1, error=f"unreadable XML: {exc}")
        return
    for position, record in enumerate(records, start=1):
        yield _convert(position, record)


def _convert(position: int, record: pymarc.Record) -> ReadResult:
    try:
        return ReadResult(position, record=bib_from_record(record))
    except MarcError as exc:
        return ReadResult(position, error=str(exc))
    except Exception as exc:
        return ReadResult(position, error=f"unusable: {exc.__class__.__name__}: {exc}")
