"""The catalogue's search index, kept in step with the works.

The engine is chosen by `KEDE_SEARCH_ENGINE`: "tantivy" (the embedded default, an index in
`KEDE_SEARCH_DIR`) or "postgres" (a table in the catalogue's own PostgreSQL database).

PostgreSQL's table is written in the same transaction as the works, so the index can never
disagree with them. Tantivy's index is written once the transaction commits, by whichever
process made the change; Tantivy allows one writer at a time, so a process that finds the
index busy leaves the work to the task worker (`reindex_works`), and `kede catalog reindex`
rebuilds everything from the database.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from kede.catalog.models import CatalogRecord, Holding, Work
from kede.catalog.search import (
    Filters,
    IndexLocked,
    Query,
    Results,
    SearchDoc,
    SearchEngine,
    open_engine,
)

logger = logging.getLogger(__name__)

_engines: dict[tuple[str, str], SearchEngine] = {}
_lock = threading.Lock()
_ready: set[str] = set()


def _kind() -> str:
    return settings.KEDE_SEARCH_ENGINE


def engine() -> SearchEngine:
    """This process's engine for the configured index (one per index directory)."""
    kind = _kind()
    if kind == "postgres":
        found = open_engine("postgres", connection=connection)
        if connection.alias not in _ready:
            found.ensure_schema()
            _ready.add(connection.alias)
        return found
    path = str(Path(settings.KEDE_SEARCH_DIR))
    with _lock:
        found = _engines.get((kind, path))
        if found is None:
            found = _engines[(kind, path)] = open_engine("tantivy", path=path)
        return found


def documents(work_ids: Iterable[int]) -> list[SearchDoc]:
    """What the index holds for these works: titles (also in the original script), every
    author and identifier any member's record gives, and who holds them, where."""
    ids = list(work_ids)
    works = {w.id: w for w in Work.objects.filter(id__in=ids)}
    authors: dict[int, list[str]] = defaultdict(list)
    identifiers: dict[int, set[str]] = defaultdict(set)
    titles: dict[int, set[str]] = defaultdict(set)
    for work_id, match in CatalogRecord.objects.filter(work_id__in=ids).values_list(
        "work_id", "match"
    ):
        authors[work_id].extend(a for a in match.get("authors", ()) if a)
        titles[work_id].add(match.get("title", ""))
        for scheme, values in (("isbn", match.get("isbns", ())), ("issn", match.get("issns", ()))):
            identifiers[work_id].update(f"{scheme}:{v}" for v in values)
        for scheme in ("lccn", "oclc"):
            if match.get(scheme):
                identifiers[work_id].add(f"{scheme}:{match[scheme]}")
    holders: dict[int, set[str]] = defaultdict(set)
    regions: dict[int, set[str]] = defaultdict(set)
    for work_id, code, region in Holding.objects.filter(work_id__in=ids).values_list(
        "work_id", "institution__code", "institution__region__code"
    ):
        holders[work_id].add(code)
        regions[work_id].add(region)
    docs = []
    for work_id, work in works.items():
        for value in (work.isbn, work.issn):
            if value:
                identifiers[work_id].add(f"{'issn' if len(value) == 9 else 'isbn'}:{value}")
        alt = [t for t in titles[work_id] | {work.title_vernacular} if t and t != work.title]
        docs.append(
            SearchDoc(
                work_id=work_id,
                title=work.title,
                alt_titles=sorted(alt),
                authors=[a for a in dict.fromkeys([work.author, *authors[work_id]]) if a],
                publisher=work.publisher,
                identifiers=sorted(identifiers[work_id]),
                year=int(work.year) if work.year.isdigit() else None,
                format=work.format,
                language=work.language,
                holders=sorted(holders[work_id]),
                regions=sorted(regions[work_id]),
            )
        )
    return docs


def _write(updated: set[int], removed: set[int]) -> None:
    search = engine()
    if removed:
        search.delete(removed)
    if updated:
        search.index(documents(updated))
    search.commit()


def _write_or_leave_to_worker(updated: set[int], removed: set[int]) -> None:
    try:
        _write(updated, removed)
        _release_writer()
    except IndexLocked:
        from kede.catalog.tasks import reindex_works

        reindex_works.enqueue(updated=sorted(updated), removed=sorted(removed))


class _Pending:
    """Index writes gathered from the commits of one load (see `deferred`)."""

    def __init__(self, flush_every: int) -> None:
        self.updated: set[int] = set()
        self.removed: set[int] = set()
        self.flush_every = flush_every
        self.closed = False

    def add(self, updated: set[int], removed: set[int]) -> None:
        if self.closed:  # committed after the block ended (an outer transaction): write now
            _write_or_leave_to_worker(updated, removed)
            return
        self.updated = (self.updated | updated) - removed
        self.removed |= removed
        if len(self.updated) + len(self.removed) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if self.updated or self.removed:
            updated, removed = self.updated, self.removed
            self.updated, self.removed = set(), set()
            _write_or_leave_to_worker(updated, removed)


_local = threading.local()


@contextmanager
def deferred(flush_every: int = 20_000) -> Iterator[None]:
    """Inside, the index writes that follow each committed batch are gathered and written
    together: when `flush_every` works wait, and at the end. A Tantivy commit costs far more
    than indexing a few hundred works, so a load of many batches (or files) then pays for a
    few commits instead of one per batch. PostgreSQL's index is written in each batch's own
    transaction as always. Nested blocks join the outer one."""
    if getattr(_local, "pending", None) is not None:
        yield
        return
    pending = _local.pending = _Pending(flush_every)
    try:
        yield
    finally:
        _local.pending = None
        pending.closed = True
        pending.flush()  # what committed is indexed, even when the load stopped on an error


def reindex_on_commit(updated: set[int], removed: set[int]) -> None:
    """Bring the index in line with these works, once (and only if) their change commits."""
    updated, removed = set(updated), set(removed)
    if not updated and not removed:
        return
    if _kind() == "postgres":
        _write(updated, removed)  # same transaction as the works
        return
    pending = getattr(_local, "pending", None)
    if pending is not None:
        transaction.on_commit(lambda: pending.add(updated, removed))
        return
    transaction.on_commit(lambda: _write_or_leave_to_worker(updated, removed))


def _release_writer() -> None:
    """Let the next process (the worker, another web process) take the index's one writer."""
    search = engine()
    close = getattr(search, "close", None)
    if _kind() == "tantivy" and close is not None:
        close()


def rebuild(batch: int = 5000) -> int:
    """Index every work again from the database (after a schema change, or on a new engine)."""
    search = engine()
    ensure = getattr(search, "ensure_schema", None)
    if ensure is not None:
        ensure()
    search.clear()
    done = 0
    ids = list(Work.objects.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), batch):
        done += search.index(documents(ids[start : start + batch]))
    search.commit()
    _release_writer()
    return done


def search_works(
    text: str,
    *,
    held_by: tuple[str, ...] = (),
    regions: tuple[str, ...] = (),
    formats: tuple[str, ...] = (),
    languages: tuple[str, ...] = (),
    facets: tuple[str, ...] = (),
    limit: int = 20,
    offset: int = 0,
) -> Results:
    query = Query(
        text=text,
        filters=Filters(held_by=held_by, regions=regions, formats=formats, languages=languages),
        facets=facets,
        limit=limit,
        offset=offset,
        highlight=True,
    )
    return engine().search(query)
