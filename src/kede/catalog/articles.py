"""Article-level metadata: journal articles read from Crossref, JATS, PubMed and a CSV template
into one `ArticleData`, with the keys that attach an article to its journal (`journal_key`) and
match a reader's citation to it (`citation_key`). Pure: no Django.

Every reader is an iterator of `ArticleResult`s: an article, or the precise reason there is
none. Nothing a reader is given makes it raise. XML is parsed with DTD loading, entity
expansion and network access off: JATS and PubMed files declare DTDs and are still read
without fetching them.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from kede.catalog.normalise import fold_text, title_key, volume_key, year_of
from kede.core.identifiers import normalise_doi, normalise_issn


class ArticleError(ValueError):
    """Metadata that cannot be made into an article."""


@dataclass(frozen=True)
class ArticleData:
    """One journal article. Volume, issue and pages are kept as printed ("3-4", "S1",
    "e33693"); `published` is an ISO date as precise as the source gives ("2012",
    "2012-03", "2012-03-21"); authors are "Family, Given" (or a group's name)."""

    title: str = ""
    doi: str | None = None
    journal_title: str = ""
    issn_print: str | None = None
    issn_electronic: str | None = None
    volume: str = ""
    issue: str = ""
    first_page: str = ""
    last_page: str = ""
    article_number: str = ""
    year: int | None = None
    published: str = ""
    authors: tuple[str, ...] = ()
    abstract: str = ""
    language: str = ""  # ISO 639-1 where the source's code maps to one
    license_url: str = ""
    pmid: str = ""
    kind: str = ""  # the source's type: "journal-article", "research-article", …
    source: str = ""  # "crossref", "jats", "pubmed" or "csv"


@dataclass(frozen=True)
class ArticleResult:
    """One position in the input: an article, or the reason there is none."""

    position: int
    article: ArticleData | None = None
    error: str = ""


# --- shared helpers -------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]*>")
_BLOCK_TAG = re.compile(r"</?(?:[a-z]+:)?(?:p|title|sec|list-item|br|div)\b[^>]*>", re.I)
_LANGUAGES = {
    "eng": "en",
    "fre": "fr",
    "fra": "fr",
    "ger": "de",
    "deu": "de",
    "spa": "es",
    "ita": "it",
    "por": "pt",
    "rus": "ru",
    "chi": "zh",
    "zho": "zh",
    "jpn": "ja",
    "kor": "ko",
    "dut": "nl",
    "nld": "nl",
    "pol": "pl",
    "swe": "sv",
    "dan": "da",
    "nor": "no",
    "fin": "fi",
    "cze": "cs",
    "ces": "cs",
    "hun": "hu",
    "tur": "tr",
    "ara": "ar",
    "heb": "he",
    "gre": "el",
    "ell": "el",
    "ukr": "uk",
}
_ISO_DATE = re.compile(r"^([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?$")


def _clean(text: Any) -> str:
    """One line of text: Unicode-composed, single spaces."""
    if not isinstance(text, str):
        return ""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _strip_markup(text: Any) -> str:
    """Text from a string that may hold inline markup ("<i>Drosophila</i>", "<jats:p>")."""
    if not isinstance(text, str):
        return ""
    text = _BLOCK_TAG.sub(" ", text)
    return _clean(html.unescape(_TAG.sub("", text)))


def _language(code: Any) -> str:
    code = _clean(code).lower().replace("_", "-")
    if not code:
        return ""
    base = code.split("-")[0]
    return _LANGUAGES.get(base, base)


def _iso_date(year: Any, month: Any = None, day: Any = None) -> tuple[int | None, str]:
    """(year, "YYYY[-MM[-DD]]") from parts that may be ints, strings or missing."""
    y = _int(year)
    if y is None or not 1000 <= y <= 2999:
        return None, ""
    m = _month(month)
    d = _int(day) if m else None
    if m and d and 1 <= d <= 31:
        return y, f"{y:04d}-{m:02d}-{d:02d}"
    if m:
        return y, f"{y:04d}-{m:02d}"
    return y, f"{y:04d}"


_MONTH_ABBR = {
    name: n
    for n, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def _month(value: Any) -> int | None:
    if isinstance(value, str) and value.strip()[:3].lower() in _MONTH_ABBR:
        return _MONTH_ABBR[value.strip()[:3].lower()]
    m = _int(value)
    return m if m is not None and 1 <= m <= 12 else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 9:
        return int(value.strip())
    return None


def _pages(text: str) -> tuple[str, str]:
    """ "123-145" -> ("123", "145"); "1865-76" -> ("1865", "1876"); "e33693" -> ("e33693", "")."""
    text = _clean(text).replace("–", "-").replace("—", "-")
    first, _, last = text.partition("-")
    first, last = first.strip(), last.strip()
    if first.isdigit() and last.isdigit() and len(last) < len(first):
        last = first[: len(first) - len(last)] + last  # MEDLINE shortens end pages
    return first, last


def _issn(value: Any) -> str | None:
    return normalise_issn(value) if isinstance(value, str) else None


def _doi(value: Any) -> str | None:
    return normalise_doi(value) if isinstance(value, str) else None


def _finish(article: ArticleData) -> ArticleData:
    if not article.title and not article.doi:
        raise ArticleError("neither a title nor a DOI")
    return article


def _guarded(position: int, build: Callable[[], ArticleData]) -> ArticleResult:
    """Run one conversion; a bug in it becomes an error for this position, not a crash.
    Such errors say "internal error" so that tests can tell them from reasons."""
    try:
        return ArticleResult(position, article=build())
    except ArticleError as exc:
        return ArticleResult(position, error=str(exc))
    except Exception as exc:  # the reader goes on; the message names the bug
        return ArticleResult(position, error=f"internal error ({exc.__class__.__name__}): {exc}")


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


# --- Crossref REST API JSON -----------------------------------------------------------------


def _first_str(value: Any) -> str:
    """Crossref gives most strings as one-element lists; CSL-JSON gives plain strings."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str) and item.strip():
                return item
        return ""
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _date_parts(value: Any) -> tuple[int | None, str]:
    if not isinstance(value, dict):
        return None, ""
    parts = value.get("date-parts")
    if not isinstance(parts, list) or not parts or not isinstance(parts[0], list):
        return None, ""
    first = [*parts[0], None, None, None]
    return _iso_date(first[0], first[1], first[2])


def crossref_work(work: dict[str, Any]) -> ArticleData:
    """One Crossref work (the `message` of /works/{doi}, an item of /works, or CSL-JSON from
    content negotiation) as an ArticleData. Raises ArticleError."""
    if not isinstance(work, dict):
        raise ArticleError(f"a work must be a JSON object, not {type(work).__name__}")
    issn_print = issn_electronic = None
    for entry in _list(work.get("issn-type")):
        if not isinstance(entry, dict):
            continue
        issn = _issn(entry.get("value"))
        if entry.get("type") == "print" and issn_print is None:
            issn_print = issn
        elif entry.get("type") == "electronic" and issn_electronic is None:
            issn_electronic = issn
    issns = work.get("ISSN")
    for raw in issns if isinstance(issns, list) else [issns]:
        issn = _issn(raw)
        if issn and issn not in (issn_print, issn_electronic):
            if issn_print is None:
                issn_print = issn  # untyped: the print slot first
            elif issn_electronic is None:
                issn_electronic = issn
    year, published = None, ""
    for key in ("issued", "published", "published-print", "published-online", "created"):
        year, published = _date_parts(work.get(key))
        if year is not None:
            break
    first, last = _pages(_first_str(work.get("page")))
    authors = []
    for person in _list(work.get("author")):
        if not isinstance(person, dict):
            continue
        family, given = _clean(person.get("family")), _clean(person.get("given"))
        name = f"{family}, {given}" if family and given else family or _clean(person.get("name"))
        if name:
            authors.append(name)
    license_url = ""
    licences = [x for x in _list(work.get("license")) if isinstance(x, dict)]
    licences.sort(key=lambda x: x.get("content-version") != "vor")
    for licence in licences:
        if isinstance(licence.get("URL"), str):
            license_url = licence["URL"].strip()
            break
    return _finish(
        ArticleData(
            title=_strip_markup(_first_str(work.get("title"))),
            doi=_doi(work.get("DOI")),
            journal_title=_strip_markup(_first_str(work.get("container-title"))),
            issn_print=issn_print,
            issn_electronic=issn_electronic,
            volume=_clean(_first_str(work.get("volume"))),
            issue=_clean(_first_str(work.get("issue"))),
            first_page=first,
            last_page=last,
            article_number=_clean(_first_str(work.get("article-number"))),
            year=year,
            published=published,
            authors=tuple(authors),
            abstract=_strip_markup(work.get("abstract")),
            language=_language(work.get("language")),
            license_url=license_url,
            kind=_clean(work.get("type")),
            source="crossref",
        )
    )


def read_crossref(data: bytes | str | dict[str, Any] | list[Any]) -> Iterator[ArticleResult]:
    """The works in a Crossref REST API response: a single work ("message-type": "work"), a
    list ("work-list", its `items`), a bare work object or a JSON list of works. An error
    response or another message type gives one result with the reason."""
    if isinstance(data, (bytes, str)):
        try:
            text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
            data = json.loads(text)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            yield ArticleResult(1, error=f"not JSON: {exc}"[:300])
            return
    if isinstance(data, list):
        for n, work in enumerate(data, start=1):
            yield _guarded(n, lambda work=work: crossref_work(work))
        return
    if not isinstance(data, dict):
        yield ArticleResult(1, error=f"not a Crossref response: a JSON {type(data).__name__}")
        return
    if "message" not in data:
        yield _guarded(1, lambda: crossref_work(data))  # a bare work or CSL-JSON
        return
    status, kind, message = data.get("status"), data.get("message-type"), data.get("message")
    if status != "ok":
        detail = message if isinstance(message, str) else json.dumps(message)[:200]
        yield ArticleResult(1, error=f"Crossref status {status!r} ({kind}): {detail}")
        return
    if kind == "work":
        yield _guarded(1, lambda: crossref_work(message))  # type: ignore[arg-type]
    elif kind == "work-list":
        items = message.get("items") if isinstance(message, dict) else None
        if not isinstance(items, list):
            yield ArticleResult(1, error="work-list without an items list")
            return
        for n, work in enumerate(items, start=1):
            yield _guarded(n, lambda work=work: crossref_work(work))
    else:
        yield ArticleResult(1, error=f"message-type {kind!r} holds no works")


# --- XML: JATS and PubMed -------------------------------------------------------------------

_XLINK = "{http://www.w3.org/1999/xlink}href"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_BLOCKS = {"p", "title", "sec", "list-item", "label", "AbstractText", "def-item", "caption"}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        load_dtd=False,
        dtd_validation=False,
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes | str) -> etree._Element:
    """An XML document's root, with DTDs, entities and the network left alone. Raises
    ArticleError."""
    try:
        root = etree.fromstring(_as_bytes(data), parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise ArticleError(f"not well-formed XML: {exc}") from None
    except ValueError as exc:
        raise ArticleError(f"unreadable XML: {exc}") from None
    if root is None:
        raise ArticleError("empty XML document")
    return root


def _local(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _text(el: etree._Element | None) -> str:
    """The text of an element, with a space between block-level children (paragraphs,
    section titles) and none around inline ones (<italic>, <sub>)."""
    if el is None:
        return ""
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        block = _local(node) in _BLOCKS
        if block:
            parts.append(" ")
        if isinstance(node.tag, str) and node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if block:
            parts.append(" ")

    walk(el)
    return _clean("".join(parts))


def _find(el: etree._Element | None, path: str) -> etree._Element | None:
    return el.find(path) if el is not None else None


def _findall(el: etree._Element | None, path: str) -> list[etree._Element]:
    return list(el.iterfind(path)) if el is not None else []


def _jats_date(el: etree._Element) -> tuple[int | None, str]:
    return _iso_date(_text(_find(el, "year")), _text(_find(el, "month")), _text(_find(el, "day")))


def _jats_article(article: etree._Element) -> ArticleData:
    front = article.find("front")
    meta = _find(front, "article-meta")
    journal = _find(front, "journal-meta")
    if meta is None:
        raise ArticleError("JATS article without front/article-meta")
    doi = None
    pmid = ""
    for el in _findall(meta, "article-id"):
        kind = el.get("pub-id-type")
        if kind == "doi" and doi is None:
            doi = _doi(_text(el))
        elif kind == "pmid" and not pmid:
            pmid = _text(el)
    journal_title = _text(_find(journal, "journal-title-group/journal-title")) or _text(
        _find(journal, "journal-title")
    )
    issn_print = issn_electronic = None
    for el in _findall(journal, "issn"):
        kind = el.get("pub-type") or el.get("publication-format") or ""
        value = _issn(_text(el))
        if kind in ("ppub", "print") and issn_print is None:
            issn_print = value
        elif kind in ("epub", "electronic") and issn_electronic is None:
            issn_electronic = value
        elif issn_print is None:
            issn_print = value
    authors: list[str] = []
    for group in _findall(meta, "contrib-group"):
        for contrib in _findall(group, "contrib"):
            if contrib.get("contrib-type", "author") != "author":
                continue  # editors, reviewers, "author non-byline" group members
            name = contrib.find(".//name")
            if name is not None:
                family, given = _text(_find(name, "surname")), _text(_find(name, "given-names"))
                full = f"{family}, {given}" if family and given else family or given
            else:
                string_name = contrib.find(".//string-name")
                collab = contrib.find(".//collab")
                full = _text(string_name) if string_name is not None else _collab(collab)
            if full:
                authors.append(full)
    dates: list[tuple[str, int, str]] = []
    for el in _findall(meta, "pub-date"):
        kind = el.get("pub-type") or el.get("date-type") or ""
        year, iso = _jats_date(el)
        if year is not None:
            dates.append((kind, year, iso))
    published_dates = [d for d in dates if d[0] != "collection"] or dates
    year, published = (None, "")
    if published_dates:
        _kind, year, published = min(published_dates, key=lambda d: d[2])
    abstracts = _findall(meta, "abstract")
    plain = [a for a in abstracts if not a.get("abstract-type")] or abstracts
    licence = _find(meta, "permissions/license")
    license_url = _licence_url(licence) if licence is not None else ""
    first, last = _text(_find(meta, "fpage")), _text(_find(meta, "lpage"))
    return _finish(
        ArticleData(
            title=_text(_find(meta, "title-group/article-title")),
            doi=doi,
            journal_title=journal_title,
            issn_print=issn_print,
            issn_electronic=issn_electronic,
            volume=_text(_find(meta, "volume")),
            issue=_text(_find(meta, "issue")),
            first_page=first,
            last_page=last,
            article_number=_text(_find(meta, "elocation-id")),
            year=year,
            published=published,
            authors=tuple(authors),
            abstract=_text(plain[0]) if plain else "",
            # the JATS DTD gives article/@xml:lang the default "en"
            language=_language(article.get(_XML_LANG) or "en"),
            license_url=license_url.strip(),
            pmid=pmid,
            kind=article.get("article-type", ""),
            source="jats",
        )
    )


def _licence_url(licence: etree._Element) -> str:
    """<license xlink:href>, else <ali:license_ref>, else a link in its text."""
    if href := licence.get(_XLINK):
        return href
    ref = next((e for e in licence.iter() if _local(e) == "license_ref"), None)
    if ref is not None:
        return _text(ref)
    link = licence.find(".//ext-link")
    return link.get(_XLINK, "") if link is not None else ""


def _collab(el: etree._Element | None) -> str:
    if el is None:
        return ""
    # a collaboration may list its members inside; its own name is the text before them
    head = (el.text or "").strip()
    return _clean(head) or _text(el)


def read_jats(data: bytes | str) -> Iterator[ArticleResult]:
    """The article in a JATS (or NLM/PMC) XML document; a <pmc-articleset> gives each of its
    articles."""
    try:
        root = parse_xml(data)
    except ArticleError as exc:
        yield ArticleResult(1, error=str(exc))
        return
    if _local(root) == "article":
        articles = [root]
    else:
        articles = [el for el in root.iter() if _local(el) == "article"]
        if not articles:
            yield ArticleResult(1, error=f"no JATS <article> (root is <{_local(root)}>)")
            return
    for n, article in enumerate(articles, start=1):
        yield _guarded(n, lambda article=article: _jats_article(article))


def _pubmed_article(el: etree._Element) -> ArticleData:
    citation = el.find("MedlineCitation")
    article = _find(citation, "Article")
    if article is None:
        raise ArticleError("PubmedArticle without MedlineCitation/Article")
    journal = article.find("Journal")
    issn_print = issn_electronic = None
    for issn in _findall(journal, "ISSN"):
        value = _issn(_text(issn))
        if issn.get("IssnType") == "Electronic":
            issn_electronic = issn_electronic or value
        else:
            issn_print = issn_print or value
    journal_issue = _find(journal, "JournalIssue")
    pub_date = _find(journal_issue, "PubDate")
    year, published = _iso_date(
        _text(_find(pub_date, "Year")),
        _text(_find(pub_date, "Month")),
        _text(_find(pub_date, "Day")),
    )
    if year is None:
        year = year_of(_text(_find(pub_date, "MedlineDate")))  # "1998 Dec-1999 Jan"
        published = str(year) if year else ""
    doi = None
    for loc in _findall(article, "ELocationID"):
        if loc.get("EIdType") == "doi":
            doi = doi or _doi(_text(loc))
    for aid in _findall(el, "PubmedData/ArticleIdList/ArticleId"):
        if aid.get("IdType") == "doi":
            doi = doi or _doi(_text(aid))
    first, last = _pages(_text(article.find("Pagination/MedlinePgn")))
    if not first:
        first = _text(article.find("Pagination/StartPage"))
        last = _text(article.find("Pagination/EndPage"))
    elocator = next(
        (_text(x) for x in _findall(article, "ELocationID") if x.get("EIdType") == "pii"), ""
    )
    authors = []
    for author in _findall(article, "AuthorList/Author"):
        family = _text(author.find("LastName"))
        given = _text(author.find("ForeName")) or _text(author.find("Initials"))
        name = f"{family}, {given}" if family and given else family
        name = name or _text(author.find("CollectiveName"))
        if name:
            authors.append(name)
    abstract_parts = []
    for part in _findall(article, "Abstract/AbstractText"):
        label = part.get("Label")
        text = _text(part)
        abstract_parts.append(f"{label}: {text}" if label and text else text)
    return _finish(
        ArticleData(
            title=_text(article.find("ArticleTitle")) or _text(article.find("VernacularTitle")),
            doi=doi,
            journal_title=_text(_find(journal, "Title")),
            issn_print=issn_print,
            issn_electronic=issn_electronic,
            volume=_text(_find(journal_issue, "Volume")),
            issue=_text(_find(journal_issue, "Issue")),
            first_page=first,
            last_page=last,
            article_number=elocator if not first else "",
            year=year,
            published=published,
            authors=tuple(authors),
            abstract=_clean(" ".join(p for p in abstract_parts if p)),
            language=_language(_text(article.find("Language"))),
            pmid=_text(_find(citation, "PMID")),
            kind="journal-article",
            source="pubmed",
        )
    )


def read_pubmed(data: bytes | str) -> Iterator[ArticleResult]:
    """The articles of a PubMed/MEDLINE XML file (<PubmedArticleSet>): one result per
    <PubmedArticle>; book records (<PubmedBookArticle>) are reported as not articles."""
    try:
        root = parse_xml(data)
    except ArticleError as exc:
        yield ArticleResult(1, error=str(exc))
        return
    if _local(root) == "PubmedArticle":
        entries = [root]
    elif _local(root) == "PubmedArticleSet":
        entries = [e for e in root if isinstance(e.tag, str)]
    else:
        yield ArticleResult(1, error=f"not PubMed XML (root is <{_local(root)}>)")
        return
    for n, entry in enumerate(entries, start=1):
        if _local(entry) == "PubmedArticle":
            yield _guarded(n, lambda entry=entry: _pubmed_article(entry))
        else:
            yield ArticleResult(n, error=f"<{_local(entry)}> is not a journal article")


# --- the CSV template -----------------------------------------------------------------------

ARTICLE_CSV_HEADER = (
    "doi",
    "title",
    "journal_title",
    "issn_print",
    "issn_electronic",
    "volume",
    "issue",
    "first_page",
    "last_page",
    "article_number",
    "year",
    "published",
    "authors",
    "abstract",
    "language",
    "license_url",
)
"""The columns of the article CSV template, comma-separated, UTF-8, header first. Any subset in
any order, but with `title` or `doi`. `authors` are separated by ";" ("Curie, Marie; Curie,
Pierre"); `published` is YYYY, YYYY-MM or YYYY-MM-DD; `year` may be left out when `published`
gives it."""


def _csv_row(line: int, row: dict[str, str]) -> ArticleData:
    def problem(column: str, why: str) -> ArticleError:
        return ArticleError(f"line {line}: {column} {row.get(column, '')!r} {why}")

    values = {k: _clean(v) for k, v in row.items()}
    doi = None
    if values.get("doi"):
        doi = normalise_doi(values["doi"])
        if doi is None:
            raise problem("doi", "is not a DOI (10.NNNN/…)")
    issns: dict[str, str | None] = {}
    for column in ("issn_print", "issn_electronic"):
        issns[column] = None
        if values.get(column):
            issns[column] = normalise_issn(values[column])
            if issns[column] is None:
                raise problem(column, "is not a valid ISSN")
    year: int | None = None
    published = ""
    if values.get("published"):
        m = _ISO_DATE.match(values["published"])
        if m is None:
            raise problem("published", "is not YYYY, YYYY-MM or YYYY-MM-DD")
        year, published = _iso_date(m.group(1), m.group(2), m.group(3))
        if year is None or (m.group(2) and not published[5:7]):
            raise problem("published", "is not a real date")
    if values.get("year"):
        stated = _int(values["year"])
        if stated is None or not 1000 <= stated <= 2999:
            raise problem("year", "is not a year")
        if year is not None and stated != year:
            raise problem("year", f"does not agree with published {published!r}")
        year = stated
        published = published or str(year)
    first, last = values.get("first_page", ""), values.get("last_page", "")
    if first.isdigit() and last.isdigit() and int(last) < int(first):
        raise problem("last_page", f"is before first_page {first!r}")
    license_url = values.get("license_url", "")
    if license_url and not re.match(r"^https?://\S+$", license_url):
        raise problem("license_url", "is not an http(s) address")
    authors = tuple(a for a in (_clean(x) for x in values.get("authors", "").split(";")) if a)
    article = ArticleData(
        title=values.get("title", ""),
        doi=doi,
        journal_title=values.get("journal_title", ""),
        issn_print=issns["issn_print"],
        issn_electronic=issns["issn_electronic"],
        volume=values.get("volume", ""),
        issue=values.get("issue", ""),
        first_page=first,
        last_page=last,
        article_number=values.get("article_number", ""),
        year=year,
        published=published,
        authors=authors,
        abstract=values.get("abstract", ""),
        language=_language(values.get("language", "")),
        license_url=license_url,
        kind="journal-article",
        source="csv",
    )
    if not article.title and not article.doi:
        raise ArticleError(f"line {line}: neither title nor doi is given")
    return article


def read_article_csv(data: bytes | str) -> Iterator[ArticleResult]:
    """The rows of a CSV file in the template (ARTICLE_CSV_HEADER). Positions are the file's
    line numbers; a bad header gives one result and stops."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            yield ArticleResult(1, error=f"not UTF-8: {exc}")
            return
    else:
        text = data.lstrip("\ufeff")
    if "\x00" in text:
        yield ArticleResult(1, error="not a text file (NUL bytes)")
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        yield ArticleResult(1, error=f"line 1: unreadable CSV: {exc}")
        return
    if header is None:
        yield ArticleResult(1, error="empty file: no header")
        return
    columns = [h.strip().lower() for h in header]
    unknown = [c for c in columns if c not in ARTICLE_CSV_HEADER]
    if unknown:
        yield ArticleResult(
            1,
            error=f"line 1: unknown columns {', '.join(repr(c) for c in unknown)}; "
            f"the template has {', '.join(ARTICLE_CSV_HEADER)}",
        )
        return
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        yield ArticleResult(1, error=f"line 1: repeated columns {', '.join(duplicated)}")
        return
    if "title" not in columns and "doi" not in columns:
        yield ArticleResult(1, error="line 1: the header needs a title or a doi column")
        return
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield ArticleResult(reader.line_num, error=f"line {reader.line_num}: {exc}")
            return
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(columns):
            yield ArticleResult(
                line,
                error=f"line {line}: {len(values)} fields, the header has {len(columns)}",
            )
            continue
        row = dict(zip(columns, values, strict=True))
        yield _guarded(line, lambda row=row, line=line: _csv_row(line, row))


def article_csv_row(article: ArticleData) -> dict[str, str]:
    """An article as a row of the template (for writing with csv.DictWriter)."""
    out = {}
    for column in ARTICLE_CSV_HEADER:
        value = getattr(article, column)
        if column == "authors":
            value = "; ".join(article.authors)
        out[column] = "" if value is None else str(value)
    return out


# --- any of them ----------------------------------------------------------------------------


def read_articles(data: bytes | str) -> Iterator[ArticleResult]:
    """Articles from data in any of the formats, recognised by their content: JSON (Crossref),
    XML (JATS or PubMed) or the CSV template."""
    raw = _as_bytes(data)
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head in (b"{", b"["):
        yield from read_crossref(raw)
    elif head == b"<":
        if b"<PubmedArticle" in raw[:5000]:
            yield from read_pubmed(raw)
        else:
            yield from read_jats(raw)
    else:
        yield from read_article_csv(raw)


def read_article_file(path: Path) -> Iterator[ArticleResult]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        yield ArticleResult(0, error=f"unreadable file: {exc}")
        return
    yield from read_articles(data)


# --- keys -----------------------------------------------------------------------------------


def _page_key(page: str) -> str:
    page = fold_text(page).replace(" ", "")
    return page.lstrip("0") or page


def _volume_key(volume: str) -> str:
    return volume_key(volume) if volume else ""


def journal_keys(article: ArticleData) -> tuple[str, ...]:
    """Every key that can attach the article to its journal: each ISSN, then the title."""
    keys = [f"issn:{i}" for i in (article.issn_print, article.issn_electronic) if i]
    if article.journal_title and (key := title_key(article.journal_title)):
        keys.append(f"journal:{key}")
    return tuple(dict.fromkeys(keys))


def journal_key(article: ArticleData) -> str:
    """The key that attaches an article to its journal: an ISSN (print, else electronic), else
    the normalised journal title; "" when there is neither. A journal record keyed by all its
    ISSNs (print and electronic, as an ISSN-L groups them) finds articles keyed by either."""
    keys = journal_keys(article)
    return keys[0] if keys else ""


def citation_keys(article: ArticleData) -> tuple[str, ...]:
    """Every key a citation of this article may be matched on, best first: the DOI; each
    ISSN with the volume and first page (or article number); the title with the year."""
    keys = []
    if article.doi:
        keys.append(f"doi:{article.doi.lower()}")
    page = _page_key(article.first_page or article.article_number)
    volume = _volume_key(article.volume)
    if page and volume:
        for issn in (article.issn_print, article.issn_electronic):
            if issn:
                keys.append(f"issn:{issn}|v:{volume}|p:{page}")
    if article.title and article.year and (title := title_key(article.title)):
        keys.append(f"title:{title}|y:{article.year}")
    return tuple(dict.fromkeys(keys))


def citation_key(article: ArticleData) -> str:
    """The key to match a reader's citation to an article: the DOI; else ISSN + volume + first
    page; else normalised title + year; "" when there is none of them."""
    keys = citation_keys(article)
    return keys[0] if keys else ""


def same_article(a: ArticleData, b: ArticleData) -> bool:
    """Whether two records (say a reader's citation and a Crossref work) are the same article:
    by DOI when both have one, else by any shared key."""
    if a.doi and b.doi:
        return a.doi.lower() == b.doi.lower()
    return bool(set(citation_keys(a)) & set(citation_keys(b)))
