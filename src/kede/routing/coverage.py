"""Does a holder of a journal have the volume or year asked for? Pure: no Django.

The union catalogue says who holds a journal, and each holding may carry a holdings statement
read into spans by `kede.catalog.serials` (stored with the holding as JSON, one dict per
`Span`). For a request that names a volume or a year of a serial, each holder is:

- `COVERED`: one of its statements includes what was asked for;
- `NOT_COVERED`: every statement it has was read and none includes it (it is not asked:
  `kede.routing.policy.eligible`);
- `UNKNOWN`: it has no statement, or one that cannot say (unparsed, a bound missing, held
  with gaps): it stays, but is asked after the holders whose statement includes the volume
  (`kede.routing.policy.rank`).

The answer for one statement is `kede.catalog.serials.covers`'s; the spans are rebuilt from the
stored JSON here, so the catalogue keeps no routing code.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields

from kede.catalog.serials import MAX_YEAR, MIN_YEAR, Coverage, Embargo, Span, covers

COVERED = "covered"
UNKNOWN = "unknown"
NOT_COVERED = "not_covered"
STATES = frozenset({"", COVERED, UNKNOWN, NOT_COVERED})  # "": not checked (not a serial, …)

_SPAN_FIELDS = frozenset(f.name for f in fields(Span))
_SHOWN = 200  # characters of a statement kept for the reasons (stored with every rota)
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class Asked:
    """The part of a serial a request is for."""

    year: int | None = None
    volume: int | None = None
    issue: int | None = None

    def __str__(self) -> str:
        text = f"v.{self.volume}" if self.volume is not None else ""
        if self.issue is not None and text:
            text += f":no.{self.issue}"
        if self.year is not None:
            text += f" ({self.year})" if text else str(self.year)
        return text


def _whole(text: str) -> int | None:
    """The number in a citation's field when it holds exactly one ("12", "Vol. 12", "第12卷"),
    else None: "12-13", "NS 4 (2)" or "S1" are not guessed at."""
    found = _NUMBER.findall(text or "")
    if len(found) != 1 or re.search(r"[-–/,;&+]", text):
        return None
    return int(found[0])


def asked_from(*, volume: str = "", issue: str = "", year: str = "") -> Asked | None:
    """What a citation asks for, or None when it names neither a volume nor a year that can be
    read (then coverage is not checked)."""
    vol = _whole(volume)
    y = _whole(year)
    if y is not None and not MIN_YEAR <= y <= MAX_YEAR:
        y = None
    if vol is None and y is None:
        return None
    return Asked(year=y, volume=vol, issue=_whole(issue))


def coverage_from_json(spans: object) -> Coverage:
    """The spans of one holding as the catalogue stored them (`dataclasses.asdict(Span)`), or
    as a JSON string of them. What is not a span is skipped, not guessed at."""
    if isinstance(spans, str | bytes):
        try:
            spans = json.loads(spans)
        except ValueError:
            return Coverage(unparsed=str(spans))
    if not isinstance(spans, list):
        return Coverage()
    out = []
    for data in spans:
        if not isinstance(data, dict) or not set(data) <= _SPAN_FIELDS:
            continue
        try:
            embargo = tuple(Embargo(**e) for e in data.get("embargo") or ())
            span = Span(**{**data, "embargo": embargo})
        except (TypeError, ValueError):
            continue
        if _bounds_ok(span):
            out.append(span)
    return Coverage(spans=tuple(out))


def _bounds_ok(span: Span) -> bool:
    for name in ("start_year", "start_volume", "start_issue", "end_year", "end_volume"):
        value = getattr(span, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return False
    end_issue = span.end_issue
    return end_issue is None or (isinstance(end_issue, int) and not isinstance(end_issue, bool))


@dataclass(frozen=True, slots=True)
class Statement:
    """One holding's statement, read back, and written out for the reasons."""

    coverage: Coverage
    text: str


def statement_from_json(spans: object) -> Statement:
    coverage = coverage_from_json(spans)
    return Statement(coverage, str(coverage))


@dataclass(frozen=True, slots=True)
class HolderCoverage:
    """One holder's answer, with its statement written out for the reasons ("" when it has
    none that could be read)."""

    state: str
    holdings: str = ""


def holder_coverage(
    statements: Iterable[object], asked: Asked, today: datetime.date
) -> HolderCoverage:
    """The answer for a holder from all its holdings of the work (a library may hold a journal
    twice, in print and on film): covered if any statement includes `asked`, not covered if
    every one was read and none does, else unknown. A statement is a `Statement` or the
    holding's stored JSON."""
    seen_unknown = False
    written: list[str] = []
    for raw in statements:
        statement = raw if isinstance(raw, Statement) else statement_from_json(raw)
        coverage, text = statement.coverage, statement.text
        if not coverage.spans:
            seen_unknown = True
            continue
        answer = covers(
            coverage, year=asked.year, volume=asked.volume, issue=asked.issue, today=today
        )
        if answer is True:
            return HolderCoverage(COVERED, _short(text))
        if answer is None:
            seen_unknown = True
        written.append(text)
    holdings = _short("; ".join(dict.fromkeys(written)))
    if seen_unknown or not written:
        return HolderCoverage(UNKNOWN, holdings)
    return HolderCoverage(NOT_COVERED, holdings)


def _short(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
