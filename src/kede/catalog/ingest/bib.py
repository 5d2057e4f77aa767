"""Full bibliographic extraction from a MARC record, with match keys. Pure: no Django.

`extract_bib(record)` gives a `BibData`: everything the union catalogue shows, searches and
matches on, as plain values. It never raises for odd data; a missing title is an empty `title`
(the pipeline rejects it). `BibData.to_bib_record()` gives the foundation loader's
`kede.catalog.marc.BibRecord` for code written against it.

Original-script fields (880, linked by $6) are kept beside the romanised ones: `title_vernacular`,
`author_vernacular`, and all of them in `vernacular`; `search_text` and the key lists carry both,
so a reader finds 史记 by 史記, 史记 or "Shi ji".
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from kede.catalog.ingest.lean import Field, Record, as_lean
from kede.catalog.marc import BibRecord
from kede.catalog.normalise import (
    author_key,
    edition_key,
    fold_text,
    lccn_normalise,
    oclc_number,
    title_key,
    year_of,
)
from kede.core.identifiers import normalise_isbn, normalise_issn

# Formats, as strings so that they serialise and compare with the foundation's BibRecord.
BOOK = "book"
SERIAL = "serial"
ARTICLE = "article"
THESIS = "thesis"
MANUSCRIPT = "manuscript"
MAP = "map"
SCORE = "score"
AUDIO = "audio"
VIDEO = "video"
E_RESOURCE = "e-resource"
IMAGE = "image"
KIT = "kit"
MIXED = "mixed"
OBJECT = "object"
OTHER = "other"

_TYPE_FORMATS = {
    "c": SCORE,
    "e": MAP,
    "g": VIDEO,
    "i": AUDIO,
    "j": AUDIO,
    "k": IMAGE,
    "m": E_RESOURCE,
    "o": KIT,
    "p": MIXED,
    "r": OBJECT,
}
# Where 008 (and 006, 17 positions earlier) keeps "form of item": 29 for maps and visual
# materials, 23 for the rest.
_FORM_AT_29 = frozenset("efgkor")
_ELECTRONIC_FORMS = frozenset("os")
_DDC_MARKS = str.maketrans("", "", "/'′ ")
_MAIN_AUTHORS = ("100", "110", "111")
_ADDED_AUTHORS = ("700", "710", "711")
_AUTHOR_CODES = {"100": "abcdq", "110": "abcdn", "111": "acdn", "700": "abcdq"}
_AUTHOR_CODES.update({"710": "abcdn", "711": "acdn"})
_SERIES = ("490", "800", "810", "811", "830")
_SERIES_CODES = {"490": "a", "800": "abcdt", "810": "abt", "811": "acdt", "830": "anp"}
_CLASS_TAGS = ("050", "080", "082", "084", "090", "092", "093", "095")
_CLC_ALIASES = {"clc", "cclc", "zt", "ztf", "中图法", "中国图书馆分类法"}


@dataclass(frozen=True, slots=True)
class ClassNumber:
    """A classification number and its scheme: "lcc" (050, 090), "ddc" (082, 092), "udc"
    (080), "clc" (Chinese Library Classification: 084 $2 clc, and 093/095 as some Chinese
    libraries use them), or the 084 $2 code as written for other schemes."""

    scheme: str
    number: str
    tag: str


@dataclass(slots=True)
class BibData:
    status: str = "n"
    format: str = BOOK
    electronic: bool = False
    title: str = ""
    title_main: str = ""
    subtitle: str = ""
    part_numbers: list[str] = field(default_factory=list)
    part_names: list[str] = field(default_factory=list)
    responsibility: str = ""
    nonfiling: int = 0
    title_vernacular: str = ""
    variant_titles: list[str] = field(default_factory=list)
    author: str = ""
    author_vernacular: str = ""
    added_authors: list[str] = field(default_factory=list)
    publisher: str = ""
    place: str = ""
    year: int | None = None
    date_text: str = ""
    edition: str = ""
    languages: list[str] = field(default_factory=list)
    series: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    isbns: list[str] = field(default_factory=list)
    invalid_isbns: list[str] = field(default_factory=list)
    issns: list[str] = field(default_factory=list)
    invalid_issns: list[str] = field(default_factory=list)
    lccn: str = ""
    oclc_numbers: list[str] = field(default_factory=list)
    classifications: list[ClassNumber] = field(default_factory=list)
    call_number: str = ""
    vernacular: dict[str, list[str]] = field(default_factory=dict)

    @property
    def deleted(self) -> bool:
        """Leader/05 'd': the member deleted the record (its holding goes)."""
        return self.status == "d"

    @property
    def language(self) -> str:
        return self.languages[0] if self.languages else ""

    @property
    def edition_key(self) -> str:
        return edition_key(self.edition)

    @property
    def title_keys(self) -> list[str]:
        """Match keys of the title: the romanised (or only) title without its non-filing
        characters, then the original-script title; full/half width and traditional/
        simplified Chinese folded."""
        keys = [title_key(self.title, self.nonfiling)] if self.title else []
        if self.title_vernacular:
            keys.append(title_key(self.title_vernacular))
        return [k for k in dict.fromkeys(keys) if k]

    @property
    def author_keys(self) -> list[str]:
        names = [self.author, self.author_vernacular, *self.added_authors]
        names += self.vernacular.get("700", []) + self.vernacular.get("710", [])
        return [k for k in dict.fromkeys(author_key(n) for n in names if n) if k]

    @property
    def search_text(self) -> str:
        """Every title, name, publisher and series, romanised and original script, folded: what
        a keyword search looks in."""
        parts = [self.title, self.title_vernacular, *self.variant_titles, self.responsibility]
        parts += [self.author, self.author_vernacular, *self.added_authors, self.publisher]
        parts += self.series
        parts += [text for texts in self.vernacular.values() for text in texts]
        return " ".join(dict.fromkeys(fold_text(p) for p in parts if p))

    def class_numbers(self, scheme: str) -> list[str]:
        return [c.number for c in self.classifications if c.scheme == scheme]

    def to_bib_record(self, local_id: str) -> BibRecord:
        """The foundation loader's record (kede.catalog.marc.BibRecord) for this data."""
        return BibRecord(
            local_id=local_id,
            title=self.title,
            author=self.author,
            publisher=self.publisher,
            year=str(self.year) if self.year else "",
            edition=self.edition,
            isbns=list(self.isbns),
            issns=list(self.issns),
            format=self.format,
            language=self.language,
            call_number=self.call_number,
        )


