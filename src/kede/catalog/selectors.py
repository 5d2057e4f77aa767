"""Catalogue reads. The catalogue and its holdings are public within the consortium; a
member's sources and loads are seen by its own staff and by the centre only."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pymarc
from django.db.models import Count, QuerySet

from kede.catalog.models import Holding, IngestRun, Source, Work


@dataclass
class SearchPage:
    """One page of ranked results, the works in rank order with their holder counts."""

    query: str
    works: list[Work]
    total: int
    number: int
    per_page: int
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    highlights: dict[int, str] = field(default_factory=dict)

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number * self.per_page < self.total

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def works_search(
    query: str,
    *,
    page: int = 1,
    per_page: int = 20,
    held_by: tuple[str, ...] = (),
    regions: tuple[str, ...] = (),
    formats: tuple[str, ...] = (),
    languages: tuple[str, ...] = (),
    year_from: int | None = None,
    year_to: int | None = None,
    facets: tuple[str, ...] = (),
    sort: str = "relevance",
) -> SearchPage:
    """Works ranked for `query` (words, "phrases", title:/author:/isbn: prefixes; a CJK title
    in traditional or simplified characters; an ISBN-10 or -13), optionally only those held
    by some libraries or in some regions, or published in some years; by relevance or year
    (newest first). Raises `QueryError` for an unknown sort or facet or years reversed."""
    from kede.catalog.indexing import search_works

    page = max(1, min(page, 500))
    if not query.strip():
        return SearchPage(query=query, works=[], total=0, number=1, per_page=per_page)
    results = search_works(
        query,
        held_by=held_by,
        regions=regions,
        formats=formats,
        languages=languages,
        year_from=year_from,
        year_to=year_to,
        facets=facets,
        sort=sort,
        limit=per_page,
        offset=(page - 1) * per_page,
    )
    ids = [hit.work_id for hit in results.hits]
    found = {
        w.id: w for w in Work.objects.filter(id__in=ids).annotate(holder_count=Count("holdings"))
    }
    return SearchPage(
        query=query,
        works=[found[i] for i in ids if i in found],
        total=results.total,
        number=page,
        per_page=per_page,
        facets=results.facets,
        problems=results.problems,
        highlights={h.work_id: h.title_html for h in results.hits if h.title_html},
    )


def search_levels(user) -> list[tuple[str, dict]]:
    """Own library, own region, everything: as search filters (CALIS shows each result at
    such levels). A reader of a member library has all three; anyone else the last."""
    from kede.accounts import selectors as people

    levels: list[tuple[str, dict]] = []
    membership = people.reader_membership(user) if user.is_authenticated else None
    if membership is not None:
        institution = membership.institution
        levels.append(("library", {"held_by": (institution.code,)}))
        levels.append(("region", {"regions": (institution.region.code,)}))
    levels.append(("all", {}))
    return levels


def works_count(query: str, **filters: tuple[str, ...]) -> int:
    """How many works a search finds (for the result counts at each level)."""
    from kede.catalog.indexing import search_works

    return search_works(query, limit=0, **filters).total


def works_by_ids(ids: list[int]) -> QuerySet[Work]:
    return Work.objects.filter(id__in=ids)


def work_get(work_id: int) -> Work:
    return Work.objects.get(id=work_id)


def holdings_by_work(work_ids: list[int]) -> dict[int, list[Holding]]:
    """Every active holder's holding of each of these works (for a page of hits), in one
    query, ordered by holder."""
    found: dict[int, list[Holding]] = {}
    rows = (
        Holding.objects.filter(work_id__in=work_ids, institution__is_active=True)
        .select_related("institution__region")
        .order_by("institution__code", "id")
    )
    for holding in rows:
        found.setdefault(holding.work_id, []).append(holding)
    return found


def work_holdings(work: Work) -> QuerySet[Holding]:
    return (
        work.holdings.filter(institution__is_active=True)
        .select_related("institution", "institution__region")
        .order_by("institution__code")
    )


# ---- sources and loads (tenancy: a library's own staff, and the centre) ---------------------


def may_configure(user) -> bool:
    """The centre: edits field mappings and the consortium's scope, sees every source."""
    from kede.accounts.permissions import roles_for
    from kede.accounts.selectors import has_any_role

    return has_any_role(user, *roles_for("catalogue.configure"))


def institutions_managed(user):
    """Institutions whose catalogue loads the caller may run and read."""
    from kede.accounts.selectors import institutions_for
    from kede.consortium.models import Institution

    if may_configure(user):
        return Institution.objects.filter(is_active=True)
    return institutions_for(user, "catalogue.manage")


def sources_visible_to(user) -> QuerySet[Source]:
    return (
        Source.objects.filter(institution__in=institutions_managed(user))
        .select_related("institution")
        .order_by("institution__code", "name")
    )


def access_source(user, source_id: int) -> Source:
    """One source the caller may see; "missing" and "not yours" look the same (DoesNotExist)."""
    return sources_visible_to(user).get(id=source_id)


