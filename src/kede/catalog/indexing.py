"""The catalogue's search index, kept in step with the works.

The engine is chosen by `KEDE_SEARCH_ENGINE`: "tantivy" (the embedded default, an index in
`KEDE_SEARCH_DIR`) or "postgres" (a table in the catalogue's own PostgreSQL database).

PostgreSQL's table is written in the same transaction as the works, so the index can never
disagree with them. Tantivy's index is written once the transaction commits, by whichever
process made the change. The works it owes are kept in a backlog table written in the works'
own transaction, so a crash between the commit and the index write loses nothing: the next
catch-up (the next change, the worker's periodic `catch_up_index`, which also runs when the
scheduler starts) writes them. Tantivy allows one writer at a time; a process that finds the
index busy leaves the catch-up to the worker. `kede catalog reindex` rebuilds everything.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction

from kede.catalog.models import CatalogRecord, Holding, IndexBacklog, Work
from kede.catalog.search import (
    Filters,
    IndexLocked,
    Query,
    Results,
    SearchDoc,
    SearchEngine,
    open_engine,
)
from kede.core.bulk import insert_many

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


class _Shown(NamedTuple):
    """What a work's document takes from the work itself."""

    title: str
    title_vernacular: str
    author: str
    publisher: str
    year: str
    format: str
    language: str
    isbn: str
    issn: str


def documents(work_ids: Iterable[int]) -> list[SearchDoc]:
    """What the index holds for these works: titles (also in the original script), every
    author and identifier any member's record gives, and who holds them, where."""
    ids = list(work_ids)
    # Plain rows: a model instance per work costs more than the document made from it.
    works = {
        row[0]: _Shown(*row[1:])
        for row in Work.objects.filter(id__among=ids).values_list("id", *_Shown._fields)
    }
    authors: dict[int, list[str]] = defaultdict(list)
    identifiers: dict[int, set[str]] = defaultdict(set)
    titles: dict[int, set[str]] = defaultdict(set)
    for work_id, match in CatalogRecord.objects.filter(work_id__among=ids).values_list(
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
    for work_id, code, region in Holding.objects.filter(work_id__among=ids).values_list(
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


# One catch-up at a time in a process: the engine holds one writer.
_writing = threading.Lock()


def catch_up(chunk: int = 5000, *, hand_to_worker: bool = True) -> int:
    """Write to the index every work waiting in the backlog, oldest first, and take each from
    the backlog once the index has committed it: a work the database still has is (re)indexed,
    one it no longer has is removed. Returns how many works were written. When another process
    holds the index's writer, the worker is asked to finish (the backlog keeps everything;
    the worker itself leaves it to its next periodic run)."""
    done = 0
    with _writing:
        while True:
            rows = list(IndexBacklog.objects.order_by("id").values_list("id", "work_id")[:chunk])
            if not rows:
                break
            ids = {work_id for _row, work_id in rows}
            present = set(Work.objects.filter(id__among=list(ids)).values_list("id", flat=True))
            try:
                _write(present, ids - present)
            except IndexLocked:
                if hand_to_worker:
                    from kede.catalog.tasks import catch_up_index

                    catch_up_index.enqueue()
                return done
            IndexBacklog.objects.filter(id__among=[row for row, _work in rows]).delete()
            done += len(ids)
            if len(rows) < chunk:
                break
        _release_writer()
    return done


class _Pending:
    """Index writes owed by the commits of one load (see `deferred`)."""

    def __init__(self, flush_every: int) -> None:
        self.owed = 0
        self.flush_every = flush_every
        self.closed = False

    def add(self, count: int) -> None:
        if self.closed:  # committed after the block ended (an outer transaction): write now
            catch_up()
            return
        self.owed += count
        if self.owed >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if self.owed:
            self.owed = 0
            catch_up()


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
    """Bring the index in line with these works, once (and only if) their change commits.

    PostgreSQL's index is written now, in the works' own transaction. For Tantivy the works
    join the backlog in this transaction and are written after it commits; if the process
    dies in between, the backlog still names them and the next catch-up writes them."""
    updated, removed = set(updated), set(removed)
    if not updated and not removed:
        return
    if _kind() == "postgres":
        _write(updated, removed)
        return
    works = updated | removed
    insert_many(IndexBacklog, ["work_id"], [[w] for w in works])
    pending = getattr(_local, "pending", None)
    if pending is not None:
        transaction.on_commit(lambda: pending.add(len(works)))
        return
    transaction.on_commit(catch_up)


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
    with _writing:
        last = IndexBacklog.objects.order_by("-id").values_list("id", flat=True).first()
        search.clear()
        done = 0
        ids = list(Work.objects.order_by("id").values_list("id", flat=True))
        for start in range(0, len(ids), batch):
            done += search.index(documents(ids[start : start + batch]))
        search.commit()
        if last is not None:  # what was owed before the rebuild began is in it now
            IndexBacklog.objects.filter(id__lte=last).delete()
        _release_writer()
    return done


def search_works(
    text: str,
    *,
    held_by: tuple[str, ...] = (),
    regions: tuple[str, ...] = (),
    formats: tuple[str, ...] = (),
    languages: tuple[str, ...] = (),
    year_from: int | None = None,
    year_to: int | None = None,
    facets: tuple[str, ...] = (),
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
) -> Results:
    """Raises `QueryError` for a query that cannot be run (an unknown sort or facet, years
    the wrong way round)."""
    query = Query(
        text=text,
        filters=Filters(
            held_by=held_by,
            regions=regions,
            formats=formats,
            languages=languages,
            year_from=year_from,
            year_to=year_to,
        ),
        facets=facets,
        sort=sort,  # type: ignore[arg-type]
        limit=limit,
        offset=offset,
        highlight=True,
    )
    return engine().search(query)