# --- helpers --------------------------------------------------------------------------------
#
# These read `Field.parts` ("code + value" strings, see kede.catalog.ingest.lean) directly:
# extraction runs once per record of every load. Records from elsewhere (pymarc) are brought
# into that form first (`as_lean`).

_ByTag = dict[str, list[Field]]

_ABBREVIATIONS = frozenset(
    {"Jr", "Sr", "jr", "sr", "etc", "Inc", "Co", "Ltd", "St", "Dr", "ed", "eds"}
)
_TRAILING = " /:;,.="
_normalize = unicodedata.normalize


def _clean(text: str) -> str:
    """kede.catalog.marc.clean, without its regular expression: composed, single spaces, no
    ISBD punctuation at the end (after the join the only whitespace left is the space)."""
    if not text.isascii():
        text = _normalize("NFC", text)
    return " ".join(text.split()).rstrip(_TRAILING)


def _tidy(text: str) -> str:
    """kede.catalog.marc.clean (composed, single spaces, no ISBD punctuation at the end), but
    an initial or abbreviation keeps its full stop ("Thompson, E. P.", "U.S.", "Jr.")."""
    out = _clean(text)
    if out and text.rstrip(" /:;,=\u200e\u200f").endswith("."):
        last = out.rsplit(None, 1)[-1].rsplit(".", 1)[-1]
        if (len(last) == 1 and last.isalpha()) or last in _ABBREVIATIONS:
            out += "."
    return out


