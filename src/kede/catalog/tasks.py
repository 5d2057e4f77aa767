"""Background work for the union catalogue."""

from __future__ import annotations

from django_tasks import task


@task()
def reindex_works(updated: list[int], removed: list[int]) -> int:
    """Write works to the search index (when the process that changed them found it busy)."""
    from kede.catalog import indexing

    indexing.reindex_on_commit(set(updated), set(removed))
    return len(updated) + len(removed)
