"""The MARC record as the ingest readers give it: small, cheap to build, pymarc's API where the
code base reads records. Pure: no Django, and pymarc only for the explicit conversions.

pymarc builds a `Field` with a list of `Subfield` named tuples for every field of every record;
at catalogue-load rates that is most of the time a load takes. Here a data field keeps its
subfields as the strings the field splits into ("aThe title /", "cby X."): code and value in
one string, split from the field's text only when something first reads them. The hot path
(`bib`, `mapping`) reads `Field.parts` directly; everything else reads the pymarc-compatible
API, which builds `Subfield` tuples on demand:

- `Record`: `leader` (a str), `fields`, `get_fields(*tags)`, `get(tag)`, `record[tag]`,
  `tag in record`, iteration, `add_field`, `add_ordered_field`, `remove_field`,
  `remove_fields`, `as_dict`, `as_json`, and `as_marc`/`str()` through `to_pymarc()`.
- `Field`: `tag`, `control_field`/`is_control_field()`, `data`, `indicators`, `indicator1`,
  `indicator2`, `subfields`, `get_subfields(*codes)`, `get(code)`, `field[code]`,
  `code in field`, iteration, `value()`, `add_subfield`, `delete_subfield`, `as_marc`,
  `str()`.

A field is a control field exactly when pymarc says so: by its tag (001 to 009), whatever
element or position it came from. `from_pymarc`/`as_lean` bring records made elsewhere (an
OAI-PMH harvest, a test) into this form; `to_pymarc` goes the other way for the cold paths
that need pymarc itself (writing ISO 2709, MARCMaker text).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

CONTROL_TAGS = frozenset(f"00{d}" for d in range(10))
_SF = "\x1f"


class Subfield(NamedTuple):
    """A subfield as pymarc's API gives it (equal to pymarc's `Subfield` and to a tuple)."""

    code: str
    value: str


class Indicators(NamedTuple):
    first: str
    second: str


def is_control_tag(tag: str) -> bool:
    """pymarc's rule: tags 001 to 009 (and 000) are control fields, everything else has
    indicators and subfields."""
    return tag < "010" and tag.isdigit()


class Field:
    """One field. Build control fields with `Field.control(tag, data)` and data fields with
    `Field.make(tag, ind1, ind2, [(code, value), ...])`; the readers use the positional
    constructor, which takes the field's text after the indicators ("\\x1faTitle\\x1fbRest")
    and splits it when first read."""

    __slots__ = ("_parts", "_text", "control_field", "data", "indicator1", "indicator2", "tag")

    def __init__(
        self,
        tag: str,
        control_field: bool,
        data: str | None,
        indicator1: str = " ",
        indicator2: str = " ",
        parts: list[str] | None = None,
        text: str | None = None,
    ) -> None:
        self.tag = tag
        self.control_field = control_field
        self.data = data
        self.indicator1 = indicator1
        self.indicator2 = indicator2
        self._parts = parts
        self._text = text

    # --- building -------------------------------------------------------------------------

    @classmethod
    def control(cls, tag: str, data: str | None) -> Field:
        """A control field; a tag that is not 001-009 gives an empty data field, as pymarc."""
        if is_control_tag(tag):
            return cls(tag, True, data)
        return cls(tag, False, None, " ", " ", [])

    @classmethod
    def make(
        cls,
        tag: str,
        indicator1: str = " ",
        indicator2: str = " ",
        subfields: Iterable[tuple[str, str]] = (),
    ) -> Field:
        """A data field from (code, value) pairs; each code is one character (a longer one is
        cut to its first, an empty one becomes a space). Tags 001-009 give a control field
        without data, as pymarc."""
        if is_control_tag(tag):
            return cls(tag, True, None)
        parts = [(code[:1] or " ") + value for code, value in subfields]
        return cls(tag, False, None, indicator1, indicator2, parts)

    # --- the hot path's view --------------------------------------------------------------

    @property
    def parts(self) -> list[str]:
        """The subfields as "code + value" strings, in order (empty for a control field)."""
        parts = self._parts
        if parts is None:
            text = self._text
            parts = self._parts = [p for p in text.split(_SF) if p] if text else []
            self._text = None
        return parts

    # --- pymarc's API ---------------------------------------------------------------------

    def is_control_field(self) -> bool:
        return self.control_field

    @property
    def indicators(self) -> Indicators | None:
        if self.control_field:
            return None
        return Indicators(self.indicator1, self.indicator2)

    @property
    def subfields(self) -> list[Subfield]:
        """A new list of `Subfield`s (changing it does not change the field: use
        `add_subfield`/`delete_subfield`)."""
        return [Subfield(p[0], p[1:]) for p in self.parts]

    def get_subfields(self, *codes: str) -> list[str]:
        if self.control_field or not codes:
            return []
        return [p[1:] for p in self.parts if p[0] in codes]

    def get(self, code: str, default: str | None = None) -> str | None:
        if not self.control_field:
            for p in self.parts:
                if p[0] == code:
                    return p[1:]
        return default

    def __getitem__(self, code: str) -> str:
        value = self.get(code)
        if value is None:
            raise KeyError(code)
        return value

    def __contains__(self, code: object) -> bool:
        return not self.control_field and any(p[0] == code for p in self.parts)

    def __iter__(self) -> Iterator[Subfield]:
        return iter(self.subfields)

    def value(self) -> str:
        if self.control_field:
            return self.data or ""
        return " ".join(p[1:].strip() for p in self.parts)

    def add_subfield(self, code: str, value: str, pos: int | None = None) -> None:
        if self.control_field:
            return
        parts = self.parts
        part = (code[:1] or " ") + value
        if pos is None or pos > len(parts):
            parts.append(part)
        else:
            parts.insert(pos, part)

    def delete_subfield(self, code: str) -> str | None:
        if self.control_field:
            return None
        parts = self.parts
        for i, p in enumerate(parts):
            if p[0] == code:
                return parts.pop(i)[1:]
        return None

    def as_marc(self, encoding: str) -> bytes:
        """The field in transmission format, as pymarc writes it (so that a pymarc Record can
        hold this field and still be written out)."""
        if self.control_field:
            return f"{self.data}\x1e".encode(encoding)
        body = "".join("\x1f" + p for p in self.parts)
        return f"{self.indicator1}{self.indicator2}{body}\x1e".encode(encoding)

    as_marc21 = as_marc

    def __str__(self) -> str:
        """MARCMaker text, as pymarc writes it."""
        if self.control_field:
            return f"={self.tag}  {(self.data or '').replace(' ', chr(92))}"
        indicators = "".join(
            "\\" if i in (" ", "\\") else i for i in (self.indicator1, self.indicator2)
        )
        return f"={self.tag}  {indicators}" + "".join(f"${p[0]}{p[1:]}" for p in self.parts)

    def __repr__(self) -> str:
        return f"<Field {self}>"


class Record:
    """One MARC record: `leader` (24 characters) and `fields`, in order."""

    __slots__ = ("fields", "leader")

    def __init__(self, leader: str = " " * 24, fields: list[Field] | None = None) -> None:
        self.leader = str(leader)
        self.fields = fields if fields is not None else []

    def index(self) -> dict[str, list[Field]]:
        """The fields by tag, in order (built afresh: the record may have changed)."""
        by_tag: dict[str, list[Field]] = {}
        for f in self.fields:
            same = by_tag.get(f.tag)
            if same is None:
                by_tag[f.tag] = [f]
            else:
                same.append(f)
        return by_tag

    def get_fields(self, *tags: str) -> list[Field]:
        if not tags:
            return self.fields
        if len(tags) == 1:
            tag = tags[0]
            return [f for f in self.fields if f.tag == tag]
        return [f for f in self.fields if f.tag in tags]

    def get(self, tag: str, default: Field | None = None) -> Field | None:
        for f in self.fields:
            if f.tag == tag:
                return f
        return default

    def __getitem__(self, tag: str) -> Field:
        found = self.get(tag)
        if found is None:
            raise KeyError(tag)
        return found

    def __contains__(self, tag: object) -> bool:
        return any(f.tag == tag for f in self.fields)

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def add_field(self, *fields: Any) -> None:
        self.fields.extend(_field(f) for f in fields)

    def add_ordered_field(self, *fields: Any) -> None:
        """As pymarc: each field before the first with a higher numeric tag."""
        for f in map(_field, fields):
            if f.tag.isdigit():
                at = next(
                    (
                        i
                        for i, other in enumerate(self.fields)
                        if not other.tag.isdigit() or int(other.tag) > int(f.tag)
                    ),
                    len(self.fields),
                )
                self.fields.insert(at, f)
            else:
                self.fields.append(f)

    def remove_field(self, *fields: Field) -> None:
        for f in fields:
            self.fields.remove(f)

    def remove_fields(self, *tags: str) -> None:
        self.fields[:] = [f for f in self.fields if f.tag not in tags]

    def as_dict(self) -> dict[str, Any]:
        """MARC-in-JSON, as pymarc's `as_dict` writes it."""
        fields: list[dict[str, Any]] = []
        for f in self.fields:
            if f.control_field:
                fields.append({f.tag: f.data})
            else:
                fields.append(
                    {
                        f.tag: {
                            "ind1": f.indicator1,
                            "ind2": f.indicator2,
                            "subfields": [{p[0]: p[1:]} for p in f.parts],
                        }
                    }
                )
        return {"leader": self.leader, "fields": fields}

    def as_json(self, **kwargs: Any) -> str:
        return json.dumps(self.as_dict(), **kwargs)

    def to_pymarc(self) -> Any:
        """The same record as a pymarc Record (for writing it out, or for pymarc's own
        tools)."""
        import pymarc

        record = pymarc.Record()
        record.leader = pymarc.Leader(self.leader)
        out = []
        for f in self.fields:
            if f.control_field:
                out.append(pymarc.Field(f.tag, data=f.data))
            else:
                out.append(
                    pymarc.Field(
                        f.tag,
                        pymarc.Indicators(f.indicator1, f.indicator2),
                        [pymarc.Subfield(p[0], p[1:]) for p in f.parts],
                    )
                )
        record.fields = out
        return record

    def as_marc(self) -> bytes:
        """ISO 2709, as pymarc writes it."""
        return self.to_pymarc().as_marc()

    def __str__(self) -> str:
        return str(self.to_pymarc())

    def __repr__(self) -> str:
        return f"<Record {self.leader!r}, {len(self.fields)} fields>"


def _field(f: Any) -> Field:
    if isinstance(f, Field):
        return f
    return field_from_pymarc(f)


def field_from_pymarc(f: Any) -> Field:
    if f.is_control_field():
        return Field(f.tag, True, f.data)
    indicators = f.indicators or (" ", " ")
    return Field.make(f.tag, indicators[0], indicators[1], f.subfields)


def from_pymarc(record: Any) -> Record:
    """A pymarc Record (or anything with its `leader` and `fields`) in this form."""
    return Record(str(record.leader), [field_from_pymarc(f) for f in record.fields])


def as_lean(record: Any) -> Record:
    """The record itself when it is already in this form, else `from_pymarc(record)`."""
    if record.__class__ is Record:
        return record
    return from_pymarc(record)
