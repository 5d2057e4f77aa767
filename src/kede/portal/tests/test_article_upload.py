"""The centre's page for loading journal articles: real files (the eLife JATS set as published,
recorded Crossref responses, the article CSV template) uploaded through the page, the load's
report shown at once, bad files refused with a reason, and nobody else let in."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from kede.catalog import article_services
from kede.catalog.marc import BibRecord
from kede.catalog.models import Article
from kede.catalog.services import catalog_load_records
from kede.catalog.tests.test_articles import ARTICLES, crossref_bodies, needs_shared
from kede.catalog.tests.test_articles_store import ELIFE_ISSN, elife_files
from kede.conftest import PASSWORD

pytestmark = pytest.mark.django_db

URL = reverse("portal:catalogue-articles")
ELIFE_TAR = ARTICLES / "elife-tools" / "elife-tools_tests_sample-xml.tar.gz"


def login(client, user) -> None:
    """Log in, in English (the words checked below are the English ones)."""
    assert client.login(username=user.username, password=PASSWORD)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})


def upload(client, *files: tuple[str, bytes]):
    return client.post(URL, {"files": [SimpleUploadedFile(name, data) for name, data in files]})


def counts(response) -> dict[str, int]:
    """The report's counts as shown: label → number."""
    rows = response.context["counts"]
    return {str(label): n for label, n in rows}


@needs_shared
def test_the_centre_uploads_the_elife_archive_and_reads_the_loads_report(client, network):
    # given eLife in the catalogue, and the centre on the catalogue page
    catalog_load_records(
        records=[BibRecord(local_id="elife", title="eLife", issns=[ELIFE_ISSN], format="serial")],
        holders=lambda _bib: [network["WHU"]],
    )
    login(client, network.centre_admin)
    home = client.get(reverse("portal:catalogue")).content.decode()
    assert f'href="{URL}"' in home and "Load journal articles" in home
    assert client.get(URL).status_code == 200

    # when it uploads the JATS set as published (a gzipped tar of 27 XML files)
    response = upload(client, (ELIFE_TAR.name, ELIFE_TAR.read_bytes()))

    # then the page shows what the load did: read, stored, attached, the rejected with reasons
    assert response.status_code == 200
    shown = counts(response)
    stored = Article.objects.count()
    assert shown["records read"] == 27
    assert shown["new articles stored"] == stored >= 20
    rejected = shown["rejected"]
    assert rejected == len(response.context["rejected"]) and rejected < 27 - stored
    # (one article is in two files: stored from the first, updated from the second)
    assert shown["new articles stored"] + shown["articles updated"] + rejected == 27
    assert shown["attached to their journal"] + shown["waiting for their journal"] + rejected == 27
    # every article of the set is eLife's, in the catalogue: none waits
    assert shown["waiting for their journal"] == 0
    assert not Article.objects.filter(journal__isnull=True).exists()
    text = response.content.decode()
    assert "What the load did" in text and 'id="article-files"' in text
    for name, _position, reason in response.context["rejected"]:
        assert name.endswith(".xml") and reason in text
    # each article names the file it came from
    names = {name for name, _data in elife_files()}
    assert set(Article.objects.values_list("source", flat=True)) <= names

    # and uploading it again stores nothing twice
    again = counts(upload(client, (ELIFE_TAR.name, ELIFE_TAR.read_bytes())))
    assert again["new articles stored"] == 0
    assert again["articles updated"] == stored + shown["articles updated"]
    assert Article.objects.count() == stored


@needs_shared
def test_crossref_json_and_the_csv_template_load_together_and_wait_for_their_journal(
    client, network
):
    # given a recorded Crossref response (a list of works) and a CSV in the template
    name, body = next(
        (n, b)
        for n, b in crossref_bodies()
        if b.lstrip().startswith("{") and json.loads(b).get("message-type") == "work-list"
    )
    csv_text = (
        "title,authors,journal_title,issn_print,volume,first_page,year\n"
        'Old times,"Curie, Marie",Past & present,0031-2746,1,3,1952\n'
        "Nowhere,,Journal of nothing held,,1,1,2020\n"
        "Bad year,,Past & present,0031-2746,12,40,nineteen\n"
    )
    login(client, network.centre_admin)

    # when both are uploaded at once (the CSV gzipped)
    response = upload(
        client, ("works.json", body.encode()), ("articles.csv.gz", gzip.compress(csv_text.encode()))
    )

    # then one report covers both files, each file's figures beside
    assert response.status_code == 200
    shown = counts(response)
    loads = dict(response.context["loads"])
    assert set(loads) == {"works.json", "articles.csv"}
    assert loads["articles.csv"].stored == 2 and loads["articles.csv"].attached == 1
    assert shown["records read"] == sum(load.read for load in loads.values())
    assert Article.objects.get(title="Old times").journal == network.serial
    # the bad row is listed with its file, line and reason
    assert ("articles.csv", 4) in [(n, p) for n, p, _r in response.context["rejected"]]
    # the articles whose journal is not held wait for it, and the page says so
    assert shown["waiting for their journal"] >= 1
    assert "wait for their journal" in response.content.decode()
    del name