def runs_of(source: Source) -> QuerySet[IngestRun]:
    return source.runs.select_related("started_by").defer("samples")


def access_run(user, run_id: int) -> IngestRun:
    return (
        IngestRun.objects.select_related("source__institution", "started_by")
        .defer("samples")
        .get(id=run_id, source__in=sources_visible_to(user))
    )


def source_samples(source: Source) -> tuple[list[pymarc.Record], IngestRun | None]:
    """Records of the source's most recent load that kept some, as read (before mapping), and
    that load."""
    run = source.runs.exclude(samples=[]).only("id", "samples", "file_name", "started_at").first()
    if run is None:
        return [], None
    try:
        records = [r for r in pymarc.JSONReader(json.dumps(run.samples)) if r is not None]
    except (ValueError, KeyError, TypeError):
        return [], run
    return records, run


def catalogue_stats() -> dict:
    """What the union catalogue holds: works, records, holdings, by format, language and
    institution, and how many works the search index still owes."""
    from kede.catalog.models import CatalogRecord, IndexBacklog

    by_format = Work.objects.values_list("format").annotate(n=Count("id")).order_by("-n", "format")
    by_language = (
        Work.objects.values_list("language").annotate(n=Count("id")).order_by("-n", "language")
    )
    institutions: dict[str, dict[str, int]] = {}
    for code, n in (
        CatalogRecord.objects.values_list("source__institution__code")
        .annotate(n=Count("id"))
        .order_by("source__institution__code")
    ):
        institutions.setdefault(code, {"records": 0, "holdings": 0})["records"] += n
    for code, n in (
        Holding.objects.values_list("institution__code")
        .annotate(n=Count("id"))
        .order_by("institution__code")
    ):
        institutions.setdefault(code, {"records": 0, "holdings": 0})["holdings"] = n
    shared = (
        Holding.objects.values("work_id")
        .annotate(n=Count("institution_id", distinct=True))
        .filter(n__gte=2)
        .count()
    )
    return {
        "works": Work.objects.count(),
        "records": CatalogRecord.objects.count(),
        "sources": Source.objects.count(),
        "holdings": Holding.objects.count(),
        "holding_institutions": Holding.objects.values("institution_id").distinct().count(),
        "shared_works": shared,
        "formats": {f or "unknown": n for f, n in by_format},
        "languages": {lang or "und": n for lang, n in by_language},
        "institutions": institutions,
        "index_backlog": IndexBacklog.objects.count(),
    }


@dataclass
class ArticleHit:
    """An article found, with the member libraries holding its journal: those whose holdings
    statement includes its volume or year first, then those whose statement cannot say;
    holders whose statement excludes it are left out."""

    article: object
    title_html: str = ""
    holders: list[tuple[str, str]] = field(default_factory=list)  # (code, "covered"|"unknown")


@dataclass
class ArticlePage:
    query: str
    hits: list[ArticleHit]
    total: int
    number: int
    per_page: int
    problems: tuple[str, ...] = ()

    @property
    def has_next(self) -> bool:
        return self.number * self.per_page < self.total


def articles_search(query: str, *, page: int = 1, per_page: int = 20) -> ArticlePage:
    """Articles ranked for `query` (title and author words, the journal, a DOI or ISSN), each
    with the holders of its journal that may supply it."""
    from django.utils import timezone

    from kede.catalog.article_index import search_articles
    from kede.catalog.models import Article
    from kede.routing.coverage import COVERED, NOT_COVERED, asked_from, holder_coverage

    page = max(1, min(page, 500))
    if not query.strip():
        return ArticlePage(query=query, hits=[], total=0, number=1, per_page=per_page)
    results = search_articles(query, limit=per_page, offset=(page - 1) * per_page)
    ids = [hit.work_id for hit in results.hits]
    found = {a.id: a for a in Article.objects.filter(id__in=ids).select_related("journal")}
    statements: dict[int, dict[str, list]] = {}
    journals = {a.journal_id for a in found.values() if a.journal_id}
    for work_id, code, spans in (
        Holding.objects.filter(work_id__in=journals, institution__is_active=True)
        .values_list("work_id", "institution__code", "coverage")
        .order_by("institution__code")
    ):
        statements.setdefault(work_id, {}).setdefault(code, []).append(spans)
    today = timezone.localdate()
    hits = []
    for hit in results.hits:
        article = found.get(hit.work_id)
        if article is None:
            continue
        asked = asked_from(volume=article.volume, issue=article.issue, year=str(article.year or ""))
        holders = []
        for code, held in statements.get(article.journal_id, {}).items():
            state = holder_coverage(held, asked, today).state if asked else "unknown"
            if state != NOT_COVERED:
                holders.append((code, state))
        holders.sort(key=lambda h: (h[1] != COVERED, h[0]))
        hits.append(ArticleHit(article=article, title_html=hit.title_html, holders=holders))
    return ArticlePage(
        query=query,
        hits=hits,
        total=results.total,
        number=page,
        per_page=per_page,
        problems=results.problems,
    )
