"""Search in PostgreSQL, for catalogues too big or too busy for the embedded index.

One table, created by `ensure_schema()` (idempotent), one row per work:

- `tsv`, a tsvector written directly from `analysis`'s tokens: lexemes with their positions and
  a weight class per field (title A, author B, subject C, publisher D). It is built here rather
  than by `to_tsvector('simple', …)` because PostgreSQL's parser would cut the tokens again by
  its own rules (which depend on the server's locale) and number positions its own way; the
  literal keeps exactly the tokens and positions Tantivy gets, so both engines match the same
  documents, phrases included.
- `identifiers` (text[], exact keys such as "isbn:978…"), `holders` and `regions` (text[]) with
  GIN indexes; `year`, `format`, `language`, `holder_count` with b-trees.

Ranking is `ts_rank_cd` with the default weights {D 0.1, C 0.2, B 0.4, A 1.0}, divided by
1 + ln(1 + words in the main title) (`title_len`), so "War and peace" comes before "War and peace
in the Middle East". PostgreSQL's own length normalisation counts every field, and would put a
well-catalogued record (authors, subjects) below a bare one; BM25 in Tantivy normalises each
field by its own length, which this approximates for the field that matters most.

The text index is RUM when the `rum` extension is there (Debian: postgresql-15-rum; the
extension is created if the package is installed and the role may), GIN otherwise; which one
the table has is read from the catalogue at run time (`uses_rum`). With GIN every match is
ranked, which is slow when a query matches hundreds of thousands of rows. With RUM, a query
that matches more than `exact_rank_limit` rows is ranked on the best `rum_candidates` rows that
RUM's index-ordered scan returns (`ORDER BY tsv <=> query`); RUM's own distance knows nothing of
document length, so those candidates are then re-ranked by `ts_rank_cd` as above. (So for a
broad query the order is exact only within the candidates, and pages past `rum_candidates` are
ranked the slow, exact way.) RUM still computes its distance for every matching entry: a word
in most titles costs tens of milliseconds even so; bench/search_speed.py measures it.

Counting is bounded: `total` and the facets are counted on at most `count_limit` + 1 matching
rows, in one pass; beyond that `Results.total_exact` and `facets_exact` are False and the facets
are those of the rows counted (PostgreSQL has no cheap way to count a large match set: every
matching row is visited).

The engine takes a DB-API connection (psycopg, or Django's `connection`) and uses it from one
thread. In autocommit mode writes are visible at once; otherwise `commit()` commits them, and
inside a Django `atomic` block it leaves the commit to the block.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from kede.catalog.search import analysis
from kede.catalog.search.analysis import IdentifierClause, PhraseClause, TermClause
from kede.catalog.search.engine import (
    FIELD_WEIGHT_CLASS,
    Hit,
    Query,
    Results,
    SearchDoc,
    SearchError,
    combined_tokens,
    prepare,
    sort_facet,
)

# SQL is assembled from the table name (checked against _NAME, then double-quoted), fixed
# fragments and placeholders; every value is a bound parameter (hence the `noqa: S608`s).
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")
_MAX_POSITION = 16383  # PostgreSQL's largest tsvector position
_MAX_POSITIONS_PER_LEXEME = 256
_RANK = "ts_rank_cd(tsv, {q}) / (1 + ln(1 + title_len))"
_BATCH = 500


def _quote_lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(fields: dict[str, list[analysis.Token]]) -> str:
    """The tsvector, as text, for a document's analysed fields."""
    positions: dict[str, list[str]] = {}
    seen: set[tuple[str, int]] = set()
    for name, token in combined_tokens(fields):
        position = min(token.position + 1, _MAX_POSITION)  # PostgreSQL counts from 1
        if (token.text, position) in seen:
            continue
        seen.add((token.text, position))
        entry = positions.setdefault(token.text, [])
        if len(entry) < _MAX_POSITIONS_PER_LEXEME:
            entry.append(f"{position}{FIELD_WEIGHT_CLASS[name]}")
    return " ".join(f"{_quote_lexeme(t)}:{','.join(p)}" for t, p in positions.items())


def tsquery_literal(clauses: Iterable[analysis.Clause]) -> str | None:
    """The tsquery, as text, for the text clauses of a parsed query (None when there are
    none): every clause must match; a field restricts the clause to its weight class."""
    parts: list[str] = []
    for clause in clauses:
        if isinstance(clause, TermClause):
            parts.append(_lexeme(clause.token, clause.field))
        elif isinstance(clause, PhraseClause):
            pieces = [_lexeme(clause.tokens[0][1], clause.field)]
            for (before, _), (position, token) in zip(
                clause.tokens, clause.tokens[1:], strict=False
            ):
                distance = position - before
                operator = "<->" if distance == 1 else f"<{distance}>"
                pieces.append(f"{operator} {_lexeme(token, clause.field)}")
            parts.append("(" + " ".join(pieces) + ")")
    return " & ".join(parts) if parts else None


