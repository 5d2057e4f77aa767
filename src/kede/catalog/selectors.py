"""Catalogue reads. The catalogue and its holdings are public within the consortium."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, QuerySet

from kede.catalog.models import Holding, Work


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
    facets: tuple[str, ...] = (),
) -> SearchPage:
    """Works ranked for `query` (words, "phrases", title:/author:/isbn: prefixes; a CJK title
    in traditional or simplified characters; an ISBN-10 or -13), optionally only those held
    by some libraries or in some regions."""
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
        facets=facets,
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


def works_count(query: str, **filters: tuple[str, ...]) -> int:
    """How many works a search finds (for the result counts at each level)."""
    from kede.catalog.indexing import search_works

    return search_works(query, limit=0, **filters).total


def works_by_ids(ids: list[int]) -> QuerySet[Work]:
    return Work.objects.filter(id__in=ids)


def work_get(work_id: int) -> Work:
    return Work.objects.get(id=work_id)


def work_holdings(work: Work) -> QuerySet[Holding]:
    return (
        work.holdings.filter(institution__is_active=True)
        .select_related("institution", "institution__region")
        .order_by("institution__code")
    )
