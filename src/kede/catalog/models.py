"""The union catalogue: members' records, the works they are merged into, and who holds what.

A member's catalogue comes in through its sources (file uploads, OAI-PMH). Each record it sends
is kept as a `CatalogRecord` (under the member's own id), with what matching needs of it; the
records that describe the same publication are merged into one `Work`, shown from its best
record, with one `Holding` per copy-holding record. Re-sending a record updates it in place and
may move it to another work (split) or join two works (merge); deleting it removes its
holdings.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from kede.consortium.models import Consortium, Institution


class Work(models.Model):
    title = models.CharField(_("title"), max_length=1000)
    author = models.CharField(_("author"), max_length=500, blank=True)
    publisher = models.CharField(_("publisher"), max_length=500, blank=True)
    year = models.CharField(_("year"), max_length=8, blank=True)
    edition = models.CharField(_("edition"), max_length=200, blank=True)
    isbn = models.CharField(_("ISBN"), max_length=17, blank=True, db_index=True)
    issn = models.CharField(_("ISSN"), max_length=9, blank=True, db_index=True)
    format = models.CharField(_("format"), max_length=16, default="book")
    language = models.CharField(_("language"), max_length=3, blank=True)
    # The title in its original script (880), when the display title is romanised.
    title_vernacular = models.CharField(_("original title"), max_length=1000, blank=True)
    lccn = models.CharField(_("LCCN"), max_length=20, blank=True, db_index=True)
    oclc = models.CharField(_("OCLC number"), max_length=20, blank=True, db_index=True)
    classification = models.CharField(_("class number"), max_length=100, blank=True)
    # Folded title, author, publisher and identifiers: what the simple search matches against.
    search_text = models.TextField(editable=False, default="")
    updated_at = models.DateTimeField(auto_now=True, null=True)

    class Meta:
        verbose_name = _("work")
        verbose_name_plural = _("works")

    def __str__(self) -> str:
        return self.title


class IndexBacklog(models.Model):
    """A work whose entry in the search index may be behind the database: written in the same
    transaction as the change, deleted once the index has the change. What a crash between
    the two left behind is caught up by the next writer, the worker's periodic job or a
    restart."""

    work_id = models.BigIntegerField(db_index=True)

    class Meta:
        verbose_name = _("search index backlog")


class SourceKind(models.TextChoices):
    UPLOAD = "upload", _("file upload")
    OAI = "oai", _("OAI-PMH harvest")


class Source(models.Model):
    """One way a member's catalogue reaches the union catalogue, with where that catalogue
    keeps its local ids and holdings (the field mapping)."""

    institution = models.ForeignKey(
        Institution, on_delete=models.CASCADE, related_name="catalogue_sources"
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=8, choices=SourceKind.choices)
    oai_url = models.URLField(_("OAI-PMH base URL"), max_length=500, blank=True)
    oai_prefix = models.CharField(_("metadata prefix"), max_length=50, blank=True)
    oai_sets = models.CharField(_("sets"), max_length=500, blank=True)
    mapping = models.JSONField(_("field mapping"), default=dict, blank=True)
    # Where an OAI-PMH harvest stands (resumption token, last datestamp), committed with
    # each page so a crash resumes.
    harvest_state = models.JSONField(default=dict, blank=True)
    # A harvest in progress holds the source until then (renewed with each page), so two
    # schedulers or a command run beside the scheduler never harvest it twice at once.
    harvest_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("catalogue source")
        verbose_name_plural = _("catalogue sources")
        constraints = [
            models.UniqueConstraint(fields=["institution", "name"], name="uniq_source_name")
        ]

    def __str__(self) -> str:
        return f"{self.institution.code}: {self.name}"


class IngestStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class IngestRun(models.Model):
    """One load (an upload or a harvest) and its report: what was read, kept, merged,
    deleted, and every rejected record with its reason."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="runs")
    file_name = models.CharField(_("file"), max_length=300, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=IngestStatus.choices, default=IngestStatus.RUNNING
    )
    report = models.JSONField(_("report"), default=dict, blank=True)
    works_created = models.PositiveIntegerField(default=0)
    works_merged = models.PositiveIntegerField(default=0)
    works_split = models.PositiveIntegerField(default=0)
    records_added = models.PositiveIntegerField(default=0)
    records_updated = models.PositiveIntegerField(default=0)
    records_deleted = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # An upload waiting for (or read by) the worker: its name in Django's default storage.
    upload_name = models.CharField(max_length=500, blank=True, editable=False)
    # A few records of the load as read, before any mapping (MARC-in-JSON): what the centre
    # previews a source's field mapping on.
    samples = models.JSONField(default=list, blank=True, editable=False)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    started_at = models.DateTimeField(auto_now_add=True)
    # The file is the source's whole catalogue: records it no longer holds are withdrawn.
    whole_catalogue = models.BooleanField(_("whole catalogue"), default=False)
    # Last sign of life of the process loading it: a run "running" without one for long lost
    # its worker and is taken up again (a load is safe to repeat).
    progress_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("catalogue load")
        verbose_name_plural = _("catalogue loads")


