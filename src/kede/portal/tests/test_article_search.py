"""The search page's articles: hits with their journal, citation, DOI and the member libraries
whose run of the journal includes them, and a request link that fills the request form."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from kede.catalog import article_index, article_services
from kede.catalog.marc import BibRecord
from kede.catalog.models import Article, Holding
from kede.catalog.services import catalog_load_records
from kede.catalog.tests.test_articles_store import ELIFE_ISSN, elife_files
from kede.ill.models import Request

pytestmark = pytest.mark.django_db


@pytest.fixture
def elife(network):
    """eLife held by WHU from 2014 on, with the real eLife articles of the JATS set loaded."""
    catalog_load_records(
        records=[BibRecord(local_id="elife", title="eLife", issns=[ELIFE_ISSN], format="serial")],
        holders=lambda _bib: [network["WHU"]],
    )
    Holding.objects.filter(local_id="elife").update(
        coverage=[{"start_year": 2014, "end_year": None, "open_end": True}],
        coverage_text="2014-",
    )
    for name, data in elife_files():
        article_services.articles_load(data=data, source_name=name)
    article_index.rebuild()  # tests roll back instead of committing: write the index here
    return Holding.objects.get(local_id="elife").work


def english(client):
    client.cookies["django_language"] = "en"
    return client


def request_link(page: str) -> str:
    found = re.search(r'class="button request" href="([^"]+)"', page)
    assert found, "no request link"
    return html.unescape(found.group(1))


def test_a_hit_shows_its_citation_doi_and_the_holders_whose_run_includes_it(client, elife):
    # given an article of 2014 or later, with a volume
    article = Article.objects.filter(journal=elife, year__gte=2014).exclude(volume="").first()

    # when a reader searches the articles for words of its title
    words = " ".join(article.title.split()[:4])
    page = english(client).get(reverse("portal:search"), {"q": words, "kind": "articles"})

    # then it is listed with its journal (linked to the journal's page), volume, year, DOI and
    # WHU, whose run from 2014 includes it
    text = page.content.decode()
    assert page.status_code == 200
    assert reverse("portal:work", args=[elife.id]) in text
    assert f"{article.volume}" in text and str(article.year) in text
    assert f'href="https://doi.org/{article.doi}"' in text
    assert "Its journal is held by: WHU" in text
    # the header's search box stays on articles
    assert '<input type="hidden" name="kind" value="articles">' in text


def test_an_article_before_the_holders_run_names_no_holder(client, elife):
    early = Article.objects.filter(journal=elife, year__lt=2014).exclude(doi="").first()
    page = english(client).get(reverse("portal:search"), {"q": early.doi, "kind": "articles"})
    text = page.content.decode()
    assert "No member library" in text and "run of its journal includes it." in text
    assert "WHU" not in text.split('id="articles"')[1]


def test_the_request_link_fills_the_form_and_the_request_goes_to_the_journal(
    client, network, elife
):
    # given an article found on the search page
    article = Article.objects.filter(journal=elife, year__gte=2014).exclude(doi="").first()
    page = english(client).get(reverse("portal:search"), {"q": article.doi, "kind": "articles"})
    link = request_link(page.content.decode())
    params = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    assert params["doi"] == article.doi and params["work"] == str(elife.id)
    assert params["issn"] == ELIFE_ISSN and params["container_title"] == "eLife"

    # when a reader follows it
    client.force_login(network.readers["USST"])
    form = client.get(link).content.decode()

    # then the form holds the citation, from the journal's work
    for value in (article.doi, article.volume, str(article.year), ELIFE_ISSN):
        assert f'value="{value}"' in form
    assert html.escape(article.title) in form
    assert "<strong>eLife</strong>" in form

    # and sending it as it is makes a request for the article, on the journal's work
    response = client.post(link, {**params, "service_type": "copy"})
    assert response.status_code == 302, response.content.decode()[:2000]
    request = Request.objects.get()
    assert request.work_id == elife.id
    assert request.doi == article.doi


def test_the_search_page_offers_articles(client, elife):
    # the empty search page offers both kinds, articles chosen when asked for
    empty = english(client).get(reverse("portal:search"), {"kind": "articles"}).content.decode()
    assert 'name="kind" value="articles" checked' in empty
    # the works' results link to the same search among articles, and back
    works = client.get(reverse("portal:search"), {"q": "eLife"}).content.decode()
    assert 'id="articles-link"' in works and "kind=articles" in works
    articles = client.get(reverse("portal:search"), {"q": "eLife", "kind": "articles"})
    assert 'id="catalogue-link"' in articles.content.decode()
    assert Article.objects.count() > 0
    assert f"{Article.objects.count()} articles for" in articles.content.decode()
