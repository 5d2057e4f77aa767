"""One upload in, one outcome per record out. Pure: no Django.

    report = IngestReport()
    for outcome in ingest(upload, mapping=mapping, scope=scope, report=report):
        ...  # outcome.status: "accepted" (bib + holdings), "deleted", or "rejected" (reason)

Read (readers) -> local id (mapping) -> bibliographic data (bib) -> deletion? -> title? ->
scope -> holdings (mapping). Every record gives exactly one outcome and one count in the
report, whatever is wrong with it. CSV uploads are read with the template's own mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from kede.catalog.ingest.bib import BibData, extract_bib, missing_title_reason
from kede.catalog.ingest.lean import Record, as_lean
from kede.catalog.ingest.mapping import (
    CSV_MAPPING,
    DEFAULT_MAPPING,
    FieldMapping,
    HoldingData,
    extract_holdings,
    local_id_of,
)
from kede.catalog.ingest.readers import FORMAT_CSV, ReadResult, RecordStream
from kede.catalog.ingest.report import (
    ACCEPTED,
    DELETED,
    NO_LOCAL_ID,
    NO_TITLE,
    REJECTED,
    UNREADABLE,
    IngestReport,
    Rejection,
)
from kede.catalog.ingest.scope import KEEP_EVERYTHING, ScopeRule


@dataclass(slots=True)
class Outcome:
    """What became of one record. `category` says why it was rejected (unreadable, no-title,
    no-local-id, out-of-scope, unclassified) or how it was kept (in-scope, unclassified)."""

    position: int
    status: str
    local_id: str = ""
    bib: BibData | None = None
    holdings: list[HoldingData] = field(default_factory=list)
    category: str = ""
    reason: str = ""
    offset: int | None = None
    line: int | None = None
    warnings: tuple[str, ...] = ()
    # The record as read (a lean Record, pymarc's API), for what the store needs beyond `bib`
    # (matching, display quality, serial coverage).
    record: Record | None = field(default=None, repr=False)
    # What the store needs, when a reading process computed it already
    # (`kede.catalog.prepared`); the record is then left behind.
    prepared: Any = field(default=None, repr=False)

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED


def outcome_of(
    result: ReadResult, mapping: FieldMapping, scope: ScopeRule, seen: dict[str, int]
) -> Outcome:
    where = {"position": result.position, "offset": result.offset, "line": result.line}
    record = result.record
    if record is None:
        return Outcome(
            status=REJECTED,
            category=UNREADABLE,
            reason=result.error,
            warnings=result.warnings,
            **where,
        )
    record = as_lean(record)  # a harvest's pymarc records join here
    warnings = result.warnings
    local_id = local_id_of(record, mapping)
    bib = extract_bib(record)
    if not local_id:
        places = ", ".join(str(ref) for ref in mapping.local_id)
        return Outcome(
            status=REJECTED,
            bib=bib,
            category=NO_LOCAL_ID,
            reason=f"no local record id ({places})",
            warnings=warnings,
            **where,
        )
    if local_id in seen:
        warnings += (
            f"local id {local_id!r} also at record {seen[local_id]}; this one replaces it",
        )
    else:
        seen[local_id] = result.position
    if bib.deleted:
        return Outcome(
            status=DELETED,
            local_id=local_id,
            bib=bib,
            reason="deleted (leader/05 d)",
            warnings=warnings,
            **where,
        )
    if not bib.title:
        return Outcome(
            status=REJECTED,
            local_id=local_id,
            bib=bib,
            category=NO_TITLE,
            reason=missing_title_reason(record),
            warnings=warnings,
            **where,
        )
    decision = scope.decide(bib)
    if not decision.keep:
        return Outcome(
            status=REJECTED,
            local_id=local_id,
            bib=bib,
            category=decision.category,
            reason=decision.reason,
            warnings=warnings,
            **where,
        )
    return Outcome(
        status=ACCEPTED,
        local_id=local_id,
        bib=bib,
        holdings=extract_holdings(record, mapping, local_id=local_id),
        category=decision.category,
        reason=decision.reason,
        warnings=warnings,
        record=record,
        **where,
    )


def count_outcome(outcome: Outcome, report: IngestReport, source: str) -> None:
    """The outcome counted in the report (and listed there when rejected)."""
    if outcome.warnings:
        report.add_warnings(
            outcome.warnings, f"{source + ' ' if source else ''}record {outcome.position}"
        )
    if outcome.status == ACCEPTED:
        report.add_accepted(
            category=outcome.category,
            holdings=len(outcome.holdings),
            copies=sum(h.copies for h in outcome.holdings),
        )
    elif outcome.status == DELETED:
        report.add_deleted()
    else:
        report.add_rejected(
            Rejection(
                position=outcome.position,
                category=outcome.category,
                reason=outcome.reason,
                local_id=outcome.local_id,
                offset=outcome.offset,
                line=outcome.line,
                source=source,
            )
        )


def ingest_results(
    results: Iterable[ReadResult],
    *,
    mapping: FieldMapping = DEFAULT_MAPPING,
    scope: ScopeRule = KEEP_EVERYTHING,
    report: IngestReport | None = None,
    source: str = "",
) -> Iterator[Outcome]:
    """Outcomes for records already read (from `readers`, or from a harvest: see
    `results_from_records`)."""
    seen: dict[str, int] = {}
    for result in results:
        outcome = outcome_of(result, mapping, scope, seen)
        if report is not None:
            count_outcome(outcome, report, source)
        yield outcome


def results_from_records(records: Iterable[Record | Any | None]) -> Iterator[ReadResult]:
    """Records read elsewhere (pymarc records from an OAI-PMH harvest, a test) as reader
    results."""
    for position, record in enumerate(records, start=1):
        yield ReadResult(
            position,
            record=as_lean(record) if record is not None else None,
            error="" if record is not None else "unreadable record",
        )


def ingest(
    data: bytes | bytearray | memoryview | BinaryIO,
    *,
    mapping: FieldMapping = DEFAULT_MAPPING,
    scope: ScopeRule = KEEP_EVERYTHING,
    report: IngestReport | None = None,
    source: str = "",
    format: str | None = None,
    max_bytes: int | None = None,
) -> Iterator[Outcome]:
    """Every record of one upload (bytes or a binary stream, gzip or not, any of the four
    formats), read, checked and mapped; `report` (if given) counts them as they pass."""
    stream = RecordStream(data, format=format, max_bytes=max_bytes)
    if report is not None:
        report.formats[stream.format or "unrecognised"] += 1
    if stream.format == FORMAT_CSV:
        mapping = CSV_MAPPING
    yield from ingest_results(stream, mapping=mapping, scope=scope, report=report, source=source)


def ingest_all(
    data: bytes | bytearray | memoryview | BinaryIO,
    *,
    mapping: FieldMapping = DEFAULT_MAPPING,
    scope: ScopeRule = KEEP_EVERYTHING,
    source: str = "",
    max_listed: int = 1000,
) -> tuple[list[Outcome], IngestReport]:
    """`ingest` with the outcomes gathered in a list (for small files and tests)."""
    report = IngestReport(max_listed=max_listed)
    outcomes = list(ingest(data, mapping=mapping, scope=scope, report=report, source=source))
    return outcomes, report