class CatalogRecord(models.Model):
    """A member's record as last received, reduced to what matching and display need."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="records")
    local_id = models.CharField(_("local record id"), max_length=100)
    work = models.ForeignKey(
        Work, on_delete=models.SET_NULL, null=True, blank=True, related_name="records"
    )
    # kede.catalog.dedup.MatchRecord's fields, and the display fields of the work.
    match = models.JSONField(default=dict)
    display = models.JSONField(default=dict)
    quality = models.BigIntegerField(default=0)
    # The OAI-PMH identifier it was harvested under: a deletion names only that.
    harvest_id = models.CharField(max_length=300, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("member record")
        verbose_name_plural = _("member records")
        constraints = [
            models.UniqueConstraint(fields=["source", "local_id"], name="uniq_record_local_id")
        ]
        indexes = [models.Index(fields=["source", "harvest_id"], name="record_harvest_id")]


class MatchKey(models.Model):
    """A blocking key of a record: records are compared only with those sharing a key."""

    key = models.CharField(max_length=120, db_index=True)
    record = models.ForeignKey(CatalogRecord, on_delete=models.CASCADE, related_name="keys")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["record", "key"], name="uniq_record_key")]


class Holding(models.Model):
    work = models.ForeignKey(Work, on_delete=models.CASCADE, related_name="holdings")
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="holdings")
    local_id = models.CharField(_("local record id"), max_length=100)
    call_number = models.CharField(_("call number"), max_length=200, blank=True)
    record = models.ForeignKey(
        CatalogRecord, on_delete=models.CASCADE, null=True, blank=True, related_name="holdings"
    )
    location = models.CharField(_("location"), max_length=200, blank=True)
    barcode = models.CharField(_("barcode"), max_length=100, blank=True)
    copies = models.PositiveIntegerField(_("copies"), default=1)
    # Serials: what this library holds, as written (866) and as spans (kede.catalog.serials).
    coverage_text = models.TextField(_("holdings statement"), blank=True)
    coverage = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("holding")
        verbose_name_plural = _("holdings")
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "local_id"], name="uniq_holding_local_id"
            )
        ]

    @property
    def coverage_spans(self) -> list[str]:
        """The serial coverage as spans written out ("v.1(1952)-v.40(1991)")."""
        from kede.catalog.serials import Embargo, Span

        out = []
        for data in self.coverage or []:
            try:
                embargo = tuple(Embargo(**e) for e in data.get("embargo") or ())
                out.append(str(Span(**{**data, "embargo": embargo})))
            except (TypeError, ValueError):
                continue
        return out


class ScopePolicy(models.Model):
    """What the consortium keeps in its union catalogue (kede.catalog.ingest.scope)."""

    consortium = models.OneToOneField(Consortium, on_delete=models.CASCADE, related_name="scope")
    rule = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("catalogue scope")
        verbose_name_plural = _("catalogue scopes")


class Article(models.Model):
    """A journal article from article-level metadata (Crossref, JATS, PubMed, the CSV
    template), attached to its journal's work when the union catalogue has it."""

    journal = models.ForeignKey(
        Work, on_delete=models.SET_NULL, null=True, blank=True, related_name="articles"
    )
    title = models.TextField(_("title"))
    authors = models.JSONField(_("authors"), default=list, blank=True)
    journal_title = models.CharField(_("journal"), max_length=500, blank=True)
    issn_print = models.CharField(_("ISSN"), max_length=9, blank=True)
    issn_electronic = models.CharField(_("e-ISSN"), max_length=9, blank=True)
    doi = models.CharField(_("DOI"), max_length=200, blank=True, db_index=True)
    volume = models.CharField(_("volume"), max_length=50, blank=True)
    issue = models.CharField(_("issue"), max_length=50, blank=True)
    pages = models.CharField(_("pages"), max_length=50, blank=True)
    year = models.IntegerField(_("year"), null=True, blank=True)
    published = models.CharField(max_length=10, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    abstract = models.TextField(_("abstract"), blank=True)
    license_url = models.CharField(max_length=500, blank=True)
    # What attaches it to its journal ("issn:…" or "journal:<title key>") and what a citation
    # is matched on (the DOI, else ISSN + volume + first page, else title + year).
    journal_key = models.CharField(max_length=300, blank=True, db_index=True)
    citation_key = models.CharField(max_length=500, unique=True)
    source = models.CharField(_("source"), max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        constraints = [
            # DOIs are case-insensitive: one article per DOI however it was written.
            models.UniqueConstraint(
                Lower("doi"), condition=~models.Q(doi=""), name="uniq_article_doi"
            )
        ]

    def __str__(self) -> str:
        return self.title[:80]


class ArticleKey(models.Model):
    """Every key a citation of an article may be matched on (`articles.citation_keys` of each
    record loaded into it: the DOI, each ISSN with volume and first page, title with year), so
    the same article from another file, in another format, updates it (`same_article`)."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="keys")
    key = models.CharField(max_length=500, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["article", "key"], name="uniq_article_key")]


class ArticleIndexBacklog(models.Model):
    """An article whose entry in the article search index may be behind the database (the
    articles' `IndexBacklog`): written in the same transaction as the change, deleted once the
    index has it, so a crash between the commit and the index write is caught up later."""

    article_id = models.BigIntegerField(db_index=True)

    class Meta:
        verbose_name = _("article index backlog")
