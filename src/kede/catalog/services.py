"""Writes to the catalogue (foundation loader: one file at a time, batched)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from kede.catalog.marc import BibRecord, fold, read_marc_file
from kede.catalog.models import Holding, Work
from kede.consortium.models import Institution

BATCH = 500


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


def _search_text(bib: BibRecord) -> str:
    parts = [bib.title, bib.author, bib.publisher, *bib.isbns, *bib.issns]
    return fold(" ".join(p for p in parts if p))


def _match_key(bib: BibRecord) -> str:
    if bib.isbns:
        return "isbn:" + bib.isbns[0]
    return "t:" + "|".join([fold(bib.title), fold(bib.author), bib.year, fold(bib.edition)])


def _existing_work(bib: BibRecord) -> Work | None:
    if bib.isbns:
        return Work.objects.filter(isbn=bib.isbns[0]).first()
    return Work.objects.filter(search_text=_search_text(bib), year=bib.year, isbn="").first()


def catalog_load_records(
    *,
    records: Iterable[BibRecord],
    holders: Callable[[BibRecord], list[Institution]],
) -> LoadReport:
    """Store records as works with holdings at the institutions `holders` names.

    Records with the same ISBN, or the same folded title, author, year and edition, become
    one work. Loading the same file again changes nothing.
    """
    report = LoadReport()
    batch: list[BibRecord] = []
    for bib in records:
        batch.append(bib)
        if len(batch) >= BATCH:
            report.add(_store_batch(batch, holders))
            batch = []
    if batch:
        report.add(_store_batch(batch, holders))
    return report


@transaction.atomic
def _store_batch(
    batch: list[BibRecord], holders: Callable[[BibRecord], list[Institution]]
) -> LoadReport:
    report = LoadReport(read=len(batch))
    seen: dict[str, Work] = {}
    for bib in batch:
        key = _match_key(bib)
        work = seen.get(key) or _existing_work(bib)
        if work is None:
            work = Work.objects.create(
                title=bib.title[:1000],
                author=bib.author[:500],
                publisher=bib.publisher[:500],
                year=bib.year,
                edition=bib.edition[:200],
                isbn=bib.isbns[0] if bib.isbns else "",
                issn=bib.issns[0] if bib.issns else "",
                format=bib.format,
                language=bib.language[:3],
                search_text=_search_text(bib),
            )
            report.works_created += 1
        seen[key] = work
        for institution in holders(bib):
            _holding, created = Holding.objects.get_or_create(
                institution=institution,
                local_id=bib.local_id[:100],
                defaults={"work": work, "call_number": bib.call_number[:200]},
            )
            report.holdings_created += int(created)
    return report


def catalog_load_file(
    *, path: Path, holders: Callable[[BibRecord], list[Institution]]
) -> LoadReport:
    """Load one MARC file; bad records are reported with their reason and skipped."""
    rejected: list[tuple[str, int, str]] = []

    def good_records() -> Iterable[BibRecord]:
        for result in read_marc_file(path):
            if result.record is None:
                rejected.append((path.name, result.position, result.error))
            else:
                yield result.record

    report = catalog_load_records(records=good_records(), holders=holders)
    report.read += len(rejected)
    report.rejected.extend(rejected)
    return report
