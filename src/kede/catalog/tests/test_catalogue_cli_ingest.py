"""`kede catalog ingest|search|stats` as scripts use them, whole-catalogue re-sends, loads
whose worker died, and the search index's backlog."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from datetime import timedelta

import pymarc
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from kede.catalog import indexing, services
from kede.catalog.models import CatalogRecord, Holding, IndexBacklog, IngestRun, Work
from kede.catalog.tests.test_catalogue_commands import real_records

pytestmark = pytest.mark.django_db


def kede_catalog(*args: str) -> str:
    out = io.StringIO()
    call_command("catalog", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def marc_bytes(records: list[pymarc.Record]) -> bytes:
    return b"".join(r.as_marc() for r in records)


@pytest.fixture
def records():
    return real_records(8)


@pytest.fixture
def mixed_file(tmp_path, records):
    """Six real records, one without a title, and one cut off in the middle."""
    untitled = pymarc.Record(force_utf8=True)
    untitled.add_field(pymarc.Field(tag="001", data="untitled-1"))
    broken = records[6].as_marc()[:-40]
    path = tmp_path / "member.mrc"
    path.write_bytes(marc_bytes(records[:3]) + untitled.as_marc() + marc_bytes(records[3:6]))
    path.write_bytes(path.read_bytes() + broken)
    return path


def test_ingest_json_gives_read_stored_rejected_by_reason_and_works(network, mixed_file):
    # when a member's file is ingested by a script
    data = json.loads(kede_catalog("ingest", str(mixed_file), "--institution", "USST", "--json"))
    # then one JSON object gives the totals
    assert data["read"] == 8
    assert data["stored"] == 6
    assert data["rejected"] == {"no-title": 1, "unreadable": 1}
    assert data["works_created"] + data["works_merged"] >= 1
    assert (
        data["works_created"]
        == Work.objects.filter(records__source__institution__code="USST").distinct().count()
    )
    assert [run["status"] for run in data["runs"]] == ["done"]
    # and the same file again stores nothing new
    again = json.loads(kede_catalog("ingest", str(mixed_file), "--institution", "USST", "--json"))
    assert again["stored"] == 6 and again["works_created"] == 0 and again["records_added"] == 0


def test_ingest_of_the_same_titles_at_a_second_library_merges_them(network, tmp_path, records):
    path = tmp_path / "a.mrc"
    path.write_bytes(marc_bytes(records[:4]))
    first = json.loads(kede_catalog("ingest", str(path), "--institution", "USST", "--json"))
    second = json.loads(kede_catalog("ingest", str(path), "--institution", "FDU", "--json"))
    assert first["works_created"] == 4
    assert second["works_created"] == 0
    assert second["stored"] == 4
    # each work is now held by both libraries
    indexing.rebuild()
    title = records[0]["245"]["a"].rstrip(" /:")
    hits = json.loads(kede_catalog("search", title, "--json"))["hits"]
    assert any(set(hit["holders"]) >= {"USST", "FDU"} for hit in hits)


def test_search_json_lists_hits_with_their_holders_codes(network):
    indexing.rebuild()
    work = Work.objects.filter(holdings__isnull=False).first()
    data = json.loads(kede_catalog("search", work.title, "--json"))
    assert data["total"] >= 1
    hit = next(h for h in data["hits"] if h["id"] == work.id)
    expected = sorted(set(work.holdings.values_list("institution__code", flat=True)))
    assert hit["holders"] == expected
    # filtered to one holder, only its works come back
    code = expected[0]
    held = json.loads(kede_catalog("search", work.title, "--held-by", code, "--json"))["hits"]
    assert held and all(code in h["holders"] for h in held)
    # and the text form names the holders too
    assert code in kede_catalog("search", work.title)


def test_search_refuses_years_the_wrong_way_round(network):
    with pytest.raises(CommandError, match="year_from 2001 is after year_to 1990"):
        kede_catalog("search", "history", "--year-from", "2001", "--year-to", "1990")


def test_stats_count_works_records_and_holdings_per_library(network, tmp_path, records):
    path = tmp_path / "a.mrc"
    path.write_bytes(marc_bytes(records[:3]))
    kede_catalog("ingest", str(path), "--institution", "USST")
    figures = json.loads(kede_catalog("stats", "--json"))
    assert figures["works"] == Work.objects.count()
    assert figures["holdings"] == Holding.objects.count()
    assert figures["institutions"]["USST"] == {"records": 3, "holdings": 3}
    assert sum(figures["formats"].values()) == figures["works"]
    assert f"{figures['works']} works" in kede_catalog("stats")


# ---- a full re-send ---------------------------------------------------------------------------


def test_a_whole_catalogue_resend_withdraws_the_titles_it_no_longer_holds(
    network, tmp_path, records
):
    full, smaller = tmp_path / "full.mrc", tmp_path / "smaller.mrc"
    full.write_bytes(marc_bytes(records[:6]))
    smaller.write_bytes(marc_bytes(records[:4]))
    kede_catalog("ingest", str(full), "--institution", "USST")
    gone = {r["001"].data for r in records[4:6]}
    # when the member sends its whole catalogue again, two titles fewer
    data = json.loads(
        kede_catalog("ingest", str(smaller), "--institution", "USST", "--whole-catalogue", "--json")
    )
    # then those two records and their holdings are withdrawn, the rest kept
    kept = set(
        CatalogRecord.objects.filter(source__institution__code="USST").values_list(
            "local_id", flat=True
        )
    )
    assert kept == {r["001"].data for r in records[:4]}
    assert not kept & gone
    assert data["records_deleted"] == 2
    run = IngestRun.objects.order_by("-id").first()
    assert run.report["replace"] == {"absent": 2, "withdrawn": 2}


def test_a_resend_missing_most_of_the_catalogue_withdraws_nothing_unless_forced(
    network, tmp_path, records
):
    full, tiny = tmp_path / "full.mrc", tmp_path / "tiny.mrc"
    full.write_bytes(marc_bytes(records[:6]))
    tiny.write_bytes(marc_bytes(records[:1]))
    kede_catalog("ingest", str(full), "--institution", "USST")
    kede_catalog("ingest", str(tiny), "--institution", "USST", "--whole-catalogue")
    run = IngestRun.objects.order_by("-id").first()
    assert run.report["replace"]["withdrawn"] == 0
    assert "partial export" in run.report["replace"]["refused"]
    assert CatalogRecord.objects.filter(source__institution__code="USST").count() == 6
    kede_catalog("ingest", str(tiny), "--institution", "USST", "--whole-catalogue", "--force")
    assert CatalogRecord.objects.filter(source__institution__code="USST").count() == 1


def test_force_alone_is_refused(network, tmp_path, records):
    path = tmp_path / "a.mrc"
    path.write_bytes(marc_bytes(records[:1]))
    with pytest.raises(CommandError, match="--whole-catalogue"):
        kede_catalog("ingest", str(path), "--institution", "USST", "--force")


# ---- a load whose worker died -----------------------------------------------------------------


def test_an_upload_whose_worker_died_is_queued_again_and_loaded(network, records, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from kede.catalog.tasks import load_upload

    source = services.default_source(network["USST"])
    upload = SimpleUploadedFile("usst.mrc", marc_bytes(records[:3]))
    run = services.catalogue_upload(source=source, upload=upload, actor=network.centre_admin)
    # given the worker took the run, then died: it stays "running" with no sign of life
    IngestRun.objects.filter(id=run.id).update(
        status="running", progress_at=timezone.now() - timedelta(minutes=30)
    )
    # when the periodic sweep runs (twice: the second finds nothing to do)
    assert services.resume_stalled_loads() == [run.id]
    assert services.resume_stalled_loads() == []
    # then the run is queued again with a task, and loading it stores the records
    assert IngestRun.objects.get(id=run.id).status == "queued"
    queued = DBTaskResult.objects.filter(task_path=load_upload.module_path, status="READY")
    assert queued.count() == 2  # the original task, and the one queued again
    services.catalogue_load_queued(run_id=run.id)
    assert IngestRun.objects.get(id=run.id).status == "done"
    assert CatalogRecord.objects.filter(source=source).count() == 3
    # and the original task, delivered late, finds the run taken
    assert services.catalogue_load_queued(run_id=run.id) is None


def test_a_live_load_is_left_alone(network, records):
    from django.core.files.uploadedfile import SimpleUploadedFile

    source = services.default_source(network["USST"])
    upload = SimpleUploadedFile("usst.mrc", marc_bytes(records[:3]))
    run = services.catalogue_upload(source=source, upload=upload, actor=network.centre_admin)
    IngestRun.objects.filter(id=run.id).update(status="running", progress_at=timezone.now())
    assert services.resume_stalled_loads() == []


# ---- the search index's backlog ---------------------------------------------------------------


def test_changes_wait_in_the_backlog_until_the_index_has_them(network, tmp_path, records):
    # a load's works are owed to the index from the transaction that stores them
    path = tmp_path / "a.mrc"
    path.write_bytes(marc_bytes(records[:3]))
    kede_catalog("ingest", str(path), "--institution", "USST")
    owed = set(IndexBacklog.objects.values_list("work_id", flat=True))
    stored = set(
        Work.objects.filter(records__source__institution__code="USST").values_list("id", flat=True)
    )
    assert owed >= stored
    # (tests roll back instead of committing, so the write after the commit is done here)
    assert indexing.catch_up() == len(owed)
    assert not IndexBacklog.objects.exists()
    title = records[0]["245"]["a"].rstrip(" /:")
    assert json.loads(kede_catalog("search", title, "--json"))["total"] >= 1
    # a work that is gone is taken out of the index by the next catch-up
    work_id = stored.pop()
    Work.objects.filter(id=work_id).delete()
    indexing.reindex_on_commit(set(), {work_id})
    indexing.catch_up()
    assert work_id not in {hit.work_id for hit in indexing.search_works(title, limit=50).hits}


# Run in a process of its own against the test database: load a file, and die the moment the
# load commits, before its works reach the search index (the way a killed worker does).
LOAD_AND_DIE = textwrap.dedent(
    """
    import os, sys
    os.environ["DJANGO_SETTINGS_MODULE"] = "kede.settings_test"
    import django
    from django.conf import settings
    settings.DATABASES["default"]["NAME"] = sys.argv[1]
    settings.KEDE_SEARCH_DIR = sys.argv[2]
    django.setup()
    from django.db import transaction
    from kede.catalog import services
    from kede.consortium.models import Institution

    source = services.default_source(Institution.objects.get(code="USST"))
    with open(sys.argv[3], "rb") as data, transaction.atomic():
        transaction.on_commit(lambda: os._exit(137))  # runs before the index write
        services.catalogue_load(source=source, data=data, file_name="usst.mrc")
    """
)


@pytest.mark.django_db(transaction=True)
def test_a_crash_between_the_commit_and_the_index_is_repaired_at_restart(
    network, tmp_path, records, settings
):
    from kede.core.runtime import Scheduler, run_pending_tasks

    path = tmp_path / "usst.mrc"
    path.write_bytes(marc_bytes(records[:3]))
    title = records[0]["245"]["a"].rstrip(" /:")
    # when a load's process dies right after its commit
    died = subprocess.run(
        [
            sys.executable, "-c", LOAD_AND_DIE,
            connection.settings_dict["NAME"], str(settings.KEDE_SEARCH_DIR), str(path),
        ],
        capture_output=True, text=True, timeout=120, env={**os.environ},
    )  # fmt: skip
    assert died.returncode == 137, died.stderr
    # then the records are stored, but the index does not have them yet
    loaded = set(
        Work.objects.filter(records__source__institution__code="USST").values_list("id", flat=True)
    )
    assert len(loaded) == 3
    assert loaded <= set(IndexBacklog.objects.values_list("work_id", flat=True))
    assert not loaded & {h.work_id for h in indexing.search_works(title, limit=50).hits}
    # when the worker and scheduler start again
    Scheduler().tick()
    run_pending_tasks()
    # then the index has caught up, and owes nothing more
    assert loaded & {h.work_id for h in indexing.search_works(title, limit=50).hits}
    assert not IndexBacklog.objects.exists()
