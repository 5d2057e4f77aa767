"""The article search index, beside the works' (`kede.catalog.indexing`): the same engines
(Tantivy in `<KEDE_SEARCH_DIR>-articles`, or a PostgreSQL table of its own), so the works'
search is unchanged. One document per article: its title (words, CJK bigrams, either script,
as `search.analysis` cuts them), authors, abstract, journal, DOI and ISSNs, year and language.

Queries are the catalogue's (`title:`, `author:`, `doi:`, `issn:`, "phrases", a bare DOI or
ISSN), and two more for articles: `journal:` (also `jo:`) for the journal's title, and
`year:2012` or `year:2010-2014` (also `py:`) for the year of publication.

PostgreSQL's table is written in the articles' own transaction. Tantivy's is written after the
commit, as the works' is (`kede.catalog.indexing`): the articles it owes are kept in a backlog
table (`ArticleIndexBacklog`) written in the articles' own transaction, so a crash between the
commit and the index write loses nothing. The next catch-up writes them: the next change's,
or the worker's periodic `catch_up_article_index` (also run when the scheduler starts). A
process that finds the index busy leaves the catch-up to the worker. `kede catalog articles
reindex` rebuilds everything.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from kede.catalog.models import Article, ArticleIndexBacklog
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
                authors=list(a.authors),
                publisher=a.journal_title,  # `journal:` (and any word) finds it
                subjects=[a.abstract] if a.abstract else [],
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


def _release_writer() -> None:
    """Let the next process (the worker, another web process) take the index's one writer."""
    close = getattr(engine(), "close", None)
    if settings.KEDE_SEARCH_ENGINE != "postgres" and close is not None:
        close()


# One catch-up at a time in a process: the engine holds one writer.
_writing = threading.Lock()


def catch_up(chunk: int = 5000, *, hand_to_worker: bool = True) -> int:
    """Write to the index every article waiting in the backlog, oldest first, and take each
    from the backlog once the index has committed it: an article the database still has is
    (re)indexed, one it no longer has is removed. Returns how many articles were written.
    When another process holds the index's writer, the worker is asked to finish (the
    backlog keeps everything; the worker itself leaves it to its next periodic run)."""
    done = 0
    with _writing:
        while True:
            rows = list(
                ArticleIndexBacklog.objects.order_by("id").values_list("id", "article_id")[:chunk]
            )
            if not rows:
                break
            ids = {article_id for _row, article_id in rows}
            try:
                _write(ids)
            except IndexLocked:
                if hand_to_worker:
                    from kede.catalog.tasks import catch_up_article_index

                    catch_up_article_index.enqueue()
                return done
            ArticleIndexBacklog.objects.filter(id__in=[row for row, _a in rows]).delete()
            done += len(ids)
            if len(rows) < chunk:
                break
        if done:
            _release_writer()
    return done


def index_on_commit(ids: set[int]) -> None:
    """Bring the index in line with these articles, once (and only if) their change commits.

    PostgreSQL's index is written now, in the articles' own transaction. For Tantivy the
    articles join the backlog in this transaction and are written after it commits; if the
    process dies in between, the backlog still names them and the next catch-up writes them."""
    ids = set(ids)
    if not ids:
        return
    if settings.KEDE_SEARCH_ENGINE == "postgres":
        _write(ids)
        return
    ArticleIndexBacklog.objects.bulk_create(
        [ArticleIndexBacklog(article_id=i) for i in sorted(ids)], batch_size=2000
    )
    transaction.on_commit(catch_up)


def rebuild(batch: int = 5000) -> int:
    """Index every article again from the database; what the backlog owed before the rebuild
    began is in it then, and leaves the backlog."""
    search = engine()
    ensure = getattr(search, "ensure_schema", None)
    if ensure is not None:
        ensure()
    with _writing:
        last = ArticleIndexBacklog.objects.order_by("-id").values_list("id", flat=True).first()
        search.clear()
        done = 0
        ids = list(Article.objects.order_by("id").values_list("id", flat=True))
        for start in range(0, len(ids), batch):
            done += search.index(documents(ids[start : start + batch]))
        search.commit()
        if last is not None:
            ArticleIndexBacklog.objects.filter(id__lte=last).delete()
        _release_writer()
    return done


# `journal:` is the index's publisher field; `year:` becomes a filter. Quoted phrases are left
# as they are: the first alternatives consume them.
_ARTICLE_FIELDS = re.compile(
    r'"[^"]*"?|“[^”]*”?|「[^」]*」?|(?<!\S)(journal|jo):|(?<!\S)(year|py):(?:\s*(?=[0-9]))?(\S*)',
    re.IGNORECASE,
)
_YEARS = re.compile(r"^([0-9]{4})?(?:(-|–)([0-9]{4})?)?$")


@dataclasses.dataclass(frozen=True)
class ArticleQuery:
    text: str
    year_from: int | None = None
    year_to: int | None = None
    problems: tuple[str, ...] = ()


def article_query(text: str) -> ArticleQuery:
    """The catalogue query in `text` with the articles' own prefixes taken out: `journal:`
    searches the journal's title, `year:` (one year, or a range open at either end) filters."""
    years: list[tuple[int | None, int | None]] = []
    problems: list[str] = []

    def rewrite(match: re.Match) -> str:
        if match.group(1):
            return "publisher:"
        if not match.group(2):
            return match.group(0)  # a quoted phrase
        value = match.group(3)
        found = _YEARS.match(value)
        if not value or found is None or not (found.group(1) or found.group(3)):
            problems.append(f"“{match.group(0)}”: give a year (2012) or years (2010-2014).")
            return " "
        low = int(found.group(1)) if found.group(1) else None
        high = int(found.group(3)) if found.group(3) else None
        years.append((low, high if found.group(2) else low))
        return " "

    rewritten = _ARTICLE_FIELDS.sub(rewrite, text)
    year_from = max((low for low, _h in years if low is not None), default=None)
    year_to = min((high for _l, high in years if high is not None), default=None)
    return ArticleQuery(" ".join(rewritten.split()), year_from, year_to, tuple(problems))


def search_articles(
    text: str, *, year_from: int | None = None, year_to: int | None = None,
    languages: tuple[str, ...] = (), limit: int = 20, offset: int = 0,
) -> Results:  # fmt: skip
    """Articles ranked for `text` (see the module's note on queries); a `year:` in the text
    narrows `year_from`/`year_to`."""
    asked = article_query(text)
    if asked.year_from is not None:
        year_from = max(year_from or asked.year_from, asked.year_from)
    if asked.year_to is not None:
        year_to = min(year_to or asked.year_to, asked.year_to)
    if year_from is not None and year_to is not None and year_from > year_to:
        return Results(total=0, hits=[], problems=asked.problems)
    query = Query(
        text=asked.text,
        filters=Filters(languages=languages, year_from=year_from, year_to=year_to),
        limit=limit,
        offset=offset,
        highlight=True,
    )
    if not query.text and year_from is None and year_to is None and not languages:
        return Results(total=0, hits=[], problems=asked.problems)  # not the whole index
    results = engine().search(query)
    if asked.problems:
        results = dataclasses.replace(results, problems=asked.problems + results.problems)
    return results
