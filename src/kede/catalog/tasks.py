"""Background work for the union catalogue."""

from __future__ import annotations

from django_tasks import task


@task()
def catch_up_index() -> int:
    """Write to the search index the works its backlog names: those whose process found the
    index busy, or died between its commit and the index write (periodic, and at start)."""
    from kede.catalog import indexing

    return indexing.catch_up(hand_to_worker=False)


@task()
def catch_up_article_index() -> int:
    """Write to the article search index the articles its backlog names (periodic, and at
    start; see `kede.catalog.article_index`)."""
    from kede.catalog import article_index

    return article_index.catch_up(hand_to_worker=False)


@task()
def attach_waiting_articles() -> int:
    """Attach the articles still waiting for their journal to journals that have arrived in
    the catalogue since (periodic; one cheap query when no article waits)."""
    from kede.catalog.article_services import articles_attach_waiting

    return articles_attach_waiting()


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


@task()
def resume_stalled_loads() -> list[int]:
    """Queue again the uploads whose worker died mid-load (periodic)."""
    from kede.catalog.services import resume_stalled_loads as resume

    return resume()
