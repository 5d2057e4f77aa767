"""Catalogue search behind one interface (`engine.SearchEngine`) with two engines: Tantivy,
embedded, the default (`tantivy_engine.TantivyEngine`), and PostgreSQL at scale
(`pg_engine.PostgresEngine`). Text is analysed once, the same way for both (`analysis`).
Pure: no Django; the Django layer passes in an index directory or `django.db.connection`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kede.catalog.search.engine import (
    FACETS,
    Filters,
    Hit,
    IndexLocked,
    Query,
    QueryError,
    Results,
    SearchDoc,
    SearchEngine,
    SearchError,
)

ENGINES = ("tantivy", "postgres")


def open_engine(
    kind: str, *, path: str | Path | None = None, connection: Any = None, **options: Any
) -> SearchEngine:
    """The engine named `kind`: "tantivy" (an index in directory `path`) or "postgres" (a
    table reached through `connection`; call `ensure_schema()` once, e.g. from a migration or
    the rebuild command). `options` go to the engine's constructor."""
    if kind == "tantivy":
        from kede.catalog.search.tantivy_engine import TantivyEngine

        return TantivyEngine(path, **options)
    if kind == "postgres":
        if connection is None:
            raise SearchError("the postgres search engine needs a database connection")
        from kede.catalog.search.pg_engine import PostgresEngine

        return PostgresEngine(connection, **options)
    raise SearchError(f"unknown search engine {kind!r}; the engines are {', '.join(ENGINES)}")


__all__ = [
    "ENGINES",
    "FACETS",
    "Filters",
    "Hit",
    "IndexLocked",
    "Query",
    "QueryError",
    "Results",
    "SearchDoc",
    "SearchEngine",
    "SearchError",
    "open_engine",
]
