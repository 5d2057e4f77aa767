"""The article index's backlog (a crash between the articles' commit and the Tantivy write is
caught up), and articles waiting for their journal attached when it arrives, by the worker."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from unittest import mock

import pytest
from django.db import connection

from kede.catalog import article_index, article_services, selectors
from kede.catalog.marc import BibRecord
from kede.catalog.models import Article, ArticleIndexBacklog, Holding, Work
from kede.catalog.services import catalog_load_records
from kede.catalog.tests.test_articles import needs_shared
from kede.catalog.tests.test_articles_store import ELIFE_ISSN, elife_files
from kede.core.runtime import PERIODIC, Scheduler, run_pending_tasks

pytestmark = [pytest.mark.django_db, needs_shared]


def elife_jats() -> list[tuple[str, bytes]]:
    """The eLife research articles of the real JATS set (one file each)."""
    return [(name, data) for name, data in elife_files() if ELIFE_ISSN.encode() in data]


def load(files: list[tuple[str, bytes]]) -> article_services.ArticleLoad:
    total = article_services.ArticleLoad()
    for name, data in files:
        total.add(article_services.articles_load(data=data, source_name=name))
    return total


def found(query: str) -> set[int]:
    return {hit.article.id for hit in selectors.articles_search(query, per_page=100).hits}


def add_journal(network, local_id: str = "elife", holder: str = "WHU", **bib) -> Work:
    bib = {"title": "eLife", "issns": [ELIFE_ISSN], "format": "serial"} | bib
    catalog_load_records(
        records=[BibRecord(local_id=local_id, **bib)], holders=lambda _b: [network[holder]]
    )
    return Holding.objects.get(institution__code=holder, local_id=local_id).work


# ---- the backlog --------------------------------------------------------------------------


def test_loaded_articles_wait_in_the_backlog_until_the_index_has_them(network, settings):
    settings.KEDE_SEARCH_ENGINE = "tantivy"
    # when articles are loaded, their ids join the backlog in the load's own transaction
    report = load(elife_jats()[:4])
    stored = set(Article.objects.values_list("id", flat=True))
    assert report.stored == len(stored) == 4
    assert set(ArticleIndexBacklog.objects.values_list("article_id", flat=True)) == stored
    # (tests roll back instead of committing, so the write after the commit is done here)
    assert not found(f"issn:{ELIFE_ISSN}")
    assert article_index.catch_up() == 4
    assert not ArticleIndexBacklog.objects.exists()
    assert found(f"issn:{ELIFE_ISSN}") == stored
    # an article that is gone leaves the index with the next catch-up
    gone = min(stored)
    Article.objects.filter(id=gone).delete()
    article_index.index_on_commit({gone})
    assert article_index.catch_up() == 1
    assert found(f"issn:{ELIFE_ISSN}") == stored - {gone}


def test_a_rebuild_takes_what_the_backlog_owed(network, settings):
    settings.KEDE_SEARCH_ENGINE = "tantivy"
    load(elife_jats()[:3])
    assert ArticleIndexBacklog.objects.count() == 3
    assert article_index.rebuild() == 3
    assert not ArticleIndexBacklog.objects.exists()
    assert len(found(f"issn:{ELIFE_ISSN}")) == 3


def test_a_busy_index_leaves_the_backlog_to_the_worker(network, settings, monkeypatch):
    from django_tasks_db.models import DBTaskResult

    from kede.catalog.search import IndexLocked
    from kede.catalog.tasks import catch_up_article_index

    settings.KEDE_SEARCH_ENGINE = "tantivy"
    load(elife_jats()[:2])

    def busy(_ids):
        raise IndexLocked("another process writes")

    # given another process holds the index's writer
    monkeypatch.setattr(article_index, "_write", busy)
    assert article_index.catch_up() == 0
    # then nothing is lost, and the worker is asked to finish
    assert ArticleIndexBacklog.objects.count() == 2
    assert DBTaskResult.objects.filter(task_path=catch_up_article_index.module_path).exists()
    monkeypatch.undo()
    assert article_index.catch_up(hand_to_worker=False) == 2


# Run in a process of its own against the test database: load a file of articles, and die the
# moment the load commits, before its articles reach the search index (as a killed worker or
# web process does).
LOAD_AND_DIE = textwrap.dedent(
    """
    import os, sys
    os.environ["DJANGO_SETTINGS_MODULE"] = "kede.settings_test"
    import django
    from django.conf import settings
    settings.DATABASES["default"]["NAME"] = sys.argv[1]
    settings.KEDE_SEARCH_DIR = sys.argv[2]
    settings.KEDE_SEARCH_ENGINE = "tantivy"
    django.setup()
    from django.db import transaction
    from kede.catalog import article_services

    with transaction.atomic():
        transaction.on_commit(lambda: os._exit(137))  # runs before the index write
        article_services.articles_load(path=sys.argv[3])
    """
)


@pytest.mark.django_db(transaction=True)
def test_a_crash_between_the_commit_and_the_article_index_is_repaired_at_restart(
    network, tmp_path, settings
):
    settings.KEDE_SEARCH_ENGINE = "tantivy"
    name, data = elife_jats()[0]
    path = tmp_path / name
    path.write_bytes(data)
    # when a load's process dies right after its commit
    died = subprocess.run(
        [
            sys.executable, "-c", LOAD_AND_DIE,
            connection.settings_dict["NAME"], str(settings.KEDE_SEARCH_DIR), str(path),
        ],
        capture_output=True, text=True, timeout=120, env={**os.environ},
    )  # fmt: skip
    assert died.returncode == 137, died.stderr
    # then the article is stored, but the index does not have it yet
    article = Article.objects.get()
    assert list(ArticleIndexBacklog.objects.values_list("article_id", flat=True)) == [article.id]
    assert not found(article.doi)
    # when the worker and scheduler start again
    Scheduler().tick()
    run_pending_tasks()
    # then the index has caught up, and owes nothing more
    assert found(article.doi) == {article.id}
    assert not ArticleIndexBacklog.objects.exists()


def test_the_postgres_engine_is_written_in_the_transaction_without_a_backlog(network, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL engine needs PostgreSQL")
    settings.KEDE_SEARCH_ENGINE = "postgres"
    article_index._ready.clear()
    load(elife_jats()[:2])
    assert not ArticleIndexBacklog.objects.exists()
    assert len(found(f"issn:{ELIFE_ISSN}")) == 2


# ---- articles waiting for their journal ---------------------------------------------------


def test_waiting_articles_are_attached_by_the_periodic_job_when_their_journal_arrives(network):
    from kede.catalog.tasks import attach_waiting_articles

    assert "kede.catalog.tasks.attach_waiting_articles" in [job.task_path for job in PERIODIC]
    assert "kede.catalog.tasks.catch_up_article_index" in [job.task_path for job in PERIODIC]
    # given eLife's articles loaded before eLife is in the catalogue
    load(elife_jats())
    stored = Article.objects.count()
    assert Article.objects.filter(journal__isnull=True).count() == stored >= 20
    # the job finds nothing to attach yet
    assert attach_waiting_articles.call() == 0
    # when eLife arrives in a catalogue load that did not attach them itself (as when the
    # articles were committed while that load was running)
    with mock.patch("kede.catalog.services.articles_attach_waiting", return_value=0):
        journal = add_journal(network)
    assert Article.objects.filter(journal__isnull=True).count() == stored
    # then the next run of the job attaches every one of them, and the next finds none waiting
    assert attach_waiting_articles.call() == stored
    assert Article.objects.filter(journal=journal).count() == stored
    assert attach_waiting_articles.call() == 0
    # and the index is owed the attached articles
    assert set(ArticleIndexBacklog.objects.values_list("article_id", flat=True)) == set(
        Article.objects.values_list("id", flat=True)
    )


def test_a_catalogue_loads_works_attach_only_the_articles_they_can_take(network):
    # given articles of eLife and of Past & present (in the catalogue, without those issues
    # attached yet), and of a journal known only by its title
    load(elife_jats()[:3])
    csv_text = (
        "title,journal_title,issn_print,volume,first_page,year\n"
        "On sharing,Journal of Kede Studies,,1,1,2021\n"
        "Old times,Past & present,0031-2746,1,1,1952\n"
    )
    article_services.articles_load(data=csv_text, source_name="k.csv")
    Article.objects.filter(issn_print="0031-2746").update(journal=None)
    waiting = Article.objects.filter(journal__isnull=True)
    assert waiting.count() == 5

    # when a load brings a book only, nothing is attached (and the waiting articles are kept)
    assert article_services.articles_attach_waiting(work_ids=[network.work.id]) == 0
    assert article_services.articles_attach_waiting(work_ids=[]) == 0

    # when a load brings eLife: its three articles, and only they, are attached by that load
    elife = add_journal(network, holder="SCU")
    assert Article.objects.filter(journal=elife).count() == 3
    assert article_services.articles_attach_waiting(work_ids=[elife.id]) == 0
    assert set(waiting.values_list("journal_title", flat=True)) == {
        "Journal of Kede Studies",
        "Past & present",
    }

    # a serial catalogued by its title alone takes the article naming it in any case
    kede = add_journal(
        network, local_id="j9", holder="FDU", title="JOURNAL OF KEDE STUDIES", issns=[]
    )
    assert Article.objects.get(title="On sharing").journal == kede

    # and without works, every waiting article is tried: Past & present's is attached
    assert article_services.articles_attach_waiting() == 1
    assert Article.objects.get(title="Old times").journal == network.serial
    assert not waiting.exists()


def test_attaching_waiting_articles_costs_one_query_when_none_wait(
    network, django_assert_num_queries
):
    with django_assert_num_queries(1):
        assert article_services.articles_attach_waiting() == 0
    with django_assert_num_queries(1):
        assert article_services.articles_attach_waiting(work_ids=[network.serial.id]) == 0
