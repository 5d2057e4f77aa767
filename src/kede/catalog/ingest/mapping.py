"""Where each member's records keep the local id, call number, location, barcode and copy
count. Pure: no Django.

Library systems put holdings in different fields: the MARC21 holdings field 852, Symphony's
999, Koha's 952, III's 945/949, Alma's 852 with linked 876 items, Aleph's Z30. A `FieldMapping`
says which, per source; the centre edits it (it round-trips through a JSON dict, with every
problem reported by name) and checks it with `preview` on sample records before a load.

`extract_holdings(record, mapping)` gives one `HoldingData` per item (when items are known)
or per holding; a record with no holdings field at all gives one implicit holding, since its
presence in the member's export says the member holds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from kede.catalog.ingest.errors import MappingError
from kede.catalog.ingest.lean import Field, Record, as_lean
from kede.catalog.marc import clean

_TAG = re.compile(r"[0-9A-Za-z]{3}")
_CODE = re.compile(r"[0-9A-Za-z]")
_SPEC = re.compile(r"^\s*([0-9A-Za-z]{3})\s*((?:\$\s*[^$\s]+\s*)*)$")
_MAX_PREFIX = 50


def _is_control(tag: str) -> bool:
    return tag < "010" and tag.isdigit()


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A place in a record: a control field ("001"), or subfields of a data field ("035$a",
    "999$c"), optionally only the values that start with `prefix` ("(Sirsi) "), which is then
    cut off."""

    tag: str
    codes: str = ""
    prefix: str = ""

    @classmethod
    def parse(cls, spec: object, *, setting: str = "field") -> FieldRef:
        """From "001", "035$a", "035 $a", or {"field": "035$a", "prefix": "(Sirsi)"}."""
        prefix = ""
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"field", "prefix"}
            if unknown:
                raise MappingError(
                    [f"{setting}: unknown key(s) {', '.join(sorted(map(str, unknown)))}"]
                )
            prefix = spec.get("prefix", "")
            spec = spec.get("field", "")
            if not isinstance(prefix, str) or len(prefix) > _MAX_PREFIX:
                raise MappingError(
                    [f"{setting}: prefix must be text of at most {_MAX_PREFIX} characters"]
                )
        if not isinstance(spec, str):
            raise MappingError([f"{setting}: {spec!r} is not a field such as 001 or 035$a"])
        match = _SPEC.match(spec)
        if match is None:
            raise MappingError(
                [
                    f"{setting}: {spec!r} is not a field such as 001 or 035$a "
                    "(a three-character tag, then $ and subfield codes)"
                ]
            )
        tag = match.group(1)
        codes = "".join(match.group(2).replace("$", "").split())
        problems = _code_problems(codes, setting)
        if _is_control(tag) and codes:
            problems.append(f"{setting}: {tag} is a control field; it has no subfields")
        if not _is_control(tag) and not codes:
            problems.append(f"{setting}: {tag} needs a subfield, as in {tag}$a")
        if problems:
            raise MappingError(problems)
        return cls(tag, codes, prefix)

    def __str__(self) -> str:
        return self.tag + "".join(f"${c}" for c in self.codes)

    def to_json(self) -> str | dict[str, str]:
        return {"field": str(self), "prefix": self.prefix} if self.prefix else str(self)

    def values(self, record: Record | Any) -> list[str]:
        """The non-empty values at this place, prefix filter applied, whitespace trimmed."""
        out = []
        codes = self.codes
        for f in as_lean(record).get_fields(self.tag):
            if f.control_field:
                candidates = [f.data or ""] if not codes else []
            else:
                candidates = [p[1:] for p in f.parts if p[0] in codes]
            for value in candidates:
                value = value.strip()
                if self.prefix:
                    if not value.startswith(self.prefix):
                        continue
                    value = value[len(self.prefix) :].strip()
                if value:
                    out.append(value)
        return out


def _code_problems(codes: str, setting: str) -> list[str]:
    bad = [c for c in codes if not _CODE.fullmatch(c)]
    if bad:
        return [f"{setting}: {''.join(bad)!r} is not a subfield code (a letter or digit)"]
    if len(set(codes)) != len(codes):
        return [f"{setting}: a subfield code is given twice"]
    return []


