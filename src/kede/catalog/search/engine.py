"""The one interface behind which catalogue search runs, whichever engine does the work.

Two engines implement `SearchEngine`:

- `TantivyEngine` (tantivy_engine.py), the embedded default: an index in a directory.
- `PostgresEngine` (pg_engine.py), at scale: a table in the catalogue's own database.

Both index the same pre-tokenised text (analysis.py), so they match the same documents; their
scores differ (BM25 against PostgreSQL's cover density) but both put title matches above author
matches above the rest. Pure: no Django; callers pass in paths and connections.

Writes (`index`, `delete`, `clear`) become visible to `search` and `count` after `commit()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, runtime_checkable

from kede.catalog.search import analysis

FACETS = ("format", "language", "decade", "holders", "regions")
SORTS = ("relevance", "year")
MAX_LIMIT = 1000
MAX_WINDOW = 10_000  # offset + limit: deep paging is for harvesting, which has OAI-PMH
MAX_FACET_LIMIT = 1000

# Ranking favours title > author > subject > publisher. Tantivy multiplies each field's BM25
# by these; PostgreSQL puts the fields in weight classes A, B, C, D (1.0, 0.4, 0.2, 0.1).
FIELD_BOOSTS = {"title": 4.0, "author": 2.0, "subject": 1.0, "publisher": 0.5}
FIELD_WEIGHT_CLASS = {"title": "A", "author": "B", "subject": "C", "publisher": "D"}
FIELD_GAP = 100  # positions between fields in the combined text: no phrase spans two


class SearchError(Exception):
    """Base of every search error."""


class QueryError(SearchError, ValueError):
    """A `Query` that cannot be run (a bad limit, an unknown facet or sort). Readers' query
    text never causes one: what it gets wrong is reported in `Results.problems`."""


class IndexLocked(SearchError):
    """Another process holds the index's writer lock."""


@dataclass(frozen=True)
class SearchDoc:
    """One work as the search index sees it.

    `identifiers`: ISBN, ISSN, LCCN, OCLC numbers, best written "isbn:…", "issn:…", "lccn:…",
    "oclc:…" (see `analysis.document_identifier_keys`); they are matched exactly, never as
    words. `holders`: codes of the institutions that hold the work; `regions`: the codes of
    their regions (city, province… whatever levels the consortium uses), so results can be
    shown at each level. `holder_count` defaults to the number of distinct holders."""

    work_id: int
    title: str
    alt_titles: Sequence[str] = ()  # other titles and 880 original-script forms
    authors: Sequence[str] = ()
    publisher: str = ""
    subjects: Sequence[str] = ()
    identifiers: Sequence[str] = ()
    year: int | None = None
    format: str = ""
    language: str = ""
    holders: Sequence[str] = ()
    regions: Sequence[str] = ()
    holder_count: int | None = None

    @property
    def holders_total(self) -> int:
        return self.holder_count if self.holder_count is not None else len(set(self.holders))

    @property
    def year_value(self) -> int | None:
        """The year if it is one a catalogue could mean, else None."""
        return self.year if self.year is not None and -9999 <= self.year <= 9999 else None


@dataclass(frozen=True)
class Filters:
    """Restrictions on the result set. Values inside one filter are alternatives (any of these
    formats); different filters must all hold. `held_by`: held by any of these institutions;
    `regions`: held somewhere in any of these regions."""

    formats: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    held_by: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Query:
    """A search. Empty `text` lists everything the filters allow, most-held first.
    `sort`: "relevance" (best match first) or "year" (newest first, undated last).
    `facets`: which of FACETS to count over the whole filtered result set, up to
    `facet_limit` values each, most frequent first. `highlight`: fill `Hit.title_html`."""

    text: str = ""
    filters: Filters = field(default_factory=Filters)
    facets: tuple[str, ...] = ()
    facet_limit: int = 20
    limit: int = 20
    offset: int = 0
    sort: Literal["relevance", "year"] = "relevance"
    highlight: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise QueryError(f"text must be a string, not {type(self.text).__name__}")
        # Filter values as the engines store them (no NULs, cut at 100 characters), as tuples.
        f = self.filters
        object.__setattr__(
            self,
            "filters",
            replace(
                f,
                formats=_codes(f.formats),
                languages=_codes(f.languages),
                held_by=_codes(f.held_by),
                regions=_codes(f.regions),
            ),
        )
        object.__setattr__(self, "facets", tuple(self.facets))
        if not 0 <= self.limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 0 and {MAX_LIMIT}, not {self.limit}")
        if self.offset < 0:
            raise QueryError(f"offset must not be negative ({self.offset})")
        if self.offset + self.limit > MAX_WINDOW:
            raise QueryError(
                f"offset + limit must be at most {MAX_WINDOW} ({self.offset} + {self.limit})"
            )
        if self.sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}, not {self.sort!r}")
        unknown = [name for name in self.facets if name not in FACETS]
        if unknown:
            raise QueryError(f"unknown facet {unknown[0]!r}; the facets are {', '.join(FACETS)}")
        if not 1 <= self.facet_limit <= MAX_FACET_LIMIT:
            raise QueryError(
                f"facet_limit must be between 1 and {MAX_FACET_LIMIT}, not {self.facet_limit}"
            )
        f = self.filters
        if f.year_from is not None and f.year_to is not None and f.year_from > f.year_to:
            raise QueryError(f"year_from {f.year_from} is after year_to {f.year_to}")

    def parsed(self) -> analysis.ParsedQuery:
        return analysis.parse_query(self.text)


