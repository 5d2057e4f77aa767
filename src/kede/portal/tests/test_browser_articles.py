"""The centre loads journal articles through the catalogue pages in a real browser (Debian's
Chromium driven by Playwright): the eLife JATS set as published and a CSV in the template, the
load's report on the page, a file that is no article metadata said plainly, and the articles
found by a reader with the library that holds their journal."""

from __future__ import annotations

import os

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # see test_browser_journey

import pytest
from playwright.sync_api import expect

from kede.catalog.marc import BibRecord
from kede.catalog.models import Article, ArticleIndexBacklog
from kede.catalog.services import catalog_load_records
from kede.catalog.tests.test_articles import ARTICLES, needs_shared
from kede.catalog.tests.test_articles_store import ELIFE_ISSN
from kede.portal.tests import test_browser_journey as journey

pytestmark = [pytest.mark.browser, needs_shared]

ELIFE_TAR = ARTICLES / "elife-tools" / "elife-tools_tests_sample-xml.tar.gz"
SHOTS = journey.SHOTS
browser = journey.browser  # the journey's fixtures: Debian's Chromium, a logged-in page
open_page = journey.open_page


def test_the_centre_loads_articles_and_a_reader_finds_them(open_page, network, tmp_path):
    # given eLife in the union catalogue, held by WHU
    catalog_load_records(
        records=[BibRecord(local_id="elife", title="eLife", issns=[ELIFE_ISSN], format="serial")],
        holders=lambda _bib: [network["WHU"]],
    )
    csv_file = tmp_path / "articles.csv"
    csv_file.write_text(
        "title,journal_title,issn_print,volume,first_page,year\n"
        "Old times,Past & present,0031-2746,1,3,1952\n"
        "Bad year,Past & present,0031-2746,12,40,nineteen\n",
        encoding="utf-8",
    )

    # when the centre opens the catalogue and follows the link to load articles
    centre = open_page(network.centre_admin)
    centre.goto("/staff/catalogue/")
    centre.get_by_role("link", name="Load journal articles").click()
    expect(centre.get_by_role("heading", level=1)).to_have_text("Load journal articles")

    # and uploads the eLife archive and the CSV together
    centre.get_by_label("Article files").set_input_files([ELIFE_TAR, csv_file])
    centre.get_by_role("button", name="Upload and load").click()

    # then the page shows what the load did, file by file, and each rejection's reason
    expect(centre.get_by_role("heading", name="What the load did")).to_be_visible()
    counts = centre.locator("#article-counts")
    expect(counts.get_by_role("row").filter(has_text="records read")).to_contain_text("29")
    stored = Article.objects.count()
    expect(counts.get_by_role("row").filter(has_text="new articles stored")).to_contain_text(
        str(stored)
    )
    expect(centre.locator("#article-files")).to_contain_text("articles.csv")
    rejected = centre.locator("#article-rejected")
    expect(rejected.get_by_role("row").filter(has_text="articles.csv")).to_contain_text("year")
    SHOTS.mkdir(exist_ok=True)
    centre.screenshot(path=SHOTS / "centre-articles-report.png", full_page=True)
    # the index was written after the commit, and owes nothing
    assert not ArticleIndexBacklog.objects.exists()

    # when a file that is no article metadata is uploaded, the page says so
    picture = tmp_path / "scan.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    centre.get_by_label("Article files").set_input_files(picture)
    centre.get_by_role("button", name="Upload and load").click()
    expect(centre.locator(".unreadable-file")).to_contain_text(
        "Nothing in “scan.png” could be read as article metadata"
    )

    # and a reader finds an eLife article by its DOI, with the library holding its journal
    article = Article.objects.filter(journal__isnull=False, issn_electronic=ELIFE_ISSN).first()
    reader = open_page(network.readers["USST"])
    reader.goto("/search/?kind=articles")
    reader.get_by_role("main").get_by_role("searchbox").fill(article.doi)
    reader.get_by_role("main").get_by_role("button", name="Search").click()
    hit = reader.locator("#articles li.article")
    expect(hit).to_have_count(1)
    expect(hit).to_contain_text(article.journal_title)
    expect(hit).to_contain_text("WHU")