@dataclass(frozen=True, slots=True)
class HoldingData:
    """One item (or one holding, when the source does not list items) of one member."""

    local_id: str
    call_number: str = ""
    location: str = ""
    barcode: str = ""
    copies: int = 1
    implicit: bool = False


_FALLBACK = (FieldRef("050", "ab"), FieldRef("090", "ab"))


@dataclass(frozen=True)
class FieldMapping:
    """Where one source keeps what holdings need.

    `local_id`: places tried in order; the first value found is the record's id in the member's
    system. `holdings_tag`: the field that occurs once per holding or item ("" for none: every
    record is one implicit holding). `call_number`, `location`, `barcode`: subfield codes in that
    field (several codes are joined in field order: a space for call numbers, " / " for
    locations). `copies`: a subfield holding a number of copies; blank means each field is one.
    `item_tag`, `item_link`, `item_barcode`: a separate item field (Alma's 876) tied to its
    holdings field by equal subfields, written "8=0" (holdings $8 = item $0), or "" for "items
    follow their holdings field". `call_number_fallback`: where to take a call number from when
    the holdings field has none."""

    name: str = "MARC21 holdings (852)"
    local_id: tuple[FieldRef, ...] = (FieldRef("001"),)
    holdings_tag: str = "852"
    call_number: str = "khim"
    location: str = "bc"
    barcode: str = "p"
    copies: str = ""
    item_tag: str = ""
    item_link: str = ""
    item_barcode: str = ""
    call_number_fallback: tuple[FieldRef, ...] = _FALLBACK

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise MappingError(problems)

    def problems(self) -> list[str]:
        out: list[str] = []
        if not self.name.strip() or len(self.name) > 100:
            out.append("name: give a name of 1 to 100 characters")
        if not self.local_id:
            out.append("local_id: give at least one field, such as 001")
        for ref in (*self.local_id, *self.call_number_fallback):
            if not isinstance(ref, FieldRef):
                out.append(f"{ref!r} is not a FieldRef")
        tags = [("holdings_tag", self.holdings_tag), ("item_tag", self.item_tag)]
        for setting, tag in tags:
            if tag and not _TAG.fullmatch(tag):
                out.append(f"{setting}: {tag!r} is not a three-character tag")
            elif tag and _is_control(tag):
                out.append(f"{setting}: {tag} is a control field; holdings need a data field")
        for setting in ("call_number", "location", "barcode", "copies", "item_barcode"):
            out += _code_problems(getattr(self, setting), setting)
        if len(self.copies) > 1:
            out.append("copies: give one subfield code")
        if self.item_tag:
            if not self.holdings_tag:
                out.append("item_tag: items need a holdings field to belong to")
            if not self.item_barcode:
                out.append("item_barcode: give the item field's barcode subfield")
            if self.item_link and not re.fullmatch(r"[0-9A-Za-z]=[0-9A-Za-z]", self.item_link):
                out.append(
                    f"item_link: {self.item_link!r} is not written as holdings-code=item-code, "
                    "such as 8=0"
                )
        elif self.item_link or self.item_barcode:
            out.append("item_tag: item_link and item_barcode need an item field")
        return out

    # --- JSON ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = [ref.to_json() for ref in value] if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldMapping:
        """A mapping from its JSON form (as `to_dict` writes it; missing keys take the
        defaults). Raises MappingError listing every problem."""
        if not isinstance(data, Mapping):
            raise MappingError(["the mapping must be a JSON object"])
        known = {f.name for f in fields(cls)}
        problems = [f"{key}: unknown setting" for key in data if key not in known]
        values: dict[str, Any] = {}
        for key in known & set(data):
            value = data[key]
            if key in ("local_id", "call_number_fallback"):
                items = [value] if isinstance(value, str | Mapping) else value
                if not isinstance(items, list | tuple):
                    problems.append(f'{key}: give a list of fields such as ["001"]')
                    continue
                refs = []
                for item in items:
                    try:
                        refs.append(FieldRef.parse(item, setting=key))
                    except MappingError as exc:
                        problems += exc.errors
                values[key] = tuple(refs)
            elif not isinstance(value, str):
                problems.append(f"{key}: must be text")
            elif key in ("call_number", "location", "barcode", "copies", "item_barcode"):
                values[key] = "".join(value.replace("$", "").split())
            else:
                values[key] = value.strip() if key != "name" else value
        if problems:
            raise MappingError(problems)
        return cls(**values)

    def with_changes(self, **changes: Any) -> FieldMapping:
        return replace(self, **changes)