@dataclass(frozen=True)
class Hit:
    """`score`: the engine's relevance score (0.0 when the results are not ranked by
    relevance: empty query or sort by year). `title_html`: the title as escaped HTML with the
    matching words in <mark>, when the query asked for highlighting."""

    work_id: int
    score: float
    title_html: str | None = None


@dataclass(frozen=True)
class Results:
    """`total`: how many documents match (at least that many when `total_exact` is False).
    `facets`: name -> [(value, count)], most frequent first. `problems`: what could not be
    understood in the query text, for showing to the reader."""

    total: int
    hits: list[Hit]
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    total_exact: bool = True
    facets_exact: bool = True


@runtime_checkable
class SearchEngine(Protocol):
    """What every search engine offers. One writer at a time (one thread, one process: see
    tantivy_engine); a TantivyEngine may be searched from many threads at once, a
    PostgresEngine from the one thread that owns its connection."""

    def index(self, docs: Iterable[SearchDoc]) -> int:
        """Add or replace (by work_id) these documents; returns how many."""
        ...

    def delete(self, work_ids: Iterable[int]) -> None:
        """Remove these works; unknown ids are ignored."""
        ...

    def commit(self) -> None:
        """Make the writes so far durable and visible to searches."""
        ...

    def clear(self) -> None:
        """Remove every document."""
        ...

    def count(self) -> int:
        """How many documents are searchable."""
        ...

    def search(self, query: Query) -> Results: ...

    def close(self) -> None:
        """Release the writer and any other resources."""
        ...


# --- helpers shared by the engines -------------------------------------------------------------


@dataclass(frozen=True)
class PreparedDoc:
    """A SearchDoc analysed once, ready for either engine."""

    work_id: int
    title: str  # for display and highlighting
    title_length: int  # tokens in the main title, for engines that normalise by it
    fields: dict[str, list[analysis.Token]]  # title, author, subject, publisher
    identifier_keys: list[str]
    year: int | None
    format: str
    language: str
    holders: list[str]
    regions: list[str]
    holder_count: int


def prepare(doc: SearchDoc) -> PreparedDoc:
    if not isinstance(doc.work_id, int) or isinstance(doc.work_id, bool) or doc.work_id < 0:
        raise SearchError(f"work_id must be a non-negative integer, not {doc.work_id!r}")
    return PreparedDoc(
        work_id=doc.work_id,
        title=analysis.clean_display(doc.title),
        title_length=analysis.title_length(doc.title),
        fields={
            "title": analysis.document_tokens([doc.title, *doc.alt_titles]),
            "author": analysis.document_tokens(doc.authors),
            "subject": analysis.document_tokens(doc.subjects),
            "publisher": analysis.document_tokens([doc.publisher]),
        },
        identifier_keys=analysis.document_identifier_keys(doc.identifiers),
        year=doc.year_value,
        format=analysis.clean_display(doc.format, 100),
        language=analysis.clean_display(doc.language, 100),
        holders=list(_codes(doc.holders)),
        regions=list(_codes(doc.regions)),
        holder_count=max(0, doc.holders_total),
    )


def _codes(values: Iterable[str]) -> tuple[str, ...]:
    cleaned = (
        v
        if isinstance(v, str) and v.isascii() and len(v) <= 100 and "\x00" not in v
        else analysis.clean_display(str(v), 100)
        for v in values
    )
    return tuple(dict.fromkeys(v for v in cleaned if v))


def combined_tokens(
    fields: dict[str, list[analysis.Token]],
) -> list[tuple[str, analysis.Token]]:
    """All of a document's text as one field, as (field name, token) with positions counted
    through the fields in TEXT_FIELDS order, FIELD_GAP apart; in position order."""
    out: list[tuple[str, analysis.Token]] = []
    base = 0
    for name in analysis.TEXT_FIELDS:
        tokens = fields.get(name) or []
        if not tokens:
            continue
        last = 0
        for token in tokens:
            out.append((name, token._replace(position=base + token.position)))
            last = max(last, token.position)
        base += last + 1 + FIELD_GAP
    out.sort(key=lambda pair: pair[1].position)
    return out


def sort_facet(values: Iterable[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    """Most frequent first, then by value, at most `limit`."""
    return sorted(((v, c) for v, c in values if c > 0), key=lambda vc: (-vc[1], vc[0]))[:limit]
