"""Journal articles stored, attached to their journals and searchable: real eLife JATS files
and recorded Crossref responses, both search engines."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from kede.catalog import article_index, article_services, indexing, selectors
from kede.catalog.marc import BibRecord
from kede.catalog.models import Article, Holding
from kede.catalog.services import catalog_load_records
from kede.catalog.tests.test_articles import ARTICLES, crossref_bodies

pytestmark = pytest.mark.django_db

ELIFE_ISSN = "2050-084X"


# The PostgreSQL engine is tried when the suite runs on PostgreSQL.
ENGINES = (
    ["tantivy", "postgres"]
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    else ["tantivy"]
)


@pytest.fixture(params=ENGINES)
def search_engine(request, settings):
    settings.KEDE_SEARCH_ENGINE = request.param
    # each test's transaction is rolled back: its tables are made again
    indexing._ready.clear()
    article_index._ready.clear()
    article_index._ready.clear()
    return request.param


def elife_files() -> list[tuple[str, bytes]]:
    path = ARTICLES / "elife-tools" / "elife-tools_tests_sample-xml.tar.gz"
    with tarfile.open(path) as archive:
        return [
            (Path(m.name).name, archive.extractfile(m).read())  # type: ignore[union-attr]
            for m in sorted(archive.getmembers(), key=lambda m: m.name)
            if m.isfile()
        ]


@pytest.fixture
def elife_journal(network):
    """eLife in the catalogue, held by WHU from 2012 on and by SCU for 2012-2013 only."""
    catalog_load_records(
        records=[BibRecord(local_id="elife", title="eLife", issns=[ELIFE_ISSN], format="serial")],
        holders=lambda _bib: [network["WHU"], network["SCU"]],
    )
    journal = Holding.objects.get(institution__code="WHU", local_id="elife").work
    spans = {
        "WHU": {"start_year": 2012, "end_year": None, "open_end": True},
        "SCU": {"start_year": 2012, "end_year": 2013},
    }
    for code, span in spans.items():
        Holding.objects.filter(work=journal, institution__code=code).update(
            coverage=[span], coverage_text=f"{span['start_year']}-{span['end_year'] or ''}"
        )
    return journal


def load_elife():
    total = article_services.ArticleLoad()
    for name, data in elife_files():
        report = article_services.articles_load(data=data, source=name)
        for field in ("read", "stored", "updated", "attached", "unattached"):
            setattr(total, field, getattr(total, field) + getattr(report, field))
        total.rejected += report.rejected
    article_index.rebuild()  # tests roll back instead of committing: write the index here
    return total


def test_real_jats_articles_are_stored_and_attached_to_their_journal(search_engine, elife_journal):
    report = load_elife()
    assert report.read == 27
    assert report.stored == Article.objects.count() > 0
    assert len(report.rejected) == 27 - report.stored - report.updated
    assert all(reason for _name, _pos, reason in report.rejected)
    attached = Article.objects.filter(journal=elife_journal)
    assert report.attached == report.stored + report.updated  # every eLife article, each time
    assert attached.count() == Article.objects.count() >= 20
    assert set(attached.values_list("issn_electronic", flat=True)) == {ELIFE_ISSN}
    # loading the files again updates the same articles
    again = load_elife()
    assert again.stored == 0 and again.updated == report.stored + report.updated
    assert Article.objects.count() == report.stored


def test_articles_are_found_by_title_word_doi_and_issn(search_engine, elife_journal):
    load_elife()
    article = Article.objects.filter(journal=elife_journal).exclude(doi="").order_by("id").first()
    word = max(article.title.split(), key=len).strip(",.:;()")
    by_word = selectors.articles_search(word)
    assert article.id in [h.article.id for h in by_word.hits]
    by_doi = selectors.articles_search(article.doi.upper())
    assert [h.article.id for h in by_doi.hits] == [article.id]
    by_issn = selectors.articles_search(f"issn:{ELIFE_ISSN}", per_page=100)
    assert by_issn.total == Article.objects.filter(issn_electronic=ELIFE_ISSN).count()


def test_each_hit_names_the_holders_whose_coverage_includes_its_year(search_engine, elife_journal):
    load_elife()
    late = Article.objects.filter(journal=elife_journal, year__gte=2014).first()
    early = Article.objects.filter(journal=elife_journal, year__in=[2012, 2013]).first()
    assert late is not None and early is not None
    late_hit = next(h for h in selectors.articles_search(late.doi).hits)
    assert late_hit.holders == [("WHU", "covered")]  # SCU's run stops in 2013
    early_hit = next(h for h in selectors.articles_search(early.doi).hits)
    assert early_hit.holders == [("SCU", "covered"), ("WHU", "covered")]


def test_articles_whose_journal_arrives_later_are_attached_then(network):
    load_elife()
    assert not Article.objects.filter(journal__isnull=False).exists()
    catalog_load_records(
        records=[BibRecord(local_id="elife", title="eLife", issns=[ELIFE_ISSN], format="serial")],
        holders=lambda _bib: [network["WHU"]],
    )
    attached = article_services.articles_attach()
    assert attached == Article.objects.filter(journal__isnull=False).count() >= 20


def test_recorded_crossref_responses_load_with_a_reason_for_every_refusal(network):
    bodies = crossref_bodies()
    read = stored = 0
    for name, body in bodies[:60]:
        report = article_services.articles_load(data=body, source=name)
        read += report.read
        stored += report.stored + report.updated
        assert all(reason for _n, _p, reason in report.rejected)
    assert stored > 0 and Article.objects.count() > 0


def test_cjk_titles_are_found_in_either_script(network):
    csv = (
        "title,authors,journal_title,issn_print,volume,issue,first_page,last_page,year,doi\n"
        "近代中國的學術與社會,王汎森,历史研究,0459-1909,3,2,5,20,2001,10.9999/lsyj.2001.3\n"
    )
    report = article_services.articles_load(data=csv.encode("utf-8"), source="cjk.csv")
    assert report.stored == 1, report.rejected
    article_index.rebuild()
    for query in ("近代中國", "近代中国的学术"):
        assert [h.article.title for h in selectors.articles_search(query).hits] == [
            "近代中國的學術與社會"
        ], query


def test_kede_catalog_articles_load_and_search(network, tmp_path):
    name, data = next((n, d) for n, d in elife_files() if b"2050-084X" in d)
    path = tmp_path / name
    path.write_bytes(data)
    out = io.StringIO()
    call_command("catalog", "articles", "load", str(path), "--json", stdout=out)
    [report] = json.loads(out.getvalue())
    assert report["stored"] == 1 and report["file"] == name
    call_command("catalog", "articles", "reindex", stdout=io.StringIO())
    article = Article.objects.get()
    out = io.StringIO()
    call_command("catalog", "articles", "search", article.doi, "--json", stdout=out)
    hits = json.loads(out.getvalue())["hits"]
    assert [h["doi"] for h in hits] == [article.doi]


def test_the_search_page_shows_articles_with_a_request_link(client, network, elife_journal):
    load_elife()
    article = Article.objects.filter(journal=elife_journal, year__gte=2014).first()
    client.cookies["django_language"] = "en"
    page = client.get(reverse("portal:search"), {"q": article.doi, "kind": "articles"})
    text = page.content.decode()
    assert page.status_code == 200
    assert article.journal_title in text and "WHU" in text
    assert f"https://doi.org/{article.doi}" in text
    link = reverse("portal:request-new")
    assert f"{link}?" in text and "doi=" in text
    # the link fills the request form with the citation
    client.force_login(network.readers["USST"])
    form = client.get(link, {"doi": article.doi, "title": article.title, "volume": article.volume})
    assert f'value="{article.doi}"' in form.content.decode()


def test_the_api_finds_articles_with_their_journals_holders(network, elife_journal):
    from rest_framework.test import APIClient

    load_elife()
    article = Article.objects.filter(journal=elife_journal, year__gte=2014).first()
    data = APIClient().get(reverse("api:articles"), {"q": article.doi}).json()
    assert data["total"] == 1
    [hit] = data["hits"]
    assert (hit["doi"], hit["journal_work"]) == (article.doi, elife_journal.id)
    assert hit["holders"] == [{"institution": "WHU", "coverage": "covered"}]