# --- presets --------------------------------------------------------------------------------

PRESETS: dict[str, FieldMapping] = {
    "marc21-852": FieldMapping(),
    "alma": FieldMapping(
        name="Alma (852 holdings, 876 items)",
        holdings_tag="852",
        call_number="hi",
        location="bc",
        barcode="",
        item_tag="876",
        item_link="8=0",
        item_barcode="p",
    ),
    "alma-ava": FieldMapping(
        name="Alma availability (AVA)",
        holdings_tag="AVA",
        call_number="d",
        location="bc",
        barcode="",
        copies="f",
    ),
    "symphony": FieldMapping(
        name="SirsiDynix Symphony/Unicorn (999)",
        holdings_tag="999",
        call_number="a",
        location="ml",
        barcode="i",
    ),
    "koha": FieldMapping(
        name="Koha (952; biblionumber in 999 $c)",
        local_id=(FieldRef("999", "c"), FieldRef("001")),
        holdings_tag="952",
        call_number="o",
        location="ac",
        barcode="p",
    ),
    "iii-945": FieldMapping(
        name="III Sierra/Millennium items (945)",
        holdings_tag="945",
        call_number="a",
        location="l",
        barcode="i",
    ),
    "voyager-iii-949": FieldMapping(
        name="Voyager/III item load field (949)",
        holdings_tag="949",
        call_number="a",
        location="l",
        barcode="i",
    ),
    "aleph": FieldMapping(
        name="Aleph items (Z30 expansion)",
        holdings_tag="Z30",
        call_number="h",
        location="12",
        barcode="5",
    ),
    "kede-csv": FieldMapping(
        name="Kede CSV template",
        holdings_tag="852",
        call_number="h",
        location="b",
        barcode="p",
        copies="9",
        call_number_fallback=(),
    ),
}
DEFAULT_MAPPING = PRESETS["marc21-852"]
CSV_MAPPING = PRESETS["kede-csv"]


# --- extraction -----------------------------------------------------------------------------


def _joined(f: Field, codes: str, separator: str) -> str:
    if not codes:
        return ""
    return clean(
        separator.join(value for p in f.parts if p[0] in codes and (value := p[1:].strip()))
    )


def _first(f: Field, code: str) -> str:
    if not code:
        return ""
    return next((value for p in f.parts if p[0] == code and (value := p[1:].strip())), "")


def local_id_of(record: Record | Any, mapping: FieldMapping) -> str:
    """The record's id in the member's system, or "" when the mapping finds none."""
    record = as_lean(record)
    for ref in mapping.local_id:
        values = ref.values(record)
        if values:
            return values[0]
    return ""


def _count(text: str, problems: list[str] | None) -> int:
    if text.isdigit():
        return int(text)
    if problems is not None:
        problems.append(f"copies {text!r} is not a number; counted as 1")
    return 1


