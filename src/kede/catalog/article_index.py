"""The article search index, beside the works' (`kede.catalog.indexing`): the same engines
(Tantivy in `<KEDE_SEARCH_DIR>-articles`, or a PostgreSQL table of its own), one document per
article: its title, authors, journal, DOI and ISSNs, year and language.

PostgreSQL's table is written in the articles' own transaction. Tantivy's is written after the
commit; articles a crash kept from it are written by `kede catalog articles reindex` (loading
the same file again also writes them).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from kede.catalog.models import Article
from kede.catalog.search import Filters, IndexLocked, Query, Results, SearchDoc, open_engine
from kede.catalog.search.engine import SearchEngine

TABLE = "kede_article_search"
_engines: dict[str, SearchEngine] = {}
_ready: set[str] = set()
_lock = threading.Lock()


def _directory() -> Path:
    base = Path(settings.KEDE_SEARCH_DIR)
    return base.with_name(base.name + "-articles")


def engine() -> SearchEngine:
    if settings.KEDE_SEARCH_ENGINE == "postgres":
        found = open_engine("postgres", connection=connection, table=TABLE)
        if connection.alias not in _ready:
            found.ensure_schema()
            _ready.add(connection.alias)
        return found
    path = str(_directory())
    with _lock:
        if path not in _engines:
            _engines[path] = open_engine("tantivy", path=path)
        return _engines[path]


def documents(ids: Iterable[int]) -> list[SearchDoc]:
    docs = []
    for a in Article.objects.filter(id__in=list(ids)):
        identifiers = [f"issn:{i}" for i in (a.issn_print, a.issn_electronic) if i]
        if a.doi:
            identifiers.append(f"doi:{a.doi}")
        docs.append(
            SearchDoc(
                work_id=a.id,
                title=a.title,
                alt_titles=[a.journal_title] if a.journal_title else [],
                authors=list(a.authors),
                publisher=a.journal_title,
                identifiers=identifiers,
                year=a.year,
                format="article",
                language=a.language,
            )
        )
    return docs


def _write(ids: set[int]) -> None:
    search = engine()
    present = set(Article.objects.filter(id__in=ids).values_list("id", flat=True))
    if ids - present:
        search.delete(ids - present)
    if present:
        search.index(documents(present))
    search.commit()
    close = getattr(search, "close", None)
    if settings.KEDE_SEARCH_ENGINE != "postgres" and close is not None:
        close()  # let the next process take the one writer


def index_on_commit(ids: set[int]) -> None:
    """Bring the index in line with these articles once their change commits."""
    ids = set(ids)
    if not ids:
        return
    if settings.KEDE_SEARCH_ENGINE == "postgres":
        _write(ids)
        return

    def write() -> None:
        # Another process holding the writer: `kede catalog articles reindex` catches up.
        with contextlib.suppress(IndexLocked):
            _write(ids)

    transaction.on_commit(write)


def rebuild(batch: int = 5000) -> int:
    search = engine()
    ensure = getattr(search, "ensure_schema", None)
    if ensure is not None:
        ensure()
    search.clear()
    done = 0
    ids = list(Article.objects.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), batch):
        done += search.index(documents(ids[start : start + batch]))
    search.commit()
    close = getattr(search, "close", None)
    if settings.KEDE_SEARCH_ENGINE != "postgres" and close is not None:
        close()
    return done


def search_articles(
    text: str, *, year_from: int | None = None, year_to: int | None = None,
    languages: tuple[str, ...] = (), limit: int = 20, offset: int = 0,
) -> Results:  # fmt: skip
    query = Query(
        text=text,
        filters=Filters(languages=languages, year_from=year_from, year_to=year_to),
        limit=limit,
        offset=offset,
        highlight=True,
    )
    return engine().search(query)
