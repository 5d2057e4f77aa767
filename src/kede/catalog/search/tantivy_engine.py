"""The embedded search engine: a Tantivy index (tantivy-py) in a directory of its own.

Schema. Text fields `title` (with alternative and 880 original-script titles), `author`,
`subject`, `publisher` receive text pre-tokenised by `analysis` (positions included), so
Tantivy's own analyzers never run on them; their tokenizer is the whitespace one, which only
matters to anyone poking at the index with Tantivy's query parser. `ident` holds identifier keys
("isbn:978…"), one raw term each. `format`, `language`, `holders`, `regions` are raw,
fast (columnar) text fields: filtered with term-set queries and counted with terms
aggregations. `year` and `holder_count` are fast integer fields (range filter, decade histogram,
sorting). `work_id` is an indexed, fast and stored integer: the upsert key and what a hit
returns. `display` stores the title for highlighting.

Ranking is BM25 per field, boosted (engine.FIELD_BOOSTS: title > author > subject >
publisher); every query clause must match in some field (a `title:`/`author:`… clause in that
one); filters add no score. (Measured: one `all` field holding every field's tokens, matched
first with the per-field scores as optional extras, was faster at the median but slower in the
tail for frequent words, and made the index bigger.)

Processes. Any number of processes may open the same directory and search: each search uses
the last committed state, and readers reload by themselves shortly after another process
commits. Only one `IndexWriter` may exist per directory at a time; Tantivy enforces this with a
lock file and a second writer gets `IndexLocked`. So writes go through one process: the task
worker (django-tasks) runs the indexing tasks, and web processes open the index only to
search. The writer is taken lazily on the first write and released by `close()`; batches are
buffered in the writer's memory (`heap_size`) and flushed to segments as it fills, and
nothing is visible until `commit()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tantivy

from kede.catalog.search import analysis
from kede.catalog.search.analysis import IdentifierClause, TermClause
from kede.catalog.search.engine import (
    FIELD_BOOSTS,
    Hit,
    IndexLocked,
    PreparedDoc,
    Query,
    Results,
    SearchDoc,
    SearchError,
    prepare,
    sort_facet,
)

_TEXT_FIELDS = analysis.TEXT_FIELDS
_KEYWORD_FACETS = {
    "format": "format",
    "language": "language",
    "holders": "holders",
    "regions": "regions",
}
_Should, _Must = tantivy.Occur.Should, tantivy.Occur.Must


def _by_position(token: analysis.Token) -> int:
    return token.position


def _add_tokens(doc: tantivy.Document, name: str, tokens: list[analysis.Token]) -> None:
    """Pre-tokenised text; Tantivy wants positions in order (a joined form "obrien" comes
    after "o brien" from the analyser but sits at the position of "o")."""
    doc.add_pre_tokenized_text(
        name,
        tantivy.PreTokenizedString(
            "", [tantivy.Token(t.text, t.position, t.start, t.end) for t in tokens]
        ),
    )


def build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("work_id", stored=True, indexed=True, fast=True)
    for name in _TEXT_FIELDS:
        sb.add_text_field(name, tokenizer_name="whitespace", index_option="position")
    sb.add_text_field("ident", tokenizer_name="raw", index_option="basic")
    for name in _KEYWORD_FACETS.values():
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic", fast=True)
    sb.add_integer_field("year", indexed=True, fast=True)
    sb.add_integer_field("holder_count", indexed=True, fast=True)
    sb.add_bytes_field("display", stored=True)
    return sb.build()


class TantivyEngine:
    """A Tantivy index at `path` (created when missing), or in memory when `path` is None."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        heap_size: int = 128_000_000,
        writer_threads: int = 0,
    ) -> None:
        self.schema = build_schema()
        self.path = Path(path) if path is not None else None
        self._heap_size = heap_size
        self._writer_threads = writer_threads
        try:
            if self.path is None:
                self._index = tantivy.Index(self.schema)
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                self._index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        except ValueError as exc:
            raise SearchError(
                f"cannot open the search index in {self.path}: {exc}. If the schema changed, "
                "remove the directory and reindex."
            ) from exc
        self._index.config_reader(reload_policy="commit")
        self._writer: Any = None

    # --- writing ------------------------------------------------------------------------------

    def _get_writer(self) -> Any:
        if self._writer is None:
            try:
                self._writer = self._index.writer(self._heap_size, self._writer_threads)
            except ValueError as exc:
                raise IndexLocked(
                    f"the search index in {self.path} is being written by another process "
                    "(only the task worker should write to it)"
                ) from exc
        return self._writer

    def index(self, docs: Iterable[SearchDoc]) -> int:
        writer = self._get_writer()
        n = 0
        for doc in docs:
            prepared = prepare(doc)
            writer.delete_documents_by_term("work_id", prepared.work_id)
            writer.add_document(self._document(prepared))
            n += 1
        return n

    def _document(self, doc: PreparedDoc) -> tantivy.Document:
        d = tantivy.Document()
        d.add_integer("work_id", doc.work_id)
        for name, tokens in doc.fields.items():
            if tokens:
                _add_tokens(d, name, sorted(tokens, key=_by_position))
        for key in doc.identifier_keys:
            d.add_text("ident", key)
        if doc.format:
            d.add_text("format", doc.format)
        if doc.language:
            d.add_text("language", doc.language)
        for code in doc.holders:
            d.add_text("holders", code)
        for code in doc.regions:
            d.add_text("regions", code)
        if doc.year is not None:
            d.add_integer("year", doc.year)
        d.add_integer("holder_count", doc.holder_count)
        d.add_bytes("display", doc.title.encode("utf-8"))
        return d

    def delete(self, work_ids: Iterable[int]) -> None:
        writer = self._get_writer()
        for work_id in work_ids:
            writer.delete_documents_by_term("work_id", int(work_id))

    def clear(self) -> None:
        self._get_writer().delete_all_documents()

    def commit(self) -> None:
        if self._writer is not None:
            self._writer.commit()
        self._index.reload()

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.rollback()  # anything not committed is dropped, as a closed transaction
            writer.wait_merging_threads()  # and the lock is released

    def count(self) -> int:
        return self._index.searcher().num_docs

    # --- searching ----------------------------------------------------------------------------

    def search(self, query: Query) -> Results:
        parsed = query.parsed()
        if parsed.unsatisfiable:
            return Results(0, [], {name: [] for name in query.facets}, parsed.problems)
        text_query = self._text_query(parsed.clauses)
        filters = self._filters(query)
        parts = [(_Must, text_query)] if text_query is not None else []
        parts += [(_Must, tantivy.Query.const_score_query(f, 0.0)) for f in filters]
        if not parts:
            tq = tantivy.Query.all_query()
        elif len(parts) == 1 and text_query is not None:
            tq = text_query
        else:
            tq = tantivy.Query.boolean_query(parts)
        searcher = self._index.searcher()
        ranked = query.sort == "relevance" and text_query is not None
        kwargs: dict[str, Any] = {"count": True, "offset": query.offset}
        if query.sort == "year":
            kwargs.update(order_by_field="year", order=tantivy.Order.Desc)
        elif not ranked:
            kwargs.update(order_by_field="holder_count", order=tantivy.Order.Desc)
        result = searcher.search(tq, max(query.limit, 1), **kwargs)
        raw_hits = result.hits[: query.limit]
        addresses = [address for _, address in raw_hits]
        ids = searcher.fast_field_values("work_id", addresses) if addresses else []
        hits: list[Hit] = []
        for (score, address), work_id in zip(raw_hits, ids, strict=True):
            title_html = None
            if query.highlight:
                stored = searcher.doc(address).get_first("display") or b""
                title_html = analysis.highlight(stored.decode("utf-8"), parsed.highlight_terms)
            hits.append(Hit(int(work_id), float(score) if ranked else 0.0, title_html))
        facets, exact = self._facets(searcher, tq, query) if query.facets else ({}, True)
        return Results(result.count, hits, facets, parsed.problems, True, exact)

    def _text_query(self, clauses: tuple[analysis.Clause, ...]) -> tantivy.Query | None:
        subqueries = [self._clause(c) for c in clauses]
        if not subqueries:
            return None
        if len(subqueries) == 1:
            return subqueries[0]
        return tantivy.Query.boolean_query([(_Must, q) for q in subqueries])

    def _clause(self, clause: analysis.Clause) -> tantivy.Query:
        """One clause: its term or phrase in any text field, each field's BM25 boosted."""
        if isinstance(clause, IdentifierClause):
            return tantivy.Query.term_query(self.schema, "ident", clause.key)
        per_field = []
        for name in (clause.field,) if clause.field else _TEXT_FIELDS:
            if isinstance(clause, TermClause):
                q = tantivy.Query.term_query(self.schema, name, clause.token)
            else:
                q = tantivy.Query.phrase_query(self.schema, name, list(clause.tokens))
            per_field.append(tantivy.Query.boost_query(q, FIELD_BOOSTS[name]))
        if len(per_field) == 1:
            return per_field[0]
        return tantivy.Query.boolean_query([(_Should, q) for q in per_field])

    def _filters(self, query: Query) -> list[tantivy.Query]:
        f = query.filters
        out = []
        for name, values in (
            ("format", f.formats),
            ("language", f.languages),
            ("holders", f.held_by),
            ("regions", f.regions),
        ):
            if values:
                out.append(tantivy.Query.term_set_query(self.schema, name, list(values)))
        if f.year_from is not None or f.year_to is not None:
            out.append(
                tantivy.Query.range_query(
                    self.schema,
                    "year",
                    tantivy.FieldType.Integer,
                    f.year_from if f.year_from is not None else -(2**62),
                    f.year_to if f.year_to is not None else 2**62,
                )
            )
        return out

    def _facets(
        self, searcher: tantivy.Searcher, tq: tantivy.Query, query: Query
    ) -> tuple[dict[str, list[tuple[str, int]]], bool]:
        # Ask for more than shown so that values tied at the cut are ordered as PostgreSQL
        # orders them (count, then value); per-segment candidate lists are long enough for
        # exact counts up to a few thousand distinct values.
        size = query.facet_limit * 2 + 10
        aggs: dict[str, Any] = {}
        for name in query.facets:
            if name == "decade":
                aggs[name] = {"histogram": {"field": "year", "interval": 10, "min_doc_count": 1}}
            else:
                aggs[name] = {
                    "terms": {
                        "field": _KEYWORD_FACETS[name],
                        "size": size,
                        "segment_size": max(size * 10, 5000),
                    }
                }
        raw = searcher.aggregate(tq, aggs)
        facets: dict[str, list[tuple[str, int]]] = {}
        exact = True
        for name in query.facets:
            result = raw.get(name, {})
            if name == "decade":
                values = [
                    (str(int(b["key"])), int(b["doc_count"])) for b in result.get("buckets", [])
                ]
            else:
                values = [(str(b["key"]), int(b["doc_count"])) for b in result.get("buckets", [])]
                if result.get("doc_count_error_upper_bound"):
                    exact = False
            facets[name] = sort_facet(values, query.facet_limit)
        return facets, exact