def _values(f: Field, codes: str) -> list[str]:
    """The values of the subfields with these codes that are not blank, in field order."""
    return [v for p in f.parts if p[0] in codes and (v := p[1:]).strip()]


def _text(f: Field, codes: str) -> str:
    return _tidy(" ".join(_values(f, codes)))


def _control(by_tag: _ByTag, tag: str) -> str:
    fields = by_tag.get(tag)
    if not fields or not fields[0].control_field:
        return ""
    return fields[0].data or ""


def _data_fields(by_tag: _ByTag, tag: str) -> list[Field]:
    return [f for f in by_tag.get(tag, ()) if not f.control_field]


def _linked(by_tag: _ByTag) -> _ByTag:
    """880 fields by the tag they stand beside ($6 "245-01/$1" -> "245")."""
    linked: _ByTag = {}
    for f in by_tag.get("880", ()):
        if f.control_field:
            continue
        link = next((p[1:] for p in f.parts if p[0] == "6"), "")
        if len(link) >= 3 and link[:3].isdigit():
            linked.setdefault(link[:3], []).append(f)
    return linked


def _name(f: Field) -> str:
    return _text(f, _AUTHOR_CODES.get(f.tag, "abcdq"))


def _nonfiling(indicator: str) -> int:
    return int(indicator) if indicator.isdigit() else 0


def _is_language(code: str) -> bool:
    """Three lower-case letters a-z (a MARC language code's shape)."""
    return len(code) == 3 and code.isascii() and code.isalpha() and code.islower()


# --- parts ----------------------------------------------------------------------------------


def _title(bib: BibData, by_tag: _ByTag, linked: _ByTag) -> None:
    fields = _data_fields(by_tag, "245")
    if fields:
        f = fields[0]
        a = _values(f, "a")
        main = a or _values(f, "k")  # archival records may have only $k
        bib.title_main = _tidy(" ".join(main))
        bib.subtitle = _text(f, "b")
        bib.part_numbers = [_tidy(v) for v in _values(f, "n")]
        bib.part_names = [_tidy(v) for v in _values(f, "p")]
        bib.responsibility = _text(f, "c")
        bib.nonfiling = _nonfiling(f.indicator2 or "")
        bib.title = _text(f, "abnp" if a else "kbnp")
    for v in linked.get("245", ()):
        text = _text(v, "abnp") or _text(v, "k")
        if text:
            bib.title_vernacular = text
            break
    if not bib.title and bib.title_vernacular:
        bib.title = bib.title_vernacular
    for tag in ("130", "240", "246"):
        for f in _data_fields(by_tag, tag):
            text = _text(f, "ab" if tag == "246" else "a")
            if text:
                bib.variant_titles.append(text)


def _authors(bib: BibData, by_tag: _ByTag, linked: _ByTag) -> None:
    for tag in _MAIN_AUTHORS:
        fields = _data_fields(by_tag, tag)
        if fields:
            bib.author = _name(fields[0])
            break
    for tag in _MAIN_AUTHORS:
        for v in linked.get(tag, ()):
            bib.author_vernacular = _text(v, _AUTHOR_CODES[tag])
            break
        if bib.author_vernacular:
            break
    if not bib.author and bib.author_vernacular:
        bib.author = bib.author_vernacular
    for tag in _ADDED_AUTHORS:
        for f in _data_fields(by_tag, tag):
            if name := _name(f):
                bib.added_authors.append(name)


def _imprint(bib: BibData, by_tag: _ByTag, fixed: str) -> None:
    fields264 = _data_fields(by_tag, "264")
    candidates = (
        [f for f in fields264 if f.indicator2 == "1"] + _data_fields(by_tag, "260") + fields264
    )
    for f in candidates:
        publisher, place, date = _values(f, "b"), _values(f, "a"), _values(f, "c")
        if not (publisher or place or date):
            continue
        bib.publisher = _tidy(publisher[0]) if publisher else ""
        bib.place = _tidy(place[0]).strip("[]") if place else ""
        bib.date_text = _tidy(" ".join(date))
        break
    year = None
    if len(fixed) >= 11 and fixed[7:11].isdigit() and fixed[6] not in "bn|":
        year = year_of(fixed[7:11])
    bib.year = year or year_of(bib.date_text)


