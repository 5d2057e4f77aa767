"""Journal articles in the union catalogue: loaded from article-level metadata (Crossref JSON,
JATS, PubMed XML, the CSV template; read by `kede.catalog.articles`), attached to their
journal's work by ISSN (else by the journal's normalised title), and written to the article
search index (`kede.catalog.article_index`).

An article is stored once. A record loaded again, from the same file or another one in another
format, updates the article it is the same as (`articles.same_article`: the same DOI; else, when
one of them has no DOI, any shared citation key: an ISSN with volume and first page, the title
with the year). What the new record gives replaces what was stored; what it leaves out is kept,
so a CSV row without a DOI does not take the DOI away from the Crossref record it matches.

Articles whose journal is not in the catalogue yet are kept unattached and wait for it:
`articles_attach_waiting` tries them again (all of them, or only those the given works could
take: call it with a catalogue load's works); the worker runs it periodically, and centre staff
with `articles_attach`.

Centre staff load files from the catalogue pages too (`articles_upload`: several files at once,
gzipped, or in a zip or tar archive), checked before anything is loaded.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from kede.catalog.articles import (
    ArticleData,
    citation_keys,
    journal_keys,
    read_article_file,
    read_articles,
)
from kede.catalog.models import Article, ArticleKey, MatchKey, Work
from kede.catalog.normalise import title_key

BATCH = 500
MAX_LISTED = 1000
NO_KEY = "neither a DOI, nor ISSN, volume and page, nor a title and year"


@dataclass
class ArticleLoad:
    """What a load did: counts (`stored` new articles, `updated` existing ones, of which
    `attached` now belong to their journal's work and `unattached` wait for it), and every
    rejected position as (file, position, reason)."""

    read: int = 0
    stored: int = 0
    updated: int = 0
    attached: int = 0
    unattached: int = 0
    rejected: list[tuple[str, int, str]] = field(default_factory=list)

    def add(self, other: ArticleLoad) -> None:
        """Add another load's counts and rejections to these (one report for many files)."""
        for name in ("read", "stored", "updated", "attached", "unattached"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected.extend(other.rejected)

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


def _require_centre(actor) -> None:
    """Article metadata is the consortium's, not one member's: the centre's staff load it (no
    actor: a script or the worker)."""
    from kede.catalog.services import _require

    _require(actor, "catalogue.configure")


# ---- rows and records -----------------------------------------------------------------------


def stored_data(row) -> ArticleData:
    """An article row (or anything with its fields) as `ArticleData`, to merge a new record
    into and to compute its keys from."""
    pages = row.pages or ""
    first, _dash, last = pages.partition("-")
    return ArticleData(
        title=row.title,
        doi=row.doi or None,
        journal_title=row.journal_title,
        issn_print=row.issn_print or None,
        issn_electronic=row.issn_electronic or None,
        volume=row.volume,
        issue=row.issue,
        first_page=first.strip(),
        last_page=last.strip(),
        year=row.year,
        published=row.published,
        authors=tuple(row.authors or ()),
        abstract=row.abstract,
        language=row.language,
        license_url=row.license_url,
    )


_PAGE_FIELDS = ("first_page", "last_page", "article_number")


def _merged(old: ArticleData, new: ArticleData) -> ArticleData:
    """`old` with every value `new` gives; the pages as one unit (a new first page with the
    old last page would be a range nobody printed)."""
    changes = {
        f.name: getattr(new, f.name)
        for f in fields(ArticleData)
        if f.name not in _PAGE_FIELDS and getattr(new, f.name) not in (None, "", ())
    }
    if new.first_page or new.article_number:
        changes.update({name: getattr(new, name) for name in _PAGE_FIELDS})
    return replace(old, **changes)


def _pages(article: ArticleData) -> str:
    if article.first_page and article.last_page and article.last_page != article.first_page:
        return f"{article.first_page}-{article.last_page}"
    return article.first_page or article.article_number


def _values(article: ArticleData, source: str) -> dict:
    keys = journal_keys(article)
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
        "journal_key": (keys[0] if keys else "")[:300],
        "source": source[:100],
    }


def _keys(article: ArticleData) -> list[str]:
    return [k[:500] for k in citation_keys(article)]


def _compatible(stored: Article, article: ArticleData) -> bool:
    """`same_article`'s rule for two records that share a key: two DOIs must agree."""
    doi = stored.doi or ""
    return not (doi and article.doi and doi.lower() != article.doi.lower())


# ---- journals -------------------------------------------------------------------------------


def journals_for(keys: Iterable[str]) -> dict[str, int]:
    """The journal work for each attaching key: "issn:…" through the catalogue records that
    carry that ISSN (a serial's work first), "journal:<title key>" through serial works of
    that normalised title."""
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
            if form == "serial" and found.get(f"serial:{key}") is None:
                found[key] = work_id
                found[f"serial:{key}"] = work_id
            found.setdefault(key, work_id)
    found = {k: v for k, v in found.items() if not k.startswith("serial:")}
    titles = {k.removeprefix("journal:") for k in keys if k.startswith("journal:")}
    if titles:
        serials = Work.objects.filter(format="serial").values_list("id", "title").order_by("id")
        for work_id, title in serials.iterator(chunk_size=2000):
            key = title_key(title)
            if key in titles:
                found.setdefault(f"journal:{key}", work_id)
    return found


def _journal_of(article: ArticleData, journals: dict[str, int]) -> int | None:
    return next((journals[k] for k in journal_keys(article) if k in journals), None)


# ---- loads ----------------------------------------------------------------------------------


def _store(batch: list[tuple[ArticleData, str]], report: ArticleLoad) -> set[int]:
    """One batch in one transaction; returns the ids of the articles it wrote."""
    wanted = sorted({k for article, _s in batch for k in _keys(article)})
    with transaction.atomic():
        found: dict[str, set[int]] = {}
        for start in range(0, len(wanted), BATCH):
            chunk = wanted[start : start + BATCH]
            for key, article_id in ArticleKey.objects.filter(key__in=chunk).values_list(
                "key", "article_id"
            ):
                found.setdefault(key, set()).add(article_id)
        ids = {i for matching in found.values() for i in matching}
        rows = {a.id: a for a in Article.objects.filter(id__in=ids)}
        stored_keys: dict[int, set[str]] = {i: set() for i in rows}
        for article_id, key in ArticleKey.objects.filter(article_id__in=rows).values_list(
            "article_id", "key"
        ):
            stored_keys[article_id].add(key)
        by_key: dict[str, list[Article]] = {
            key: [rows[i] for i in sorted(matching) if i in rows] for key, matching in found.items()
        }

        # Each record, in order: the article it is the same as (by its best key first), or
        # a new one. Records of one batch may be the same article too: new rows are matched
        # as soon as they are made.
        merged: dict[int, tuple[Article, ArticleData, set[str], bool]] = {}
        for article, source in batch:
            keys = _keys(article)
            row = next(
                (
                    candidate
                    for key in keys
                    for candidate in by_key.get(key, ())
                    if _compatible(candidate, article)
                ),
                None,
            )
            if row is None:
                row = Article()
                data, old_keys, existed = article, set(), False
            elif id(row) in merged:
                _row, data, old_keys, existed = merged[id(row)]
                data = _merged(data, article)
            else:
                old_keys = stored_keys.get(row.pk, set()) | {row.citation_key}
                data, existed = _merged(stored_data(row), article), True
            for name, value in _values(data, source).items():
                setattr(row, name, value)
            all_keys = old_keys | set(keys) | set(_keys(data))
            merged[id(row)] = (row, data, all_keys, existed)
            for key in all_keys:
                matching = by_key.setdefault(key, [])
                if not any(other is row for other in matching):
                    matching.append(row)

        touched = list(merged.values())
        journals = journals_for(k for _r, data, _k, _e in touched for k in journal_keys(data))
        fresh: list[Article] = []
        for row, data, _k, existed in touched:
            row.journal_id = _journal_of(data, journals)
            report.attached += row.journal_id is not None
            report.unattached += row.journal_id is None
            best = _keys(data)[0]
            if existed:
                taken = (
                    best != row.citation_key
                    and Article.objects.filter(citation_key=best).exclude(pk=row.pk).exists()
                )
                row.citation_key = row.citation_key if taken else best
                row.save()
                report.updated += 1
            else:
                row.citation_key = best
                fresh.append(row)
        Article.objects.bulk_create(fresh, batch_size=BATCH)
        report.stored += len(fresh)
        if any(row.pk is None for row in fresh):  # a database that does not return ids
            made = dict(
                Article.objects.filter(
                    citation_key__in=[r.citation_key for r in fresh]
                ).values_list("citation_key", "id")
            )
            for row in fresh:
                row.pk = made[row.citation_key]
        ids = {row.pk for row, *_rest in touched}
        ArticleKey.objects.filter(article_id__in=[r.pk for r, _d, _k, e in touched if e]).delete()
        ArticleKey.objects.bulk_create(
            [ArticleKey(article_id=row.pk, key=k) for row, _d, keys, _e in touched for k in keys],
            batch_size=BATCH,
        )
        from kede.catalog import article_index

        article_index.index_on_commit(ids)
    return ids


def articles_load(
    *,
    data: bytes | str | None = None,
    path: Path | str | None = None,
    source_name: str = "",
    actor=None,
) -> ArticleLoad:
    """Load one file of article metadata, given as `data` or as a `path` (Crossref JSON, JATS
    or PubMed XML, or the CSV template: the format is told from the content). `source_name`
    names it in the report and on the articles (default: the file's name). Every record that
    cannot be made into an article is listed with its position and reason and the load goes
    on past it; records are stored in batches, each in one transaction. Centre staff only."""
    _require_centre(actor)
    report = ArticleLoad()
    if path is not None:
        path = Path(path)
    name = source_name or (path.name if path is not None else "")
    results = read_article_file(path) if path is not None else read_articles(data or b"")
    batch: list[tuple[ArticleData, str]] = []
    for result in results:
        report.read += 1
        if result.article is None:
            report.rejected.append((name, result.position, result.error))
            continue
        if not citation_keys(result.article):
            report.rejected.append((name, result.position, NO_KEY))
            continue
        batch.append((result.article, name))
        if len(batch) >= BATCH:
            _store(batch, report)
            batch = []
    if batch:
        _store(batch, report)
    return report


def articles_attach(*, actor=None) -> int:
    """Attach the articles whose journal has arrived in the catalogue since they were loaded
    (by each ISSN, then the journal's normalised title); returns how many were attached.
    Centre staff only (see `articles_attach_waiting` for the worker and for scripts)."""
    _require_centre(actor)
    return articles_attach_waiting()


def _waiting():
    return Article.objects.filter(journal__isnull=True).exclude(journal_key="")


def articles_attach_waiting(*, work_ids: Iterable[int] | None = None) -> int:
    """Attach the articles still waiting for their journal to the journals in the catalogue
    now; returns how many were attached. With `work_ids` (the works a catalogue load created
    or changed), only the waiting articles those works could take are tried: those with one
    of the works' ISSNs, or the normalised title of one of them that is a serial. Without,
    every waiting article is. One query when no article waits; safe to run twice at once."""
    waiting = _waiting()
    if not waiting.exists():
        return 0
    if work_ids is None:
        return _attach(waiting)
    works = sorted(set(work_ids))
    issns: set[str] = set()
    titles: set[str] = set()
    for start in range(0, len(works), BATCH):
        chunk = works[start : start + BATCH]
        issns.update(
            key.removeprefix("issn:")
            for key in MatchKey.objects.filter(
                record__work_id__in=chunk, key__startswith="issn:"
            ).values_list("key", flat=True)
        )
        for issn, form, title in Work.objects.filter(id__in=chunk).values_list(
            "issn", "format", "title"
        ):
            if issn:
                issns.add(issn)
            if form == "serial" and (key := title_key(title)):
                titles.add(key)
    candidates: set[int] = set()
    issn_list = sorted(issns)
    for start in range(0, len(issn_list), BATCH):
        chunk = issn_list[start : start + BATCH]
        candidates.update(
            waiting.filter(Q(issn_print__in=chunk) | Q(issn_electronic__in=chunk)).values_list(
                "id", flat=True
            )
        )
    if titles:
        for article_id, journal_title in waiting.values_list("id", "journal_title").iterator(
            chunk_size=2000
        ):
            if journal_title and title_key(journal_title) in titles:
                candidates.add(article_id)
    if not candidates:
        return 0
    return _attach(waiting.filter(id__in=candidates))


def _attach(waiting) -> int:
    from kede.catalog import article_index

    groups: dict[tuple[str, ...], list[int]] = {}
    rows = waiting.values_list("id", "journal_title", "issn_print", "issn_electronic")
    for article_id, journal_title, issn_print, issn_electronic in rows.iterator(chunk_size=2000):
        keys = journal_keys(
            ArticleData(
                journal_title=journal_title,
                issn_print=issn_print or None,
                issn_electronic=issn_electronic or None,
            )
        )
        if keys:
            groups.setdefault(keys, []).append(article_id)
    journals = journals_for({k for keys in groups for k in keys})
    by_work: dict[int, list[int]] = {}
    for keys, ids in groups.items():
        work_id = next((journals[k] for k in keys if k in journals), None)
        if work_id is not None:
            by_work.setdefault(work_id, []).extend(ids)
    attached = 0
    for work_id, ids in by_work.items():
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            with transaction.atomic():
                attached += Article.objects.filter(id__in=chunk, journal__isnull=True).update(
                    journal_id=work_id
                )
                article_index.index_on_commit(set(chunk))
    return attached


# ---- uploads from the catalogue pages -------------------------------------------------------

# A page's load runs while the page waits: bigger loads are for `kede catalog articles load`.
MAX_UPLOAD_BYTES = 50 * 1024**2
_GZIP = b"\x1f\x8b"
_ZIP = b"PK\x03\x04"


def _too_big(name: str) -> ValidationError:
    return ValidationError(
        _(
            "“%(name)s” holds more than %(mb)s MB of article metadata; load fewer files at a "
            "time, or the file with `kede catalog articles load`."
        )
        % {"name": name, "mb": MAX_UPLOAD_BYTES // 1024**2}
    )


def _damaged(name: str) -> ValidationError:
    return ValidationError(
        _("“%(name)s” is a damaged archive or compressed file: it cannot be unpacked.")
        % {"name": name}
    )


def _bounded(read, limit: int, name: str) -> bytes:
    data = read(limit + 1)
    if len(data) > limit:
        raise _too_big(name)
    return data


def _unpacked(name: str, data: bytes, budget: int) -> list[tuple[str, bytes]]:
    """The files in an upload: itself, or what it holds when it is gzipped or a zip or tar
    archive (each member by its own name; folders and hidden files left out). Raises
    ValidationError when it is damaged, or unpacks to more than `budget` bytes."""
    try:
        if data[:2] == _GZIP:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
                data = _bounded(unzipped.read, budget, name)
            name = name.removesuffix(".gz").removesuffix(".GZ") or name
        members: list[tuple[str, bytes]] = []
        if data[:4] == _ZIP:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    base = Path(info.filename).name
                    hidden = base.startswith(".") or info.filename.startswith("__MACOSX/")
                    if info.is_dir() or not base or hidden:
                        continue
                    with archive.open(info) as member:
                        members.append((base, _bounded(member.read, budget, name)))
                    budget -= len(members[-1][1])
        elif len(data) > 262 and data[257:262] == b"ustar":
            with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                for info in archive.getmembers():
                    base = Path(info.name).name
                    if not info.isfile() or not base or base.startswith("."):
                        continue
                    member = archive.extractfile(info)
                    if member is None:
                        continue
                    members.append((base, _bounded(member.read, budget, name)))
                    budget -= len(members[-1][1])
        else:
            return [(name, data)]
    except (
        OSError,
        EOFError,
        zlib.error,
        zipfile.BadZipFile,
        tarfile.TarError,
        RuntimeError,  # an encrypted zip
        NotImplementedError,  # a compression method zipfile lacks
    ):
        raise _damaged(name) from None
    return [(member, content) for member, content in members if content]


def articles_upload(*, files: Iterable[File], actor=None) -> list[tuple[str, ArticleLoad]]:
    """Load uploaded files of article metadata (any format `articles_load` reads; gzipped, or
    several in a zip or tar archive): each file's name and load, in order. Every file is
    checked before any is loaded: an empty one, a damaged archive, or more than
    `MAX_UPLOAD_BYTES` in all raise ValidationError and nothing is loaded. Centre staff only."""
    _require_centre(actor)
    budget = MAX_UPLOAD_BYTES
    contents: list[tuple[str, bytes]] = []
    for upload in files:
        name = Path(upload.name or "").name or "articles"
        size = upload.size or 0
        if size <= 0:
            raise ValidationError(_("“%(name)s” is empty.") % {"name": name})
        if size > budget:
            raise _too_big(name)
        upload.seek(0)
        unpacked = _unpacked(name, upload.read(), budget)
        if not unpacked:
            raise ValidationError(_("“%(name)s” holds no files.") % {"name": name})
        budget -= sum(len(data) for _name, data in unpacked)
        if budget < 0:
            raise _too_big(name)
        contents.extend(unpacked)
    return [
        (name, articles_load(data=data, source_name=name, actor=actor)) for name, data in contents
    ]
