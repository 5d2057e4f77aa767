"""Catalogue reads. The catalogue and its holdings are public within the consortium."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from kede.catalog.marc import fold
from kede.catalog.models import Holding, Work

MAX_TERMS = 8


def works_search(query: str) -> QuerySet[Work]:
    """Works whose title, author, publisher or identifiers contain every word of `query`.

    The foundation's simple search; the union-catalogue work puts a ranked index behind the
    same function.
    """
    terms = fold(query).split()[:MAX_TERMS]
    if not terms:
        return Work.objects.none()
    works = Work.objects.all()
    for term in terms:
        works = works.filter(search_text__contains=term)
    return works.annotate(holder_count=Count("holdings")).order_by("-holder_count", "title", "id")


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