def _format(bib: BibData, leader: str, by_tag: _ByTag, fixed: str) -> None:
    kind = leader[6] if len(leader) > 6 else "a"
    level = leader[7] if len(leader) > 7 else "m"
    form_at = 29 if kind in _FORM_AT_29 else 23
    forms = {fixed[form_at]} if len(fixed) > form_at else set()
    natures = set(fixed[24:28]) if kind in "at" and len(fixed) >= 28 else set()
    for extra in by_tag.get("006", ()):
        data = extra.data or ""
        if data:
            at = 12 if data[0] in _FORM_AT_29 else 6
            if len(data) > at:
                forms.add(data[at])
            if data[0] in "at" and len(data) >= 11:
                natures.update(data[7:11])
    electronic = bool(forms & _ELECTRONIC_FORMS) or kind == "m"
    electronic = electronic or any((f.data or "")[:1] == "c" for f in by_tag.get("007", ()))
    for f in _data_fields(by_tag, "338"):
        if "cr" in _values(f, "b") or any("online" in v.casefold() for v in _values(f, "a")):
            electronic = True
    bib.electronic = electronic
    if level in "ab":
        bib.format = ARTICLE
    elif kind in "at" and ("m" in natures or by_tag.get("502")):
        bib.format = THESIS
    elif kind in "dft":
        bib.format = MANUSCRIPT
    elif kind == "a" and electronic:
        bib.format = E_RESOURCE
    elif kind == "a":
        bib.format = SERIAL if level in "si" else BOOK
    else:
        bib.format = _TYPE_FORMATS.get(kind, OTHER)


def _languages(bib: BibData, by_tag: _ByTag, fixed: str) -> None:
    codes = []
    if len(fixed) >= 38 and _is_language(fixed[35:38]):
        codes.append(fixed[35:38])
    for f in _data_fields(by_tag, "041"):
        for value in _values(f, "a"):
            value = value.strip().casefold()
            # Old records run several codes together ("engfre").
            if len(value) % 3 == 0:
                codes += [c for i in range(0, len(value), 3) if _is_language(c := value[i : i + 3])]
    bib.languages = list(dict.fromkeys(codes))


def _numbers(bib: BibData, by_tag: _ByTag) -> None:
    isbns, invalid = [], []
    for f in _data_fields(by_tag, "020"):
        for p in f.parts:
            code = p[0]
            if code not in "az" or not (value := p[1:]).strip():
                continue
            number = normalise_isbn(value)
            if code == "a" and number:
                isbns.append(number)
            else:
                invalid.append(number or _tidy(value))
    bib.isbns = list(dict.fromkeys(isbns))
    bib.invalid_isbns = [n for n in dict.fromkeys(invalid) if n not in bib.isbns]
    issns, bad = [], []
    for f in _data_fields(by_tag, "022"):
        for p in f.parts:
            code = p[0]
            if code not in "ayz" or not (value := p[1:]).strip():
                continue
            number = normalise_issn(value)
            if code == "a" and number:
                issns.append(number)
            else:
                bad.append(number or _tidy(value))
    bib.issns = list(dict.fromkeys(issns))
    bib.invalid_issns = [n for n in dict.fromkeys(bad) if n not in bib.issns]
    for f in _data_fields(by_tag, "010"):
        lccn = next((n for v in _values(f, "a") if (n := lccn_normalise(v))), None)
        if lccn:
            bib.lccn = lccn
            break
    oclc = [
        number
        for f in _data_fields(by_tag, "035")
        for value in _values(f, "a")
        if (number := oclc_number(value))
    ]
    # Records taken from WorldCat keep the OCLC number as their 001 ("ocm12345678", or digits
    # with 003 "OCoLC").
    control = _control(by_tag, "001").strip()
    if number := oclc_number(control):
        oclc.append(number)
    elif (
        control.isdigit() and int(control) and _control(by_tag, "003").strip().casefold() == "ocolc"
    ):
        oclc.append(str(int(control)))
    bib.oclc_numbers = list(dict.fromkeys(oclc))


