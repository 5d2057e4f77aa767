"""A long load hands the search index's writing to a process beside it (`indexing.deferred`):
when the load ends, the index holds every work it stored, with its holders, exactly as if the
load had written the index itself; a writer that dies part-way loses nothing."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest

from kede.catalog import indexing, services
from kede.catalog.models import Holding, IndexBacklog, Work

pytestmark = [
    # the writer beside reads what the load committed, so the load must really commit
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        indexing._kind() != "tantivy", reason="PostgreSQL's index is written in the load"
    ),
]

SHARED_MARC = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "marc"
needs_shared = pytest.mark.skipif(
    not SHARED_MARC.is_dir(), reason="the shared real-data folder is not beside this checkout"
)
# A real file nobody here wrote: 2,000 records. A second library holding the same records
# joins the first one's works, so those works are written to the index twice.
BIG = SHARED_MARC / "solrmarc" / "test__data__records__uva_001_2000.mrc"


def index_agrees_with_database() -> None:
    """Every work is in the index once, and each institution's holdings facet counts the
    works it holds."""
    assert not IndexBacklog.objects.exists()
    assert indexing.engine().count() == Work.objects.count()
    found = indexing.search_works("", facets=("holders",), limit=1)
    held = dict(found.facets["holders"])
    for code in {h.institution.code for h in Holding.objects.select_related("institution")}:
        expected = Holding.objects.filter(institution__code=code).values("work").distinct()
        assert held[code] == expected.count(), code


def writer_reports(caplog) -> list[tuple[int, int]]:
    """(works written, process id) of each writer beside that reported."""
    return [
        (int(m[1]), int(m[2]))
        for r in caplog.records
        if (m := re.search(r"(\d+) works written beside the load by process (\d+)", r.message))
    ]


@needs_shared
def test_a_long_load_is_indexed_by_a_process_beside_it(network, caplog):
    caplog.set_level(logging.INFO, logger="kede.catalog.indexing")
    pku = services.source_add(institution=network["PKU"], name="PKU catalogue")
    fdu = services.source_add(institution=network["FDU"], name="FDU catalogue")
    with indexing.deferred(beside_after=300):
        first = services.catalogue_load(source=pku, data=BIG.read_bytes(), file_name=BIG.name)
        second = services.catalogue_load(source=fdu, data=BIG.open("rb"), file_name=BIG.name)
    accepted = first.report["outcomes"]["accepted"]
    assert accepted > 1500 and second.report["outcomes"]["accepted"] == accepted
    index_agrees_with_database()
    (written, pid), *more = writer_reports(caplog)
    assert not more and pid != os.getpid() and written > 0
    # a title both loads stored is found at either holder
    work = (
        Work.objects.filter(holdings__institution__code="FDU")
        .filter(holdings__institution__code="PKU")
        .exclude(title="")
        .order_by("-id")
        .first()
    )
    for code in ("PKU", "FDU"):
        hits = indexing.search_works(work.title, held_by=(code,), limit=50).hits
        assert work.id in {hit.work_id for hit in hits}


@needs_shared
def test_a_writer_that_dies_during_the_load_loses_nothing(network, caplog):
    caplog.set_level(logging.INFO, logger="kede.catalog.indexing")
    pku = services.source_add(institution=network["PKU"], name="PKU catalogue")
    fdu = services.source_add(institution=network["FDU"], name="FDU catalogue")
    with indexing.deferred(beside_after=300):
        services.catalogue_load(source=pku, data=BIG.read_bytes(), file_name=BIG.name)
        writer = indexing._local.pending.beside
        writer.process.kill()  # the way the machine's memory killer would
        writer.process.join()
        services.catalogue_load(source=fdu, data=BIG.open("rb"), file_name=BIG.name)
    # the load's own catch-up at the end wrote what the writer left in the backlog
    index_agrees_with_database()


def test_a_short_load_writes_the_index_itself(network, records_file, caplog):
    caplog.set_level(logging.INFO, logger="kede.catalog.indexing")
    source = services.source_add(institution=network["PKU"], name="PKU catalogue")
    with indexing.deferred():
        services.catalogue_load(source=source, data=records_file, file_name="few.mrc")
    index_agrees_with_database()
    assert writer_reports(caplog) == []  # no process started for a few works


@pytest.fixture
def records_file() -> bytes:
    from kede.catalog.tests.test_catalogue_commands import real_records

    return b"".join(r.as_marc() for r in real_records(20))