def _lexeme(token: str, field_name: str | None) -> str:
    quoted = _quote_lexeme(token)
    return f"{quoted}:{FIELD_WEIGHT_CLASS[field_name]}" if field_name else quoted


class PostgresEngine:
    """Search over table `table` (in `schema`, else the connection's search path)."""

    def __init__(
        self,
        connection: Any,
        *,
        table: str = "kede_search",
        schema: str | None = None,
        count_limit: int = 10_000,
        exact_rank_limit: int = 2_000,
        rum_candidates: int = 500,
    ) -> None:
        for name in (table, schema):
            if name is not None and not _NAME.match(name):
                raise SearchError(f"not a usable table or schema name: {name!r}")
        self.connection = connection
        self.schema = schema
        self.table_name = table
        self.table = f'"{schema}"."{table}"' if schema else f'"{table}"'
        self.count_limit = count_limit
        self.exact_rank_limit = exact_rank_limit
        self.rum_candidates = rum_candidates
        self.uses_rum: bool | None = None  # known after ensure_schema() or the first search

    # --- connection helpers -------------------------------------------------------------------

    def _autocommit(self) -> bool:
        conn = self.connection
        if getattr(conn, "in_atomic_block", False):
            return False
        getter = getattr(conn, "get_autocommit", None)  # Django
        if callable(getter):
            return bool(getter())
        return bool(getattr(conn, "autocommit", False))  # psycopg

    def _fetch(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cur:
            cur.execute(sql, list(params))
            return list(cur.fetchall()) if cur.description else []

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> None:
        with self.connection.cursor() as cur:
            cur.execute(sql, list(params))

    def _attempt(self, sql: str) -> bool:
        """Run `sql`; on failure undo just it (a savepoint outside autocommit) and say so."""
        if self._autocommit():
            try:
                self._execute(sql)
            except Exception:
                return False
            return True
        self._execute("SAVEPOINT kede_search_attempt")
        try:
            self._execute(sql)
        except Exception:
            self._execute("ROLLBACK TO SAVEPOINT kede_search_attempt")
            return False
        self._execute("RELEASE SAVEPOINT kede_search_attempt")
        return True

    # --- schema -------------------------------------------------------------------------------

    def rum_available(self) -> bool:
        """Whether the `rum` extension is created in this database."""
        return bool(
            self._fetch("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'rum')")[0][0]
        )

    def _try_create_rum(self) -> bool:
        if self.rum_available():
            return True
        installable = self._fetch(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'rum')"
        )[0][0]
        return bool(installable) and self._attempt("CREATE EXTENSION IF NOT EXISTS rum")

    def ensure_schema(self, *, use_rum: bool | None = None) -> None:
        """Create the table and its indexes if missing. `use_rum`: None = RUM when it can be
        had, else GIN; False = GIN. An existing text index is kept as it is."""
        t, n = self.table, self.table_name
        if self.schema:
            self._execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        self._execute(
            f"""CREATE TABLE IF NOT EXISTS {t} (
                work_id bigint PRIMARY KEY,
                title text NOT NULL DEFAULT '',
                tsv tsvector NOT NULL DEFAULT ''::tsvector,
                identifiers text[] NOT NULL DEFAULT '{{}}',
                year integer,
                format text NOT NULL DEFAULT '',
                language text NOT NULL DEFAULT '',
                holders text[] NOT NULL DEFAULT '{{}}',
                regions text[] NOT NULL DEFAULT '{{}}',
                holder_count integer NOT NULL DEFAULT 0,
                title_len integer NOT NULL DEFAULT 0
            )"""
        )
        if self._text_index_method() is None:
            rum = use_rum is not False and self._try_create_rum()
            method = "rum (tsv rum_tsvector_ops)" if rum else "gin (tsv)"
            self._execute(f'CREATE INDEX IF NOT EXISTS "{n}_tsv" ON {t} USING {method}')
        for suffix, definition in (
            ("ids", "USING gin (identifiers)"),
            ("holders", "USING gin (holders)"),
            ("regions", "USING gin (regions)"),
            ("year", "(year)"),
            ("format", "(format)"),
            ("language", "(language)"),
            ("popular", "(holder_count DESC, work_id)"),
        ):
            self._execute(f'CREATE INDEX IF NOT EXISTS "{n}_{suffix}" ON {t} {definition}')
        self.uses_rum = self._text_index_method() == "rum"

    def _text_index_method(self) -> str | None:
        qualified = (
            f"{self.schema}.{self.table_name}_tsv" if self.schema else f"{self.table_name}_tsv"
        )
        rows = self._fetch(
            "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
            "WHERE c.oid = to_regclass(%s)",
            [qualified],
        )
        return rows[0][0] if rows else None

    def drop(self) -> None:
        """Remove the table (and its indexes)."""
        self._execute(f"DROP TABLE IF EXISTS {self.table}")

    # --- writing ------------------------------------------------------------------------------

    def index(self, docs: Iterable[SearchDoc]) -> int:
        sql = (
            f"INSERT INTO {self.table} (work_id, title, tsv, identifiers, year, format, "  # noqa: S608
            "language, holders, regions, holder_count, title_len) VALUES "
            "(%s, %s, %s::tsvector, %s::text[], %s, %s, %s, %s::text[], %s::text[], %s, %s) "
            "ON CONFLICT (work_id) DO UPDATE SET title = EXCLUDED.title, tsv = EXCLUDED.tsv, "
            "identifiers = EXCLUDED.identifiers, year = EXCLUDED.year, "
            "format = EXCLUDED.format, language = EXCLUDED.language, "
            "holders = EXCLUDED.holders, regions = EXCLUDED.regions, "
            "holder_count = EXCLUDED.holder_count, title_len = EXCLUDED.title_len"
        )
        n = 0
        for batch in _batches(docs, _BATCH):
            rows = []
            for doc in batch:
                p = prepare(doc)
                rows.append(
                    (
                        p.work_id,
                        p.title,
                        tsvector_literal(p.fields),
                        p.identifier_keys,
                        p.year,
                        p.format,
                        p.language,
                        p.holders,
                        p.regions,
                        p.holder_count,
                        p.title_length,
                    )
                )
            with self.connection.cursor() as cur:
                cur.executemany(sql, rows)
            n += len(rows)
        return n

    def delete(self, work_ids: Iterable[int]) -> None:
        ids = [int(i) for i in work_ids]
        if ids:
            self._execute(f"DELETE FROM {self.table} WHERE work_id = ANY(%s::bigint[])", [ids])  # noqa: S608

    def clear(self) -> None:
        self._execute(f"DELETE FROM {self.table}")  # noqa: S608

    def commit(self) -> None:
        if getattr(self.connection, "in_atomic_block", False):
            return  # Django's atomic block commits (or rolls back) as a whole
        if not self._autocommit():
            self.connection.commit()

    def close(self) -> None:
        """The connection belongs to the caller; nothing to release."""

    def count(self) -> int:
        return int(self._fetch(f"SELECT count(*) FROM {self.table}")[0][0])  # noqa: S608

    # --- searching ----------------------------------------------------------------------------

    def search(self, query: Query) -> Results:
        parsed = query.parsed()
        if parsed.unsatisfiable:
            return Results(0, [], {name: [] for name in query.facets}, parsed.problems)
        if self.uses_rum is None:
            self.uses_rum = self._text_index_method() == "rum"
        tsquery = tsquery_literal(parsed.clauses)
        where, params = self._where(query, parsed, tsquery)
        if query.facets:
            # One pass over the matching rows (at most count_limit + 1) counts both.
            total, exact_total, facets = self._count_and_facets(query, where, params)
        else:
            total, exact_total, facets = (*self._count(where, params), {})
        hits = (
            self._hits(query, parsed, tsquery, where, params, total, exact_total) if total else []
        )
        if not exact_total:
            total = max(total, query.offset + len(hits))
        return Results(total, hits, facets, parsed.problems, exact_total, exact_total)

    def _where(
        self, query: Query, parsed: analysis.ParsedQuery, tsquery: str | None
    ) -> tuple[str, list[Any]]:
        conditions: list[str] = []
        params: list[Any] = []
        if tsquery is not None:
            conditions.append("tsv @@ %s::tsquery")
            params.append(tsquery)
        keys = [c.key for c in parsed.clauses if isinstance(c, IdentifierClause)]
        if keys:
            conditions.append("identifiers @> %s::text[]")
            params.append(keys)
        f = query.filters
        if f.formats:
            conditions.append("format = ANY(%s::text[])")
            params.append(list(f.formats))
        if f.languages:
            conditions.append("language = ANY(%s::text[])")
            params.append(list(f.languages))
        if f.year_from is not None:
            conditions.append("year >= %s")
            params.append(_int4(f.year_from))
        if f.year_to is not None:
            conditions.append("year <= %s")
            params.append(_int4(f.year_to))
        if f.held_by:
            conditions.append("holders && %s::text[]")
            params.append(list(f.held_by))
        if f.regions:
            conditions.append("regions && %s::text[]")
            params.append(list(f.regions))
        return (" AND ".join(conditions) or "TRUE"), params

    def _count(self, where: str, params: list[Any]) -> tuple[int, bool]:
        rows = self._fetch(
            f"SELECT count(*) FROM (SELECT 1 FROM {self.table} WHERE {where} LIMIT %s) m",  # noqa: S608
            [*params, self.count_limit + 1],
        )
        total = int(rows[0][0])
        if total > self.count_limit:
            return self.count_limit, False
        return total, True

    def _hits(
        self,
        query: Query,
        parsed: analysis.ParsedQuery,
        tsquery: str | None,
        where: str,
        params: list[Any],
        total: int,
        exact_total: bool,
    ) -> list[Hit]:
        if query.limit == 0 or (exact_total and query.offset >= total):
            return []
        title = ", title" if query.highlight else ""
        ranked = tsquery is not None and query.sort == "relevance"
        rank = _RANK.format(q="%s::tsquery")
        score = rank if tsquery is not None and ranked else "0.0"
        score_params = [tsquery] if tsquery is not None and ranked else []
        if query.sort == "year":
            order = "year DESC NULLS LAST, work_id"
        elif ranked:
            order = "score DESC, work_id"
        else:
            order = "holder_count DESC, work_id"
        source, source_params = self.table, []
        window = query.offset + query.limit
        if (
            ranked
            and self.uses_rum
            and (not exact_total or total > self.exact_rank_limit)
            and window <= self.rum_candidates
        ):
            # Top-k from RUM's ordered scan, re-ranked below by ts_rank_cd.
            source = (
                f"(SELECT * FROM {self.table} WHERE {where} "  # noqa: S608
                "ORDER BY tsv <=> %s::tsquery LIMIT %s) candidates"
            )
            source_params = [*params, tsquery, self.rum_candidates]
        sql = (
            f"SELECT work_id, {score} AS score{title} FROM {source} "  # noqa: S608
            f"WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s"
        )
        rows = self._fetch(sql, [*score_params, *source_params, *params, query.limit, query.offset])
        hits = []
        for row in rows:
            title_html = (
                analysis.highlight(row[2], parsed.highlight_terms) if query.highlight else None
            )
            hits.append(Hit(int(row[0]), float(row[1]) if ranked else 0.0, title_html))
        return hits

    def _count_and_facets(
        self, query: Query, where: str, params: list[Any]
    ) -> tuple[int, bool, dict[str, list[tuple[str, int]]]]:
        parts = {
            "format": "SELECT 'format', format, count(*) FROM m WHERE format <> '' GROUP BY 2",
            "language": (
                "SELECT 'language', language, count(*) FROM m WHERE language <> '' GROUP BY 2"
            ),
            "decade": (
                "SELECT 'decade', (floor(year / 10.0) * 10)::bigint::text, count(*) FROM m "
                "WHERE year IS NOT NULL GROUP BY 2"
            ),
            "holders": "SELECT 'holders', h, count(*) FROM m, unnest(m.holders) h GROUP BY 2",
            "regions": "SELECT 'regions', r, count(*) FROM m, unnest(m.regions) r GROUP BY 2",
        }
        columns = {"format", "language", "year", "holders", "regions"} & {
            "year" if name == "decade" else name for name in query.facets
        }
        sql = (
            f"WITH m AS MATERIALIZED (SELECT {', '.join(sorted(columns))} "  # noqa: S608
            f"FROM {self.table} WHERE {where} LIMIT %s) "
            "SELECT '', '', count(*) FROM m UNION ALL "
            + " UNION ALL ".join(parts[name] for name in query.facets)
        )
        values: dict[str, list[tuple[str, int]]] = {name: [] for name in query.facets}
        total = 0
        for name, value, count in self._fetch(sql, [*params, self.count_limit + 1]):
            if name == "":
                total = int(count)
            else:
                values[name].append((str(value), int(count)))
        facets = {name: sort_facet(values[name], query.facet_limit) for name in query.facets}
        if total > self.count_limit:
            # Counted on the first count_limit + 1 rows: a sample, not the whole result.
            return self.count_limit, False, facets
        return total, True, facets


def _int4(value: int) -> int:
    return max(-(2**31), min(2**31 - 1, int(value)))


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