def extract_holdings(
    record: Record | Any,
    mapping: FieldMapping,
    *,
    local_id: str | None = None,
    problems: list[str] | None = None,
) -> list[HoldingData]:
    """The member's holdings of this record, as the mapping finds them. `problems` (if given)
    collects what a preview should point out."""
    record = as_lean(record)
    rid = local_id_of(record, mapping) if local_id is None else local_id
    fallback = next((v for ref in mapping.call_number_fallback for v in _ref_text(ref, record)), "")
    holdings_fields = (
        [f for f in record.get_fields(mapping.holdings_tag) if not f.control_field]
        if mapping.holdings_tag
        else []
    )
    items = (
        [f for f in record.get_fields(mapping.item_tag) if not f.control_field]
        if mapping.item_tag
        else []
    )
    out: list[HoldingData] = []
    claimed: set[int] = set()
    if mapping.item_tag and not mapping.item_link:
        # Items follow the holdings field they belong to.
        owner: dict[int, list[Field]] = {}
        current = None
        for f in record.fields:
            if f.tag == mapping.holdings_tag and not f.is_control_field():
                current = id(f)
                owner[current] = []
            elif f.tag == mapping.item_tag and current is not None and not f.is_control_field():
                owner[current].append(f)
    for f in holdings_fields:
        call_number = _joined(f, mapping.call_number, " ") or fallback
        location = _joined(f, mapping.location, " / ")
        copies_text = _first(f, mapping.copies)
        copies = _count(copies_text, problems) if copies_text else 1
        own: list[Field] = []
        if mapping.item_tag:
            if mapping.item_link:
                mine, theirs = mapping.item_link.split("=")
                key = _first(f, mine)
                own = [i for i in items if key and _first(i, theirs) == key]
            else:
                own = owner.get(id(f), [])
        if own:
            for item in own:
                claimed.add(id(item))
                out.append(
                    HoldingData(rid, call_number, location, _first(item, mapping.item_barcode), 1)
                )
        else:
            out.append(HoldingData(rid, call_number, location, _first(f, mapping.barcode), copies))
    for item in items:
        if id(item) not in claimed:
            if problems is not None and holdings_fields:
                problems.append(f"an item ({mapping.item_tag}) that belongs to no holdings field")
            out.append(HoldingData(rid, fallback, "", _first(item, mapping.item_barcode), 1))
    if not out:
        if problems is not None and mapping.holdings_tag:
            problems.append(
                f"no {mapping.holdings_tag} field: counted as one copy without location"
            )
        out.append(HoldingData(rid, fallback, implicit=True))
    return out


def _ref_text(ref: FieldRef, record: Record) -> list[str]:
    if _is_control(ref.tag):
        return ref.values(record)
    out = []
    for f in record.get_fields(ref.tag):
        if not f.is_control_field():
            text = _joined(f, ref.codes, " ")
            if text:
                out.append(text)
    return out


# --- preview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    """What a mapping makes of one sample record, for a page to show before a load."""

    position: int
    local_id: str
    title: str
    holdings: tuple[HoldingData, ...]
    problems: tuple[str, ...] = field(default=())


def preview(
    records: Iterable[Record | Any | None], mapping: FieldMapping, *, limit: int = 20
) -> list[PreviewRow]:
    """The first `limit` records as the mapping reads them (None entries, unreadable records,
    are skipped but keep their position)."""
    rows = []
    for position, record in enumerate(records, start=1):
        if len(rows) >= limit:
            break
        if record is None:
            continue
        record = as_lean(record)
        problems: list[str] = []
        rid = local_id_of(record, mapping)
        if not rid:
            problems.append(f"no local id in {', '.join(str(r) for r in mapping.local_id)}")
        holdings = extract_holdings(record, mapping, local_id=rid, problems=problems)
        title_field = record.get("245")
        title = (
            clean(" ".join(title_field.get_subfields("a", "b")))
            if title_field is not None and not title_field.is_control_field()
            else ""
        )
        rows.append(PreviewRow(position, rid, title, tuple(holdings), tuple(problems)))
    return rows


def suggest_preset(records: Iterable[Record | Any | None]) -> str:
    """The preset whose holdings (or items) field with a barcode occurs in the most of these
    records; "marc21-852" when none does."""
    sample = [as_lean(r) for r in records if r is not None]
    best, best_score = "marc21-852", 0
    for name, mapping in PRESETS.items():
        if name == "kede-csv":
            continue
        tag = mapping.item_tag or mapping.holdings_tag
        code = mapping.item_barcode or mapping.barcode or mapping.copies
        score = sum(
            1
            for record in sample
            if any(not f.is_control_field() and f.get(code) for f in record.get_fields(tag))
        )
        if score > best_score:
            best, best_score = name, score
    return best
