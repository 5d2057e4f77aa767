"""Writes to the union catalogue: sources, loads (uploads and harvests), and the old
simple-loader entry points kept for scripts and tests.

A load reads a member's file (or harvested records) through the pure ingest pipeline
(`kede.catalog.ingest`), then, batch by batch and each batch in one transaction, stores every
accepted record and its holding, removes deleted ones, merges records into works
(`kede.catalog.works`) and re-indexes the works it touched. The load's report (counts, and
every rejected record with its reason) is kept for the member to read.
"""

from __future__ import annotations

import copy
import io
import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

import pymarc
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from kede.catalog import works as merging
from kede.catalog.article_services import articles_attach_waiting
from kede.catalog.ingest import (
    CSV_MAPPING,
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
from kede.catalog.ingest.readers import FORMAT_CSV, ReadResult, RecordStream
from kede.catalog.ingest.report import OUT_OF_SCOPE, UNCLASSIFIED, UNREADABLE, Rejection
from kede.catalog.marc import BibRecord
from kede.catalog.models import (
    CatalogRecord,
    Holding,
    IngestRun,
    IngestStatus,
    ScopePolicy,
    Source,
    SourceKind,
)
from kede.catalog.prepared import Prepared, outcomes_in_worker, prepare
from kede.consortium.models import Consortium, Institution
from kede.core.bulk import insert_many

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


def _require(actor, action: str, institution: Institution | None = None) -> None:
    """The permission table's word on an action; no actor is a script or the worker."""
    if actor is None:
        return
    from django.core.exceptions import PermissionDenied

    from kede.accounts.selectors import permitted
    from kede.catalog.selectors import may_configure

    if may_configure(actor):
        return
    if institution is not None and permitted(actor, action, institution, as_staff=True):
        return
    raise PermissionDenied(_("You may not do this for this library's catalogue."))


def source_set_mapping(*, source: Source, mapping: dict | str, actor=None) -> Source:
    """The centre corrects where a source keeps its ids and holdings; the next load uses it."""
    _require(actor, "catalogue.configure")
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


def scope_set(*, consortium: Consortium, rule: dict, actor=None) -> ScopePolicy:
    """What the consortium keeps from the next load on (loaded records stay)."""
    _require(actor, "catalogue.configure")
    try:
        checked = ScopeRule.from_dict(rule)
    except ConfigError as exc:
        raise ValidationError(str(exc)) from exc
    policy, _created = ScopePolicy.objects.update_or_create(
        consortium=consortium, defaults={"rule": checked.to_dict()}
    )
    return policy


# ---- loads ----------------------------------------------------------------------------------


def _holding_values(
    record: CatalogRecord, items: list[HoldingData], coverage: tuple[str, list]
) -> dict:
    """One holding per member record: its copies counted, its first call number and location
    shown, its serial coverage kept."""
    first = items[0] if items else HoldingData(local_id=record.local_id)
    text, spans = coverage
    return {
        "record_id": record.id,
        "call_number": first.call_number[:200],
        "location": first.location[:200],
        "barcode": first.barcode[:100],
        "copies": max(1, sum(max(i.copies, 0) for i in items) or 1),
        "coverage_text": text,
        "coverage": spans,
    }


_HOLDING_FIELDS = ("work", "record", "call_number", "location", "barcode", "copies",
                   "coverage_text", "coverage")  # fmt: skip


# A new holding's values (`_holding_values` and its work), as the columns are named.
_NEW_HOLDING = ("work_id", "record_id", "call_number", "location", "barcode", "copies",
                "coverage_text", "coverage")  # fmt: skip
_NEW_HOLDING_FIELDS = ("work", "record", *_NEW_HOLDING[2:])


def _store_holdings(pending: dict[tuple[int, str], dict]) -> None:
    """A batch's holdings, by (institution id, local id), written once the batch's records
    have found their works: two reads, one statement adding the new ones, and a write for
    each that changed."""
    if not pending:
        return
    work_of = dict(
        CatalogRecord.objects.filter(
            id__among=[v["record_id"] for v in pending.values()]
        ).values_list("id", "work_id")
    )
    wanted = Q()
    for institution_id in {i for i, _local in pending}:
        ids = [local for i, local in pending if i == institution_id]
        wanted |= Q(institution_id=institution_id, local_id__among=ids)
    existing = {(h.institution_id, h.local_id): h for h in Holding.objects.filter(wanted)}
    new = []
    for (institution_id, local_id), values in pending.items():
        if values["record_id"] not in work_of:
            continue  # the record was deleted later in the same batch
        values = values | {"work_id": work_of[values["record_id"]]}
        holding = existing.get((institution_id, local_id))
        if holding is None:
            new.append([institution_id, local_id, *(values[name] for name in _NEW_HOLDING)])
        elif any(getattr(holding, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(holding, name, value)
            holding.save(update_fields=_HOLDING_FIELDS)
    insert_many(
        Holding, ["institution", "local_id", *_NEW_HOLDING_FIELDS], new, ignore_conflicts=True
    )


def _store_batch(
    source: Source,
    outcomes: list[Outcome],
    holders: Callable[[Outcome], list[Institution]] | None = None,
    harvest_ids: dict[int, str] | None = None,
) -> merging.Changes:
    """Store one batch of outcomes in one transaction. `harvest_ids` gives the OAI-PMH
    identifier of harvested records, by position.

    Records whose local id comes once in the batch (nearly all) are stored together
    (`works.records_store`); a local id sent twice, or deleted in the same batch, is taken
    one outcome at a time in the file's order, so the last word wins."""
    changes = merging.Changes()
    harvest_ids = harvest_ids or {}
    sent = Counter(o.local_id[:100] for o in outcomes)
    deleted = {o.local_id[:100] for o in outcomes if o.status == "deleted"}
    together: list[merging.Incoming] = []
    prepared: dict[str, Prepared] = {}
    one_by_one: list[tuple[Outcome, merging.Incoming | None]] = []
    for outcome in outcomes:
        local_id = outcome.local_id[:100]
        if outcome.status == "deleted":
            one_by_one.append((outcome, None))
            continue
        ready = prepare(outcome)
        prepared[local_id] = ready
        item = merging.Incoming(
            local_id=local_id,
            mine=ready.mine,
            display=ready.display,
            quality=ready.quality,
            harvest_id=harvest_ids.get(outcome.position, ""),
        )
        if sent[local_id] == 1 and local_id not in deleted:
            together.append(item)
        else:
            one_by_one.append((outcome, item))
    with transaction.atomic():
        records = merging.records_store(source, together, changes)
        wanted = {i.local_id: i.values() for _o, i in one_by_one if i is not None}
        found, fresh = merging.records_prepare(source, wanted) if wanted else ({}, set())
        for outcome, item in one_by_one:
            local_id = outcome.local_id[:100]
            if item is None:
                found.pop(local_id, None)
                records.pop(local_id, None)
                merging.record_remove(source=source, local_id=outcome.local_id, changes=changes)
                continue
            found[local_id] = merging.record_store(
                source=source,
                local_id=local_id,
                mine=item.mine,
                display=item.display,
                quality=item.quality,
                harvest_id=item.harvest_id,
                changes=changes,
                record=found.get(local_id),
                created=local_id in fresh,
            )
            fresh.discard(local_id)
        records.update(found)
        pending: dict[tuple[int, str], dict] = {}
        for outcome in outcomes:
            local_id = outcome.local_id[:100]
            if outcome.status == "deleted" or local_id not in records:
                continue
            coverage = prepared[local_id].coverage
            for institution in holders(outcome) if holders else [source.institution]:
                pending[(institution.id, local_id)] = _holding_values(
                    records[local_id], outcome.holdings, coverage
                )
        _store_holdings(pending)
        merging.works_refresh(changes.to_refresh())
        # Articles loaded before their journal join it as it arrives (one query when none
        # waits).
        articles_attach_waiting(work_ids=changes.touched - changes.removed)
        from kede.catalog import indexing

        indexing.reindex_on_commit(changes.touched - changes.removed, changes.removed)
    return changes


def _counted(changes: merging.Changes) -> merging.Changes:
    """The batch's counts only: a big load need not remember every work it touched."""
    changes.touched, changes.removed, changes.shown = set(), set(), set()
    return changes


class _Seen:
    """The local ids a load's file still holds, for a full re-send (`replace`): every record
    it accepted or deleted, and those it could not read well enough to judge (kept as they
    were). Records it rejected as out of scope are not kept."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def note(self, outcome: Outcome) -> None:
        kept = outcome.status in ("accepted", "deleted")
        if outcome.local_id and (kept or outcome.category not in (OUT_OF_SCOPE, UNCLASSIFIED)):
            self.ids.add(outcome.local_id[:100])


def _beat(run: IngestRun) -> None:
    """The load's sign of life (see `resume_stalled_loads`)."""
    if run.pk:
        IngestRun.objects.filter(id=run.pk).update(progress_at=timezone.now())


def _run_outcomes(
    run: IngestRun,
    outcomes: Iterable[Outcome],
    report: IngestReport,
    holders: Callable[[Outcome], list[Institution]] | None = None,
    seen: _Seen | None = None,
    progress: Callable[[int], None] | None = None,
) -> IngestRun:
    from kede.catalog import indexing

    total = merging.Changes()
    batch: list[Outcome] = []
    read = 0
    try:
        with indexing.deferred():
            for outcome in outcomes:
                read += 1
                if seen is not None:
                    seen.note(outcome)
                if outcome.status in ("accepted", "deleted"):
                    batch.append(outcome)
                if len(batch) >= BATCH:
                    total.add(_counted(_store_batch(run.source, batch, holders)))
                    batch = []
                    _beat(run)
                    if progress:
                        progress(read)
            if batch:
                total.add(_counted(_store_batch(run.source, batch, holders)))
            if progress:
                progress(read)
    except Exception as exc:
        _finish(run, report, total, IngestStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    return _finish(run, report, total, IngestStatus.DONE)


def nothing_readable(report: IngestReport) -> bool:
    """Whether not one record of a load could be read (not a MARC or CSV file, an empty or
    broken file): the load failed as a whole."""
    return report.read > 0 and report.categories.get(UNREADABLE, 0) == report.read


RUN_COUNTS = ("works_created", "works_merged", "works_split", "records_added", "records_updated",
           "records_deleted")  # fmt: skip


def _finish(
    run: IngestRun,
    report: IngestReport,
    changes: merging.Changes,
    status: str,
    error: str = "",
    extra: dict | None = None,
) -> IngestRun:
    if status == IngestStatus.DONE and nothing_readable(report):
        status = IngestStatus.FAILED
        first = report.rejected[0].reason if report.rejected else ""
        error = f"no record could be read: {first}"
    run.report = report.as_dict() | (extra or {})
    run.status = status
    run.error = error[:2000]
    run.finished_at = timezone.now()
    for name in RUN_COUNTS:
        setattr(run, name, getattr(changes, name))
    run.save()
    return run


SAMPLES = 20


def _sampled(results: Iterable[ReadResult], samples: list[dict]) -> Iterator[ReadResult]:
    """The results unchanged, keeping the first readable records (as MARC-in-JSON) for the
    mapping preview: as read, before any mapping, so a wrong mapping can still be seen."""
    for result in results:
        if result.record is not None and len(samples) < SAMPLES:
            samples.append(result.record.as_dict())
        yield result


def _size_of(data: bytes | BinaryIO) -> int | None:
    """The input's size in bytes (a compressed file's compressed size) when the file system
    or the bytes tell it without reading; None otherwise."""
    if isinstance(data, bytes | bytearray | memoryview):
        return len(data)
    try:
        return os.fstat(data.fileno()).st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _worth_a_reading_process(data: bytes | BinaryIO) -> bool:
    """Whether a load reads its file in a process of its own (`kede.catalog.prepared`): on
    a machine with more than one core, for a file big enough that starting the process
    (about a second) is repaid. KEDE_LOAD_READER_BYTES sets the size; 0 turns it off."""
    threshold = settings.KEDE_LOAD_READER_BYTES
    if threshold <= 0 or (os.cpu_count() or 1) < 2:
        return False
    if multiprocessing.current_process().daemon:  # a pool's worker may not start processes
        return False
    size = _size_of(data)
    return size is not None and size >= threshold


def catalogue_load(
    *,
    source: Source,
    data: bytes | BinaryIO,
    file_name: str = "",
    actor=None,
    holders: Callable[[Outcome], list[Institution]] | None = None,
    run: IngestRun | None = None,
    replace: bool = False,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> IngestRun:
    """Load one file (ISO 2709 in UTF-8 or MARC-8, MARCXML, MARC-in-JSON or the CSV template,
    gzipped or not) into the union catalogue. Bad records are listed in the run's report with
    their reason and the load goes on; loading the same file again changes nothing. A file of
    which not one record can be read leaves the run failed, with the reason.

    With `replace` the file is the source's whole catalogue: its records the file no longer
    holds are withdrawn after the load (see `_withdraw_absent`). `progress` is told how many
    records have been read, now and then."""
    mapping, scope = mapping_from(source.mapping), scope_rule()
    if run is None:
        run = IngestRun.objects.create(
            source=source, file_name=file_name[:300], started_by=actor, whole_catalogue=replace
        )
    report = IngestReport()
    run.samples = []
    if _worth_a_reading_process(data):
        outcomes = outcomes_in_worker(
            data,
            mapping=mapping,
            scope=scope,
            report=report,
            samples=run.samples,
            max_samples=SAMPLES,
            source=file_name,
        )
    else:
        stream = RecordStream(data)
        report.formats[stream.format or "unrecognised"] += 1
        if stream.format == FORMAT_CSV:
            mapping = CSV_MAPPING
        outcomes = ingest_results(
            _sampled(stream, run.samples),
            mapping=mapping,
            scope=scope,
            report=report,
            source=file_name,
        )
    seen = _Seen() if replace else None
    run = _run_outcomes(run, outcomes, report, holders, seen=seen, progress=progress)
    if seen is not None and run.status == IngestStatus.DONE:
        _withdraw_absent(run, seen.ids, force=force)
    return run


# A full re-send that would withdraw more than this share of a source's records is taken for
# a partial export sent by mistake, unless forced.
WITHDRAW_LIMIT = 0.5


def _withdraw_absent(run: IngestRun, kept: set[str], *, force: bool) -> None:
    """After a full re-send: withdraw the source's records the file no longer holds (their
    holdings go, and works left with no record). Noted in the run's report either way."""
    source = run.source
    stored = set(CatalogRecord.objects.filter(source=source).values_list("local_id", flat=True))
    absent = sorted(stored - kept)
    facts: dict = {"absent": len(absent), "withdrawn": 0}
    if absent and not force and len(absent) > WITHDRAW_LIMIT * len(stored):
        facts["refused"] = _(
            "%(absent)s of the %(stored)s records of this source are not in the file; that "
            "looks like a partial export, so none was withdrawn. Load it again with "
            "withdrawal forced if the catalogue really shrank."
        ) % {"absent": len(absent), "stored": len(stored)}
    elif absent:
        changes = merging.Changes()
        for start in range(0, len(absent), BATCH):
            changes.add(_remove(source, absent[start : start + BATCH]))
        facts["withdrawn"] = changes.records_deleted
        run.records_deleted += changes.records_deleted
    run.report = (run.report or {}) | {"replace": facts}
    run.save(update_fields=["report", "records_deleted"])


# ---- uploads from the pages: stored first, loaded by the worker -----------------------------

# A whole library's export, gzipped or not; far above a delivered copy's limit.
MAX_UPLOAD_BYTES = 2 * 1024**3


def catalogue_upload(
    *, source: Source, upload: File, actor=None, replace: bool = False
) -> IngestRun:
    """Keep an uploaded file in Django's default storage and queue its load (`load_upload`),
    so a big file does not hold the page; the run shows "queued", then "running", "done".
    With `replace` the file is the whole catalogue (see `catalogue_load`)."""
    _require(actor, "catalogue.manage", source.institution)
    size = upload.size or 0
    if size <= 0:
        raise ValidationError(_("The file is empty."))
    if size > MAX_UPLOAD_BYTES:
        raise ValidationError(
            _("The file is larger than %(mb)s MB; split it or compress it with gzip.")
            % {"mb": MAX_UPLOAD_BYTES // 1024**2}
        )
    mapping_from(source.mapping)  # a broken mapping is refused now, not in the worker
    original = Path(upload.name or "").name
    try:
        safe = get_valid_filename(original)[-100:]
    except SuspiciousFileOperation:  # nothing usable in the name
        safe = "catalogue"
    stored = default_storage.save(f"catalogue/{source.institution.code}/{source.id}/{safe}", upload)
    run = IngestRun.objects.create(
        source=source,
        file_name=(original or safe)[:300],
        status=IngestStatus.QUEUED,
        upload_name=stored,
        started_by=actor,
        whole_catalogue=replace,
    )
    from kede.catalog.tasks import load_upload

    load_upload.enqueue(run_id=run.id)  # in this transaction: no run without its task
    return run


def catalogue_load_queued(*, run_id: int) -> IngestRun | None:
    """Load a queued upload (the worker's side of `catalogue_upload`). Taking the run is one
    conditional update, so a task delivered twice loads the file once; None when taken."""
    taken = IngestRun.objects.filter(id=run_id, status=IngestStatus.QUEUED).update(
        status=IngestStatus.RUNNING, progress_at=timezone.now()
    )
    if not taken:
        return None
    run = IngestRun.objects.select_related("source__institution").get(id=run_id)
    try:
        handle = default_storage.open(run.upload_name, "rb")
    except OSError as exc:
        error = f"the uploaded file is gone: {exc}"
        return _finish(run, IngestReport(), merging.Changes(), IngestStatus.FAILED, error=error)
    try:
        with handle:
            run = catalogue_load(
                source=run.source,
                data=handle,
                file_name=run.file_name,
                run=run,
                replace=run.whole_catalogue,
            )
    except ValidationError as exc:  # the source's mapping broke since the upload
        error = "; ".join(exc.messages)
        return _finish(run, IngestReport(), merging.Changes(), IngestStatus.FAILED, error=error)
    if run.status == IngestStatus.DONE:
        default_storage.delete(run.upload_name)  # loaded: its samples and report remain
        run.upload_name = ""
        run.save(update_fields=["upload_name"])
    return run


def resume_stalled_loads(now=None) -> list[int]:
    """Queue again the uploads whose worker died mid-load: running, with no sign of life for
    KEDE_LOAD_STALL_MINUTES (a live load beats after every batch). Loading a file again is
    safe: what was stored is found unchanged. Taking each run back is one conditional
    update, so two sweeps queue it once. Returns the runs queued again."""
    from django.conf import settings

    from kede.catalog.tasks import load_upload

    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.KEDE_LOAD_STALL_MINUTES)
    stalled = IngestRun.objects.filter(status=IngestStatus.RUNNING).exclude(upload_name="")
    stalled = stalled.filter(
        Q(progress_at__lt=cutoff) | Q(progress_at__isnull=True, started_at__lt=cutoff)
    )
    resumed = []
    for run_id in stalled.values_list("id", flat=True):
        with transaction.atomic():
            if IngestRun.objects.filter(id=run_id, status=IngestStatus.RUNNING).update(
                status=IngestStatus.QUEUED
            ):
                load_upload.enqueue(run_id=run_id)
                resumed.append(run_id)
    if resumed:
        logger.warning("catalogue loads queued again after their worker stopped: %s", resumed)
    return resumed


# ---- records already read, and deletions ----------------------------------------------------


def _load_results(
    source: Source,
    results: Iterable[ReadResult],
    report: IngestReport,
    *,
    mapping: FieldMapping,
    scope: ScopeRule,
    harvest_ids: dict[int, str] | None = None,
) -> merging.Changes:
    outcomes = [
        o
        for o in ingest_results(results, mapping=mapping, scope=scope, report=report)
        if o.status in ("accepted", "deleted")
    ]
    total = merging.Changes()
    for start in range(0, len(outcomes), BATCH):
        total.add(_store_batch(source, outcomes[start : start + BATCH], harvest_ids=harvest_ids))
    return total


def catalogue_load_records(
    *, source: Source, records: Iterable[pymarc.Record | None], run: IngestRun | None = None
) -> IngestRun:
    """Load records already read: the same checks and report as a file."""
    run = run or IngestRun.objects.create(source=source, file_name=HARVEST_FILE_NAME)
    report = IngestReport()
    try:
        changes = _load_results(
            source,
            results_from_records(records),
            report,
            mapping=mapping_from(source.mapping),
            scope=scope_rule(),
        )
    except Exception as exc:
        _finish(run, report, merging.Changes(), IngestStatus.FAILED, error=f"{exc!r}")
        raise
    return _finish(run, report, changes, IngestStatus.DONE)


def _remove(
    source: Source, local_ids: Iterable[str] = (), harvest_ids: Iterable[str] = ()
) -> merging.Changes:
    changes = merging.Changes()
    with transaction.atomic():
        wanted = list(local_ids)
        harvest_ids = list(harvest_ids)
        if harvest_ids:
            found = dict(
                CatalogRecord.objects.filter(source=source, harvest_id__in=harvest_ids).values_list(
                    "harvest_id", "local_id"
                )
            )
            # a record stored before it was harvested: its OAI identifier may be its id
            wanted += [found.get(h, h) for h in harvest_ids]
        for local_id in wanted:
            merging.record_remove(source=source, local_id=local_id, changes=changes)
        merging.works_refresh(changes.to_refresh())
        # Articles loaded before their journal join it as it arrives (one query when none
        # waits).
        articles_attach_waiting(work_ids=changes.touched - changes.removed)
        from kede.catalog import indexing

        indexing.reindex_on_commit(changes.touched - changes.removed, changes.removed)
    return changes


def catalogue_remove_records(
    *, source: Source, local_ids: Iterable[str] = (), harvest_ids: Iterable[str] = ()
) -> int:
    """Records the member deleted (named by local id, or by the OAI-PMH identifier they were
    harvested under): their holdings go, and a work left with no record."""
    return _remove(source, local_ids, harvest_ids).records_deleted


# ---- OAI-PMH harvests -----------------------------------------------------------------------

HARVEST_FILE_NAME = "OAI-PMH"
# A harvest holds its source this long past its last committed page.
HARVEST_LEASE = timedelta(hours=1)


def _harvest_start_state(source: Source):
    from kede.catalog.oai import HarvestState

    prefix, sets = source.oai_prefix or "marc21", source.oai_sets.split()
    saved = source.harvest_state or {}
    if saved.get("base_url") == source.oai_url:
        state = HarvestState.from_dict(saved)
        if (state.metadata_prefix, list(state.sets)) == (prefix, sets):
            return state
    # a new source, or another repository, format or sets: harvest everything
    return HarvestState(base_url=source.oai_url, metadata_prefix=prefix, sets=sets)


def _claim_harvest(source: Source) -> bool:
    """Take the source for one harvest; False when another process holds it. One conditional
    update, so two schedulers (or the command beside the scheduler) never both get it."""
    now = timezone.now()
    free = Q(harvest_lease_until__isnull=True) | Q(harvest_lease_until__lt=now)
    return bool(
        Source.objects.filter(free, id=source.id).update(harvest_lease_until=now + HARVEST_LEASE)
    )


class _Harvest:
    """One harvest's run: each page stored, and the harvest state saved, in one commit."""

    def __init__(self, source: Source, run: IngestRun, mapping: FieldMapping, scope: ScopeRule):
        self.source, self.run, self.mapping, self.scope = source, run, mapping, scope
        self.report = IngestReport()
        self.changes = merging.Changes()
        self.position = 0
        self.state = None

    def on_batch(self, records: list, state) -> None:
        page = IngestReport()
        results: list[ReadResult] = []
        harvest_ids: dict[int, str] = {}
        deleted: list[str] = []
        position = self.position
        for record in records:
            position += 1
            if record.deleted:
                deleted.append(record.identifier)
                page.add_deleted()
            elif record.marc is None:
                page.add_rejected(
                    Rejection(
                        position=position,
                        category=UNREADABLE,
                        reason=record.error or "no MARC record in the metadata",
                        local_id=record.identifier[:100],
                        source=HARVEST_FILE_NAME,
                    )
                )
            else:
                results.append(ReadResult(position, record=record.marc))
                harvest_ids[position] = record.identifier
        samples = self.run.samples
        for result in results[: max(0, SAMPLES - len(samples))]:
            samples.append(result.record.as_dict())
        report = copy.deepcopy(self.report)
        with transaction.atomic():
            changes = _load_results(
                self.source,
                results,
                page,
                mapping=self.mapping,
                scope=self.scope,
                harvest_ids=harvest_ids,
            )
            changes.add(_remove(self.source, harvest_ids=deleted))
            Source.objects.filter(id=self.source.id).update(
                harvest_state=state.to_dict(),
                harvest_lease_until=timezone.now() + HARVEST_LEASE,
            )
            report.merge(page)
            total = copy.copy(self.changes)
            total.add(_counted(changes))
            self.run.report = report.as_dict() | _harvest_facts(state)
            for name in RUN_COUNTS:
                setattr(self.run, name, getattr(total, name))
            self.run.save()
        self.report, self.changes, self.position, self.state = report, total, position, state

    def finish(self, status: str, error: str = "") -> IngestRun:
        facts = _harvest_facts(self.state) if self.state is not None else {}
        return _finish(self.run, self.report, self.changes, status, error=error, extra=facts)


def _harvest_facts(state) -> dict:
    return {
        "harvest": {
            "pages": state.pages,
            "records": state.records,
            "deleted": state.deleted,
            "unreadable": state.unreadable,
            "from": state.from_datestamp,
            "complete": not state.running,
            "restarts": state.restarts,
        }
    }


def catalogue_harvest(*, source: Source, client=None, actor=None) -> IngestRun | None:
    """Harvest a source over OAI-PMH from where its last harvest stands (everything the first
    time, then what changed), as one load with its report. Every page is stored together
    with the new harvest state in one transaction, so after a crash the next harvest goes on
    from the last page committed. Returns None, doing nothing, while another harvest of the
    source is under way. A repository that fails (down, an OAI-PMH error) leaves the run
    failed with the reason; anything else also propagates."""
    from kede.catalog import indexing, oai

    if source.kind != SourceKind.OAI or not source.oai_url:
        raise ValidationError(_("Only an OAI-PMH source can be harvested."))
    mapping, scope = mapping_from(source.mapping), scope_rule()
    if not _claim_harvest(source):
        return None
    try:
        # a harvest whose process died (its lease ran out) is closed as interrupted
        IngestRun.objects.filter(
            source=source, file_name=HARVEST_FILE_NAME, status=IngestStatus.RUNNING
        ).update(
            status=IngestStatus.FAILED,
            error="interrupted; the next harvest went on from its last page",
            finished_at=timezone.now(),
        )
        source.refresh_from_db(fields=["harvest_state"])
        run = IngestRun.objects.create(source=source, file_name=HARVEST_FILE_NAME, started_by=actor)
        harvest = _Harvest(source, run, mapping, scope)
        state = _harvest_start_state(source)
        try:
            with indexing.deferred():
                final = oai.harvest(
                    state,
                    on_batch=harvest.on_batch,
                    client=client or oai.OAIClient(source.oai_url),
                )
        except oai.HarvestError as exc:
            return harvest.finish(IngestStatus.FAILED, error=str(exc))
        except BaseException as exc:
            harvest.finish(IngestStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
            raise
        harvest.state = final
        return harvest.finish(IngestStatus.DONE)
    finally:
        Source.objects.filter(id=source.id).update(harvest_lease_until=None)


def catalogue_harvest_due(*, client_for=None) -> dict[str, str]:
    """Harvest every active OAI-PMH source that no other process is harvesting (the periodic
    job). One source failing does not stop the others."""
    done: dict[str, str] = {}
    sources = Source.objects.filter(
        kind=SourceKind.OAI, is_active=True, institution__is_active=True
    ).select_related("institution")
    for source in sources.order_by("id"):
        client = client_for(source) if client_for else None
        try:
            run = catalogue_harvest(source=source, client=client)
        except Exception:
            logger.exception("harvest of source %s failed", source.id)
            done[str(source)] = IngestStatus.FAILED
            continue
        done[str(source)] = "skipped" if run is None else run.status
    return done


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
    from kede.catalog import indexing

    before = Holding.objects.count()
    with indexing.deferred():
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