def _classification(bib: BibData, by_tag: _ByTag) -> None:
    found: list[ClassNumber] = []
    for tag in _CLASS_TAGS:
        for f in _data_fields(by_tag, tag):
            numbers = [_tidy(v) for v in _values(f, "a")]
            if not numbers:
                continue
            if tag in ("050", "090"):
                scheme = "lcc"
            elif tag in ("082", "092"):
                scheme = "ddc"
                numbers = [n.translate(_DDC_MARKS) for n in numbers]
            elif tag == "080":
                scheme = "udc"
            else:
                source = " ".join(_values(f, "2")).strip().casefold()
                if source in _CLC_ALIASES or (tag in ("093", "095") and not source):
                    scheme = "clc"
                else:
                    scheme = source or "unknown"
            found += [ClassNumber(scheme, n, tag) for n in numbers if n]
    if not any(c.scheme in ("lcc", "ddc", "clc") for c in found):
        # No class number on the record itself: a standard 852 says which scheme its call
        # number is in (indicator 1: 0 LC, 1 Dewey).
        for f in _data_fields(by_tag, "852"):
            if f.indicator1 in "01":
                number = " ".join(_values(f, "h")).strip()
                if number:
                    found.append(
                        ClassNumber("lcc" if f.indicator1 == "0" else "ddc", number, "852")
                    )
    bib.classifications = list(dict.fromkeys(found))
    for tag in ("050", "090"):
        for f in _data_fields(by_tag, tag):
            if text := _text(f, "ab"):
                bib.call_number = text
                return
    for f in _data_fields(by_tag, "852"):
        if text := _text(f, "hi"):
            bib.call_number = text
            return


def _series_and_volumes(bib: BibData, by_tag: _ByTag) -> None:
    series, volumes = [], list(bib.part_numbers)
    for tag in _SERIES:
        for f in _data_fields(by_tag, tag):
            text = _text(f, _SERIES_CODES[tag])
            if text:
                series.append(text)
            volumes += [_tidy(v) for v in _values(f, "v")]
    bib.series = list(dict.fromkeys(series))
    bib.volumes = [v for v in dict.fromkeys(volumes) if v]


def _vernacular(bib: BibData, linked: _ByTag) -> None:
    for tag, fields in linked.items():
        texts = []
        codes = _AUTHOR_CODES.get(tag) or ("abnp" if tag == "245" else "")
        for f in fields:
            text = (
                _text(f, codes) if codes else _tidy(" ".join(p[1:] for p in f.parts if p[0] != "6"))
            )
            if text:
                texts.append(text)
        if texts:
            bib.vernacular[tag] = texts


def extract_bib(record: Record | Any) -> BibData:
    """Everything the union catalogue needs from one bibliographic record (a lean Record, or
    a pymarc one)."""
    record = as_lean(record)
    leader = record.leader
    by_tag = record.index()
    linked = _linked(by_tag)
    fixed = _control(by_tag, "008")
    bib = BibData(status=leader[5] if len(leader) > 5 else "n")
    _title(bib, by_tag, linked)
    _authors(bib, by_tag, linked)
    _imprint(bib, by_tag, fixed)
    _format(bib, leader, by_tag, fixed)
    _languages(bib, by_tag, fixed)
    _numbers(bib, by_tag)
    _classification(bib, by_tag)
    _series_and_volumes(bib, by_tag)
    _vernacular(bib, linked)
    editions = _data_fields(by_tag, "250")
    bib.edition = _text(editions[0], "ab") if editions else ""
    return bib


def missing_title_reason(record: Record | Any) -> str:
    """Why a record has no title, said usefully."""
    record = as_lean(record)
    if record.get("245") is None and record.get("200") is not None:
        return "no title (245): the record looks like UNIMARC (it has a 200); export it as MARC21"
    return "no title (245 $a)"
