"""OAI-PMH harvests stored in the union catalogue, against a real repository on loopback
(pyoai's server with real MARCXML records, see oai_server.py): every page and the harvest
state committed together, so a crash resumes where it stopped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from lxml import etree

from kede.catalog import services
from kede.catalog.indexing import rebuild
from kede.catalog.models import CatalogRecord, Holding, IngestRun, Source, Work
from kede.catalog.oai import HarvestState, OAIClient, RetryPolicy
from kede.catalog.selectors import works_search
from kede.catalog.tests.oai_server import (
    MARC_NS,
    Fault,
    LiveServer,
    MarcRepository,
    marcxml_records,
    oai_app,
    stamped,
)
from kede.core.runtime import PERIODIC
from kede.demo import BUNDLED_MARC

pytestmark = pytest.mark.django_db


class Crash(Exception):
    """The process dies while committing a page."""


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def repository() -> MarcRepository:
    """24 real records (British Library, DNB) served 5 to a page, two of them deleted."""
    repo = MarcRepository(batch_size=5, set_names={"bl": "British Library", "dnb": "DNB"})
    bl = marcxml_records(BUNDLED_MARC / "dataset__british_library.xml.gz", 12)
    dnb = marcxml_records(BUNDLED_MARC / "dataset__dnb.xml.gz", 12)
    when = stamped(datetime(2020, 1, 1, 9, 0, tzinfo=UTC).replace(tzinfo=None), 24)
    for i, xml in enumerate(bl):
        repo.add(f"oai:kede.test:bl:{i}", xml, ["bl"], when[i])
    for i, xml in enumerate(dnb):
        repo.add(f"oai:kede.test:dnb:{i}", xml, ["dnb"], when[12 + i])
    for identifier in ("oai:kede.test:bl:3", "oai:kede.test:dnb:7"):
        repo.items[identifier].deleted = True
        repo.items[identifier].marcxml = None
    return repo


@pytest.fixture
def live(repository):
    with LiveServer(oai_app(repository)) as server:
        yield server


@pytest.fixture
def client(live) -> OAIClient:
    return OAIClient(
        live.url,
        retry=RetryPolicy(attempts=3, backoff=0.1, max_wait=1, timeout=5),
        sleep=lambda _seconds: None,
    )


@pytest.fixture
def source(network, live) -> Source:
    return services.source_add(
        institution=network["FDU"], name="FDU OAI-PMH", kind="oai", oai_url=live.url
    )


def live_ids(repo: MarcRepository) -> set[str]:
    return {i for i, item in repo.items.items() if not item.deleted}


def retitled(marcxml: bytes, title: str) -> bytes:
    root = etree.fromstring(marcxml)
    field = root.find(f"{{{MARC_NS}}}datafield[@tag='245']")
    field.find(f"{{{MARC_NS}}}subfield[@code='a']").text = title
    return etree.tostring(root, encoding="UTF-8")


def record_of(source: Source, identifier: str) -> CatalogRecord:
    return CatalogRecord.objects.select_related("work").get(source=source, harvest_id=identifier)


def test_a_first_harvest_loads_every_record_into_works_with_holdings(
    source, repository, client, network
):
    # given an OAI-PMH source that was never harvested
    # when it is harvested
    run = services.catalogue_harvest(source=source, client=client)
    # then every live record is a member record in a work, held by FDU
    assert run.status == "done", run.error
    assert run.file_name == "OAI-PMH"
    stored = CatalogRecord.objects.filter(source=source)
    assert set(stored.values_list("harvest_id", flat=True)) == live_ids(repository)
    assert run.records_added == len(live_ids(repository)) == 22
    assert not stored.filter(work__isnull=True).exists()
    holdings = Holding.objects.filter(record__source=source)
    assert holdings.count() == 22
    assert set(holdings.values_list("institution__code", flat=True)) == {"FDU"}
    # one load with its report, the harvest's own facts in it
    assert IngestRun.objects.filter(source=source).count() == 1
    assert run.report["outcomes"] == {"accepted": 22, "deleted": 2}
    assert run.report["harvest"]["pages"] == 5 and run.report["harvest"]["complete"]
    assert len(run.samples) == services.SAMPLES
    # and the next harvest will ask only for what changed since this one started
    source.refresh_from_db()
    state = HarvestState.from_dict(source.harvest_state)
    assert not state.running and state.from_datestamp
    assert source.harvest_lease_until is None
    # the works are found
    rebuild()
    work = record_of(source, "oai:kede.test:bl:0").work
    assert work.id in [w.id for w in works_search(work.title).works]


def test_an_incremental_harvest_applies_changes_and_deletions(source, repository, live, client):
    # given a source harvested once
    services.catalogue_harvest(source=source, client=client)
    gone = record_of(source, "oai:kede.test:dnb:2")
    assert Holding.objects.filter(record=gone).exists()
    # when the library changes a title, deletes a record and adds one
    repository.items["oai:kede.test:bl:5"].marcxml = retitled(
        repository.items["oai:kede.test:bl:5"].marcxml, "A corrected title of the harvest test"
    )
    repository.update("oai:kede.test:bl:5")
    repository.delete("oai:kede.test:dnb:2")
    new_xml = marcxml_records(BUNDLED_MARC / "dataset__gwu.xml.gz", 1)[0]
    repository.add("oai:kede.test:gwu:0", new_xml, ["bl"])
    live.requests.clear()
    run = services.catalogue_harvest(source=source, client=client)
    # then only the changes were asked for, and applied
    assert run.status == "done", run.error
    assert next(r for r in live.requests if r["verb"] == "ListRecords").get("from")
    assert (run.records_added, run.records_updated, run.records_deleted) == (1, 1, 1)
    assert record_of(source, "oai:kede.test:bl:5").work.title.startswith("A corrected title")
    assert not CatalogRecord.objects.filter(id=gone.id).exists()
    assert not Holding.objects.filter(institution__code="FDU", local_id=gone.local_id).exists()
    assert (
        record_of(source, "oai:kede.test:gwu:0")
        .work.holdings.filter(institution__code="FDU")
        .exists()
    )
    assert set(
        CatalogRecord.objects.filter(source=source).values_list("harvest_id", flat=True)
    ) == live_ids(repository)


def test_a_harvest_interrupted_after_page_two_resumes_without_duplicates(
    source, repository, live, client, monkeypatch
):
    # given a harvest that dies while committing its third page
    real = services._load_results
    pages = []

    def crashing(*args, **kwargs):
        pages.append(1)
        if len(pages) == 3:
            raise Crash
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_load_results", crashing)
    with pytest.raises(Crash):
        services.catalogue_harvest(source=source, client=client)
    monkeypatch.setattr(services, "_load_results", real)
    # then the first two pages are stored, and the state saved with them says where to go on
    source.refresh_from_db()
    state = HarvestState.from_dict(source.harvest_state)
    assert state.running and state.resumption_token and state.cursor == 10
    assert CatalogRecord.objects.filter(source=source).count() == 9  # bl:3 is deleted
    interrupted = IngestRun.objects.get(source=source)
    assert interrupted.status == "failed" and "Crash" in interrupted.error
    assert interrupted.records_added == 9
    assert source.harvest_lease_until is None
    # when the source is harvested again
    live.requests.clear()
    run = services.catalogue_harvest(source=source, client=client)
    # then it goes on from the saved token, and ends with each record once
    assert run.status == "done", run.error
    listed = [r for r in live.requests if r["verb"] == "ListRecords"]
    assert set(listed[0]) == {"verb", "resumptionToken"}
    assert len(listed) == 3
    assert run.records_added == 13 and run.records_updated == 0
    stored = CatalogRecord.objects.filter(source=source)
    assert stored.count() == 22
    assert set(stored.values_list("harvest_id", flat=True)) == live_ids(repository)
    assert Holding.objects.filter(record__source=source).count() == 22


def test_a_source_being_harvested_is_skipped(source, live, client):
    # given another process holding the source
    Source.objects.filter(id=source.id).update(
        harvest_lease_until=timezone.now() + timedelta(minutes=5)
    )
    # when a harvest is asked for
    assert services.catalogue_harvest(source=source, client=client) is None
    # then nothing was fetched or loaded
    assert live.requests == []
    assert not IngestRun.objects.filter(source=source).exists()
    # and once its lease has run out (its process died), the source is harvested again
    Source.objects.filter(id=source.id).update(
        harvest_lease_until=timezone.now() - timedelta(minutes=1)
    )
    assert services.catalogue_harvest(source=source, client=client).status == "done"


def test_the_periodic_job_harvests_active_oai_sources(source, network, client, live):
    # given an OAI source and an upload source, and the periodic job in the schedule
    services.source_add(institution=network["SCU"], name="SCU uploads")
    assert "kede.catalog.tasks.harvest_sources" in [job.task_path for job in PERIODIC]
    # when it runs
    done = services.catalogue_harvest_due(client_for=lambda _source: client)
    # then the OAI source was harvested, and only it
    assert done == {str(source): "done"}
    assert CatalogRecord.objects.filter(source=source).count() == 22


def test_a_repository_that_is_down_leaves_a_failed_load_with_the_reason(source, live, client):
    live.faults.extend(Fault() for _ in range(3))
    run = services.catalogue_harvest(source=source, client=client)
    assert run.status == "failed"
    assert "503" in run.error
    source.refresh_from_db()
    assert source.harvest_lease_until is None
    assert not Work.objects.filter(records__source=source).exists()


def test_records_that_are_not_marc_are_reported_with_their_reason(source, repository, client):
    repository.add(
        "oai:kede.test:dc:0",
        b'<dc xmlns="http://purl.org/dc/elements/1.1/"><title>Not MARC</title></dc>',
        ["bl"],
    )
    run = services.catalogue_harvest(source=source, client=client)
    assert run.status == "done"
    [rejected] = run.report["rejected"]
    assert rejected["local_id"] == "oai:kede.test:dc:0"
    assert rejected["category"] == "unreadable" and "not MARCXML" in rejected["reason"]