def test_a_file_that_is_no_article_metadata_is_said_plainly(client, network):
    login(client, network.centre_admin)
    # a picture, a JSON that is no Crossref response, an XML that is no JATS
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    response = upload(
        client,
        ("scan.png", png),
        ("other.json", b'{"status": "failed", "message-type": "error", "message": "nope"}'),
        ("feed.xml", b"<rss><channel><title>News</title></channel></rss>"),
    )
    assert response.status_code == 200
    text = response.content.decode()
    for name in ("scan.png", "other.json", "feed.xml"):
        assert f"Nothing in “{name}” could be read as article metadata" in text
    assert "not UTF-8" in text and "no JATS &lt;article&gt;" in text
    assert not Article.objects.exists()


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("empty.json", b"", "The submitted file is empty."),
        ("broken.json.gz", gzip.compress(b'{"a": 1}')[:-12], "damaged archive"),
        ("broken.zip", b"PK\x03\x04" + b"\x00" * 40, "damaged archive"),
        ("folders.zip", None, "holds no files"),
    ],
)
def test_unusable_uploads_are_refused_on_the_page_and_nothing_is_loaded(
    client, network, name, data, error
):
    if data is None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("jats/", b"")
        data = out.getvalue()
    login(client, network.centre_admin)
    good = ("good.csv", b"title,journal_title,year\nOn sharing,Past & present,2021\n")
    response = upload(client, good, (name, data))
    assert response.status_code == 400
    assert "id_files_error" in response.content.decode()
    assert error in response.content.decode()
    assert not Article.objects.exists()  # not even the good file
    assert client.post(URL, {}).status_code == 400  # no file at all


def test_an_upload_over_the_limit_is_refused_even_when_compressed(client, network, monkeypatch):
    monkeypatch.setattr(article_services, "MAX_UPLOAD_BYTES", 1024**2)
    login(client, network.centre_admin)
    rows = "title,journal_title,year\n" + "".join(
        f"Article {n},Past & present,2021\n" for n in range(50_000)
    )
    small = gzip.compress(rows.encode())
    assert len(small) < 1024**2 < len(rows)
    for name, data in (("big.csv", rows.encode()), ("big.csv.gz", small)):
        response = upload(client, (name, data))
        assert response.status_code == 400
        assert "holds more than 1 MB of article metadata" in response.content.decode()
    assert not Article.objects.exists()


def test_only_the_centre_may_load_articles(client, network):
    data = ("a.csv", b"title,journal_title,year\nOn sharing,Past & present,2021\n")
    # anonymous: to the login page
    assert client.get(URL).status_code == 302
    assert client.post(URL).status_code == 302
    # member staff, a reader, a region's administrator: refused, and the home page has no link
    for user in (network.staff["FDU"], network.readers["FDU"], network.region_admin):
        client.logout()
        login(client, user)
        assert client.get(URL).status_code == 403
        assert upload(client, data).status_code == 403
    client.logout()
    login(client, network.staff["FDU"])
    assert URL not in client.get(reverse("portal:catalogue")).content.decode()
    assert not Article.objects.exists()


def test_the_page_reads_in_chinese(client, network):
    assert client.login(username=network.centre_admin.username, password=PASSWORD)
    page = client.get(URL, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "Load journal articles" not in page
    response = client.post(
        URL,
        {
            "files": [
                SimpleUploadedFile("a.csv", b"title,journal_title,year\nX,Past & present,2021\n")
            ]
        },
        HTTP_ACCEPT_LANGUAGE="zh-CN",
    )
    assert response.status_code == 200
    assert "What the load did" not in response.content.decode()
