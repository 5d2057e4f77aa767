"""Writes to the union catalogue: sources, loads (uploads and harvests), and the old
simple-loader entry points kept for scripts and tests.

A load reads a member's file (or harvested records) through the pure ingest pipeline
(`kede.catalog.ingest`), then, batch by batch and each batch in one transaction, stores every
accepted record and its holding, removes deleted ones, merges records into works
(`kede.catalog.works`) and re-indexes the works it touched. The load's report (counts, and
every rejected record with its reason) is kept for the member to read.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pymarc
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kede.catalog import works as merging
from kede.catalog.dedup import MatchRecord, display_quality
from kede.catalog.ingest import (
    DEFAULT_MAPPING,
    KEEP_EVERYTHING,
    PRESETS,
    BibData,
    ConfigError,
    FieldMapping,
    HoldingData,
    IngestReport,
    Outcome,
    ScopeRule,
    ingest,
    ingest_results,
)
from kede.catalog.ingest.pipeline import results_from_records
from kede.catalog.marc import BibRecord, MarcError
from kede.catalog.models import (
    CatalogRecord,
    Holding,
    IngestRun,
    IngestStatus,
    ScopePolicy,
    Source,
    SourceKind,
)
from kede.consortium.models import Consortium, Institution

logger = logging.getLogger(__name__)

BATCH = 500


# ---- sources --------------------------------------------------------------------------------


def mapping_from(data: dict | str | None) -> FieldMapping:
    """A source's field mapping from what was stored or typed: a preset's name, or settings."""
    if not data:
        return DEFAULT_MAPPING
    if isinstance(data, str):
        if data not in PRESETS:
            raise ValidationError(
                _("Unknown mapping preset “%(name)s”; choose one of: %(choices)s.")
                % {"name": data, "choices": ", ".join(sorted(PRESETS))}
            )
        return PRESETS[data]
    try:
        return FieldMapping.from_dict(data)
    except ConfigError as exc:
        raise ValidationError(str(exc)) from exc


def source_add(
    *,
    institution: Institution,
    name: str,
    kind: str = SourceKind.UPLOAD,
    oai_url: str = "",
    oai_prefix: str = "marc21",
    oai_sets: str = "",
    mapping: dict | str | None = None,
) -> Source:
    if kind not in SourceKind.values:
        raise ValidationError(_("A source is a file upload or an OAI-PMH harvest."))
    if kind == SourceKind.OAI and not oai_url.startswith(("http://", "https://")):
        raise ValidationError(_("An OAI-PMH source needs the repository's http(s) address."))
    checked = mapping_from(mapping)
    source, _created = Source.objects.update_or_create(
        institution=institution,
        name=name.strip()[:200] or "catalogue",
        defaults={
            "kind": kind,
            "oai_url": oai_url,
            "oai_prefix": oai_prefix if kind == SourceKind.OAI else "",
            "oai_sets": oai_sets,
            "mapping": checked.to_dict(),
        },
    )
    return source


def source_set_mapping(*, source: Source, mapping: dict | str) -> Source:
    """The centre corrects where a source keeps its ids and holdings; the next load uses it."""
    source.mapping = mapping_from(mapping).to_dict()
    source.save(update_fields=["mapping"])
    return source


def default_source(institution: Institution) -> Source:
    cached = getattr(institution, "_default_source", None)
    if cached is not None:
        return cached
    source, _created = Source.objects.get_or_create(
        institution=institution,
        name="catalogue",
        defaults={"kind": SourceKind.UPLOAD, "mapping": DEFAULT_MAPPING.to_dict()},
    )
    institution._default_source = source  # one lookup per load, not per record
    return source


def scope_rule() -> ScopeRule:
    """What the consortium keeps; everything until the centre says otherwise."""
    policy = ScopePolicy.objects.first()
    if policy is None or not policy.rule:
        return KEEP_EVERYTHING
    return ScopeRule.from_dict(policy.rule)


def scope_set(*, consortium: Consortium, rule: dict) -> ScopePolicy:
    try:
        checked = ScopeRule.from_dict(rule)
    except ConfigError as exc:
        raise ValidationError(str(exc)) from exc
    policy, _created = ScopePolicy.objects.update_or_create(
        consortium=consortium, defaults={"rule": checked.to_dict()}
    )
    return policy


# ---- loads ----------------------------------------------------------------------------------


def _display(bib: BibData) -> dict:
    classes = [c.number for c in bib.classifications]
    return {
        "title": bib.title,
        "author": bib.author,
        "publisher": bib.publisher,
        "year": str(bib.year or ""),
        "edition": bib.edition,
        "isbn": bib.isbns[0] if bib.isbns else "",
        "issn": bib.issns[0] if bib.issns else "",
        "format": bib.format,
        "language": bib.language,
        "title_vernacular": bib.title_vernacular,
        "lccn": bib.lccn,
        "oclc": bib.oclc_numbers[0] if bib.oclc_numbers else "",
        "classification": classes[0] if classes else "",
    }


def _quality(record: pymarc.Record | None) -> int:
    """`dedup.display_quality` as one sortable number."""
    if record is None:
        return 0
    damaged, rank, source, fields, length = display_quality(record)
    score = (10 + max(damaged, -9)) * 100 + rank * 10 + min(source, 9)
    return (score * 1000 + min(fields, 999)) * 1_000_000 + min(length, 999_999)


def _match_record(outcome: Outcome) -> MatchRecord:
    record = getattr(outcome, "record", None)
    if record is not None:
        try:
            return MatchRecord.from_marc(record)
        except MarcError:  # no 001 or 245 $a where from_marc wants them: use the extraction
            logger.debug("from_marc refused %s; matching on extracted data", outcome.local_id)
    bib = outcome.bib
    assert bib is not None
    return MatchRecord(
        id=outcome.local_id,
        title=bib.title,
        authors=tuple(a for a in [bib.author, *bib.added_authors] if a),
        year=bib.year,
        venue=bib.publisher,
        edition=bib.edition,
        volume=" ".join(bib.part_numbers),
        isbns=tuple(bib.isbns),
        issns=tuple(bib.issns),
        lccn=bib.lccn,
        oclc=bib.oclc_numbers[0] if bib.oclc_numbers else "",
        oclcs=tuple(bib.oclc_numbers[1:]),
        format=bib.format,
        is_electronic=bib.electronic,
        nonfiling=bib.nonfiling,
        language=bib.language,
    )


def _coverage(record: pymarc.Record | None) -> tuple[str, list]:
    if record is None or not record.get_fields("866", "863"):
        return "", []
    from kede.catalog.serials import holdings_by_location

    texts = [" ".join(f.get_subfields("a")) for f in record.get_fields("866")]
    spans = [
        dataclasses.asdict(span)
        for holding in holdings_by_location(record)
        for span in holding.basic.spans
    ]
    return "; ".join(t for t in texts if t)[:2000], spans


def _store_holding(
    record: CatalogRecord, institution: Institution, items: list[HoldingData], marc
) -> None:
    """One holding per member record: its copies counted, its first call number and location
    shown, its serial coverage kept."""
    first = items[0] if items else HoldingData(local_id=record.local_id)
    text, spans = _coverage(marc)
    Holding.objects.update_or_create(
        institution=institution,
        local_id=record.local_id[:100],
        defaults={
            "work_id": record.work_id,
            "record": record,
            "call_number": first.call_number[:200],
            "location": first.location[:200],
            "barcode": first.barcode[:100],
            "copies": max(1, sum(max(i.copies, 0) for i in items) or 1),
            "coverage_text": text,
            "coverage": spans,
        },
    )


def _store_batch(
    source: Source,
    outcomes: list[Outcome],
    holders: Callable[[Outcome], list[Institution]] | None = None,
) -> merging.Changes:
    changes = merging.Changes()
    with transaction.atomic():
        for outcome in outcomes:
            if outcome.status == "deleted":
                merging.record_remove(source=source, local_id=outcome.local_id, changes=changes)
                continue
            marc = getattr(outcome, "record", None)
            stored = merging.record_store(
                source=source,
                local_id=outcome.local_id[:100],
                mine=_match_record(outcome),
                display=_display(outcome.bib),
                quality=_quality(marc),
                changes=changes,
            )
            for institution in holders(outcome) if holders else [source.institution]:
                _store_holding(stored, institution, outcome.holdings, marc)
        merging.works_refresh(changes.touched - changes.removed)
        from kede.catalog import indexing

        indexing.reindex_on_commit(changes.touched - changes.removed, changes.removed)
    return changes


def _run_outcomes(
    run: IngestRun,
    outcomes: Iterable[Outcome],
    report: IngestReport,
    holders: Callable[[Outcome], list[Institution]] | None = None,
) -> IngestRun:
    total = merging.Changes()
    batch: list[Outcome] = []
    try:
        for outcome in outcomes:
            if outcome.status in ("accepted", "deleted"):
                batch.append(outcome)
            if len(batch) >= BATCH:
                total.add(_store_batch(run.source, batch, holders))
                batch = []
        if batch:
            total.add(_store_batch(run.source, batch, holders))
    except Exception as exc:
        _finish(run, report, total, IngestStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    return _finish(run, report, total, IngestStatus.DONE)


def _finish(
    run: IngestRun, report: IngestReport, changes: merging.Changes, status: str, error: str = ""
) -> IngestRun:
    run.report = report.as_dict()
    run.status = status
    run.error = error[:2000]
    run.finished_at = timezone.now()
    for name in ("works_created", "works_merged", "works_split", "records_added",
                 "records_updated", "records_deleted"):  # fmt: skip
        setattr(run, name, getattr(changes, name))
    run.save()
    return run


def catalogue_load(
    *,
    source: Source,
    data: bytes | BinaryIO,
    file_name: str = "",
    actor=None,
    holders: Callable[[Outcome], list[Institution]] | None = None,
) -> IngestRun:
    """Load one file (ISO 2709 in UTF-8 or MARC-8, MARCXML, MARC-in-JSON or the CSV template,
    gzipped or not) into the union catalogue. Bad records are listed in the run's report with
    their reason and the load goes on; loading the same file again changes nothing."""
    run = IngestRun.objects.create(source=source, file_name=file_name[:300], started_by=actor)
    report = IngestReport()
    outcomes = ingest(
        data,
        mapping=mapping_from(source.mapping),
        scope=scope_rule(),
        report=report,
        source=file_name,
    )
    return _run_outcomes(run, outcomes, report, holders)


def catalogue_load_records(
    *, source: Source, records: Iterable[pymarc.Record | None], run: IngestRun | None = None
) -> IngestRun:
    """Load records already read (an OAI-PMH page): the same checks and report as a file."""
    run = run or IngestRun.objects.create(source=source, file_name="OAI-PMH")
    report = IngestReport()
    outcomes = ingest_results(
        results_from_records(records),
        mapping=mapping_from(source.mapping),
        scope=scope_rule(),
        report=report,
    )
    return _run_outcomes(run, outcomes, report)


def catalogue_remove_records(*, source: Source, local_ids: Iterable[str]) -> int:
    """Records the member deleted (an OAI-PMH deleted record): their holdings go."""
    changes = merging.Changes()
    with transaction.atomic():
        for local_id in local_ids:
            merging.record_remove(source=source, local_id=local_id, changes=changes)
        merging.works_refresh(changes.touched - changes.removed)
        from kede.catalog import indexing

        indexing.reindex_on_commit(changes.touched - changes.removed, changes.removed)
    return changes.records_deleted


# ---- the foundation loader's entry points, on the union catalogue ----------------------------


@dataclass
class LoadReport:
    read: int = 0
    works_created: int = 0
    holdings_created: int = 0
    rejected: list[tuple[str, int, str]] = field(default_factory=list)

    def add(self, other: LoadReport) -> None:
        self.read += other.read
        self.works_created += other.works_created
        self.holdings_created += other.holdings_created
        self.rejected.extend(other.rejected)


def _bib_data(bib: BibRecord) -> BibData:
    return BibData(
        title=bib.title,
        author=bib.author,
        publisher=bib.publisher,
        year=int(bib.year) if bib.year.isdigit() else None,
        edition=bib.edition,
        isbns=list(bib.isbns),
        issns=list(bib.issns),
        format=bib.format,
        languages=[bib.language] if bib.language else [],
        call_number=bib.call_number,
    )


def catalog_load_records(
    *,
    records: Iterable[BibRecord],
    holders: Callable[[BibRecord], list[Institution]],
) -> LoadReport:
    """Store already-read records as holdings of the institutions `holders` names (each
    institution's default source), merged into works like any load."""
    report = LoadReport()
    grouped: dict[int, tuple[Source, list[Outcome]]] = {}
    for bib in records:
        report.read += 1
        outcome = Outcome(
            position=report.read,
            status="accepted",
            local_id=bib.local_id,
            bib=_bib_data(bib),
            holdings=[HoldingData(local_id=bib.local_id, call_number=bib.call_number)],
        )
        for institution in holders(bib):
            source = default_source(institution)
            grouped.setdefault(source.id, (source, []))[1].append(outcome)
    return _store_grouped(grouped, report)


def _store_grouped(
    grouped: dict[int, tuple[Source, list[Outcome]]], report: LoadReport
) -> LoadReport:
    before = Holding.objects.count()
    for source, outcomes in grouped.values():
        for start in range(0, len(outcomes), BATCH):
            changes = _store_batch(source, outcomes[start : start + BATCH])
            report.works_created += max(0, changes.works_created - changes.works_merged)
    report.holdings_created = Holding.objects.count() - before
    return report


def catalog_load_file(
    *, path: Path, holders: Callable[[BibRecord], list[Institution]]
) -> LoadReport:
    """Load one MARC file for the institutions `holders` names; bad records are reported with
    their reason and skipped."""
    report = IngestReport()
    loaded = LoadReport()
    accepted: list[Outcome] = []
    with path.open("rb") as handle:
        for outcome in ingest(handle, report=report, source=path.name):
            if outcome.status == "accepted":
                accepted.append(outcome)
    for r in report.rejected:
        loaded.rejected.append((path.name, r.position, r.reason))
    loaded.read = report.read
    grouped: dict[int, tuple[Source, list[Outcome]]] = {}
    for outcome in accepted:
        bib = outcome.bib.to_bib_record(outcome.local_id)
        for institution in holders(bib):
            source = default_source(institution)
            grouped.setdefault(source.id, (source, []))[1].append(outcome)
    return _store_grouped(grouped, loaded)
