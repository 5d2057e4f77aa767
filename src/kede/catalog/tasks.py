"""Background work for the union catalogue."""

from __future__ import annotations

from django_tasks import task


@task()
def reindex_works(updated: list[int], removed: list[int]) -> int:
    """Write works to the search index (when the process that changed them found it busy)."""
    from kede.catalog import indexing

    indexing.reindex_on_commit(set(updated), set(removed))
    return len(updated) + len(removed)


@task()
def load_upload(run_id: int) -> str:
    """Load a member's uploaded file (queued by the catalogue page)."""
    from kede.catalog.services import catalogue_load_queued

    run = catalogue_load_queued(run_id=run_id)
    return "already taken" if run is None else run.status


@task()
def harvest_sources() -> dict[str, str]:
    """Harvest every active OAI-PMH source (periodic). A source another process is harvesting
    is skipped, so two schedulers do no harm."""
    from kede.catalog.services import catalogue_harvest_due

    return catalogue_harvest_due()
