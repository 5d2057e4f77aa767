"""Journal articles in the union catalogue: loaded from article-level metadata (Crossref JSON,
JATS, PubMed XML, the CSV template; read by `kede.catalog.articles`), attached to their
journal's work by ISSN (else by the journal's exact title), and written to the article search
index (`kede.catalog.article_index`).

Loading the same article again (the same DOI, else the same ISSN, volume and first page, else
the same title and year) updates it in place. Articles whose journal is not in the catalogue
yet are kept unattached; `articles_attach` tries them again after the journals arrive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from kede.catalog.articles import (
    ArticleData,
    citation_key,
    journal_key,
    journal_keys,
    read_article_file,
    read_articles,
)
from kede.catalog.models import Article, MatchKey, Work

BATCH = 500
MAX_LISTED = 1000


@dataclass
class ArticleLoad:
    """What a load did: counts, and every rejected position with its reason."""

    read: int = 0
    stored: int = 0
    updated: int = 0
    attached: int = 0
    unattached: int = 0
    rejected: list[tuple[str, int, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "read": self.read,
            "stored": self.stored,
            "updated": self.updated,
            "attached": self.attached,
            "unattached": self.unattached,
            "rejected": len(self.rejected),
            "rejections": [
                {"file": name, "position": position, "reason": reason}
                for name, position, reason in self.rejected[:MAX_LISTED]
            ],
        }


def _pages(article: ArticleData) -> str:
    if article.first_page and article.last_page and article.last_page != article.first_page:
        return f"{article.first_page}-{article.last_page}"
    return article.first_page or article.article_number


def _values(article: ArticleData, source: str) -> dict:
    return {
        "title": article.title,
        "authors": list(article.authors),
        "journal_title": article.journal_title[:500],
        "issn_print": article.issn_print or "",
        "issn_electronic": article.issn_electronic or "",
        "doi": (article.doi or "")[:200],
        "volume": article.volume[:50],
        "issue": article.issue[:50],
        "pages": _pages(article)[:50],
        "year": article.year,
        "published": article.published[:10],
        "language": article.language[:8],
        "abstract": article.abstract[:5000],
        "license_url": article.license_url[:500],
        "journal_key": journal_key(article)[:300],
        "source": source[:100],
    }


def journals_for(keys: Iterable[str]) -> dict[str, int]:
    """The journal work for each attaching key: "issn:…" through the catalogue records that
    carry that ISSN (a serial's work first), "journal:<title key>" through serial works of
    that exact title."""
    from kede.catalog.normalise import title_key

    keys = set(keys)
    found: dict[str, int] = {}
    issn_keys = sorted(k for k in keys if k.startswith("issn:"))
    for start in range(0, len(issn_keys), BATCH):
        rows = (
            MatchKey.objects.filter(key__in=issn_keys[start : start + BATCH])
            .exclude(record__work__isnull=True)
            .values_list("key", "record__work_id", "record__work__format")
            .order_by("record__work_id")
        )
        for key, work_id, form in rows:
            if key not in found or form == "serial":
                found.setdefault(key, work_id)
                if form == "serial":
                    found[key] = work_id
    titles = {k.removeprefix("journal:") for k in keys if k.startswith("journal:")}
    if titles:
        for work_id, title in Work.objects.filter(format="serial").values_list("id", "title"):
            key = title_key(title)
            if key in titles:
                found.setdefault(f"journal:{key}", work_id)
    return found


def _store(batch: list[tuple[ArticleData, str]], report: ArticleLoad) -> set[int]:
    """One batch in one transaction; returns the ids of the articles it stored."""
    by_key: dict[str, tuple[ArticleData, str]] = {}
    for article, source in batch:
        by_key[citation_key(article)[:500]] = (article, source)  # the last one wins
    journals = journals_for(k for a, _s in by_key.values() for k in journal_keys(a))
    ids: set[int] = set()
    with transaction.atomic():
        existing = {a.citation_key: a for a in Article.objects.filter(citation_key__in=by_key)}
        fresh = []
        for key, (article, source) in by_key.items():
            values = _values(article, source)
            journal = next((journals[k] for k in journal_keys(article) if k in journals), None)
            values["journal_id"] = journal
            report.attached += journal is not None
            report.unattached += journal is None
            row = existing.get(key)
            if row is None:
                fresh.append(Article(citation_key=key, **values))
                continue
            for name, value in values.items():
                setattr(row, name, value)
            row.save()
            ids.add(row.id)
            report.updated += 1
        made = Article.objects.bulk_create(fresh, batch_size=BATCH)
        ids.update(a.id for a in made)
        report.stored += len(made)
        from kede.catalog import article_index

        article_index.index_on_commit(ids)
    return ids


def articles_load(
    *, data: bytes | str | None = None, path: Path | None = None, source: str = ""
) -> ArticleLoad:
    """Load one file of article metadata (the format is told from its content). Every record
    that cannot be made into an article is listed with its position and reason; the load
    goes on past it."""
    report = ArticleLoad()
    name = source or (path.name if path else "")
    results = read_article_file(path) if path is not None else read_articles(data or b"")
    batch: list[tuple[ArticleData, str]] = []
    for result in results:
        report.read += 1
        if result.article is None:
            report.rejected.append((name, result.position, result.error))
            continue
        if not citation_key(result.article):
            report.rejected.append(
                (
                    name,
                    result.position,
                    "neither a DOI, nor ISSN, volume and page, nor a title and year",
                )
            )
            continue
        batch.append((result.article, name))
        if len(batch) >= BATCH:
            _store(batch, report)
            batch = []
    if batch:
        _store(batch, report)
    return report


def articles_attach() -> int:
    """Attach the articles whose journal has arrived in the catalogue since they were loaded;
    returns how many were attached."""
    from kede.catalog import article_index

    attached = 0
    keys = set(
        Article.objects.filter(journal__isnull=True)
        .exclude(journal_key="")
        .values_list("journal_key", flat=True)
        .distinct()
    )
    journals = journals_for(keys)
    for key, work_id in journals.items():
        with transaction.atomic():
            ids = list(
                Article.objects.filter(journal__isnull=True, journal_key=key).values_list(
                    "id", flat=True
                )
            )
            Article.objects.filter(id__in=ids).update(journal_id=work_id)
            article_index.index_on_commit(set(ids))
        attached += len(ids)
    return attached
