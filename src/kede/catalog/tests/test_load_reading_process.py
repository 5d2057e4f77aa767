"""A big file is read, checked and prepared in a process of its own while the load stores
(`kede.catalog.prepared`): what it stores, reports and samples is what a load in one process
stores, reports and samples, for real files of every kind; a reading process that dies fails
the load with the reason instead of losing records silently."""

from __future__ import annotations

import gzip
import io
import multiprocessing
from pathlib import Path

import pytest

from kede.catalog import prepared, services
from kede.catalog.ingest import CSV_TEMPLATE_HEADER, IngestReport
from kede.catalog.ingest.mapping import DEFAULT_MAPPING
from kede.catalog.ingest.scope import KEEP_EVERYTHING
from kede.catalog.models import CatalogRecord, Holding, IngestRun, IngestStatus

pytestmark = pytest.mark.django_db

SHARED_MARC = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "marc"
needs_shared = pytest.mark.skipif(
    not SHARED_MARC.is_dir(), reason="the shared real-data folder is not beside this checkout"
)

# Real files nobody here wrote: 2,000 MARC-8 records, 86 of them serials with 866 holdings;
# records broken in many ways; MARCXML with holdings; MARC-in-JSON.
REAL_FILES = [
    "solrmarc/test__data__records__uva_001_2000.mrc",
    "marc4j/test__resources__bad_hathi_records.mrc",
    "marc4j/test__resources__pride-and-prejudice-with-many-errors.mrc",
    "bibdata-princeton/spec__fixtures__scsb_updates__several_records.xml",
    "searchworks/spec__fixtures__files__8834492.json",
]


def stored(source) -> dict[str, tuple]:
    """What a load left of each record: how it matches, what its work shows, its quality and
    its holding."""
    holdings = {
        h.local_id: (h.call_number, h.location, h.barcode, h.copies, h.coverage_text, h.coverage)
        for h in Holding.objects.filter(institution=source.institution)
    }
    return {
        r.local_id: (r.match, r.display, r.quality, holdings.get(r.local_id))
        for r in CatalogRecord.objects.filter(source=source)
    }


def load_both_ways(network, settings, data: bytes | Path, name: str):
    """The same file loaded by PKU in one process and by FDU through a reading process (which
    opens a file on disk again by its path, and reads anything else from a copy)."""
    pku = services.source_add(institution=network["PKU"], name="PKU catalogue")
    fdu = services.source_add(institution=network["FDU"], name="FDU catalogue")
    settings.KEDE_LOAD_READER_BYTES = 0
    content = data.read_bytes() if isinstance(data, Path) else data
    alone = services.catalogue_load(source=pku, data=content, file_name=name)
    settings.KEDE_LOAD_READER_BYTES = 1
    with data.open("rb") if isinstance(data, Path) else io.BytesIO(data) as handle:
        helped = services.catalogue_load(source=fdu, data=handle, file_name=name)
    return pku, fdu, alone, helped


@needs_shared
@pytest.mark.parametrize("name", REAL_FILES)
def test_a_file_read_in_its_own_process_loads_as_it_does_in_one(network, settings, name):
    pku, fdu, alone, helped = load_both_ways(network, settings, SHARED_MARC / name, name)
    # the report, its rejections with their reasons, and the mapping's samples are the same
    assert helped.report == alone.report
    assert helped.samples == alone.samples
    assert helped.status == alone.status
    # every record is stored alike, holdings and serial coverage included
    mine, theirs = stored(pku), stored(fdu)
    assert mine and theirs == mine
    if name == REAL_FILES[0]:
        assert sum(1 for *_rest, holding in theirs.values() if holding[4]) >= 80  # coverage


def test_a_gzipped_csv_template_loads_through_a_reading_process(network, settings):
    rows = (
        "L1,Ideas of liberty,Li Ming,Peking University Press,2001,9787301046068,,,,"
        "Main stacks,D082/12,,2\n"
    )
    data = gzip.compress((CSV_TEMPLATE_HEADER + "\n" + rows).encode())
    pku, fdu, alone, helped = load_both_ways(network, settings, data, "small.csv.gz")
    assert helped.report["formats"] == alone.report["formats"] == {"csv": 1}
    assert stored(fdu) == stored(pku)
    assert stored(fdu)["L1"][3][3] == 2  # two copies


def test_a_file_of_no_records_fails_through_a_reading_process_as_in_one(network, settings):
    *_sources, alone, helped = load_both_ways(network, settings, b"\x00\x01 no catalogue", "x")
    assert alone.status == helped.status == IngestStatus.FAILED
    assert helped.error == alone.error
    assert "unrecognised format" in helped.error


@needs_shared
def test_a_reading_process_that_dies_stops_the_load_with_the_reason():
    data = (SHARED_MARC / REAL_FILES[0]).read_bytes()
    report = IngestReport()
    outcomes = prepared.outcomes_in_worker(
        data,
        mapping=DEFAULT_MAPPING,
        scope=KEEP_EVERYTHING,
        report=report,
        samples=[],
        max_samples=0,
    )
    got = [next(outcomes)]
    (child,) = [p for p in multiprocessing.active_children() if p.name == "kede-load-reader"]
    child.kill()
    with pytest.raises(prepared.WorkerStopped, match="reading process stopped"):
        got.extend(outcomes)
    # what arrived before it died arrived whole and in order
    assert [o.position for o in got] == list(range(1, len(got) + 1))
    assert len(got) < 2000


@needs_shared
def test_a_load_whose_reading_process_dies_is_failed_with_the_reason(network, settings):
    settings.KEDE_LOAD_READER_BYTES = 1
    source = services.source_add(institution=network["PKU"], name="PKU catalogue")
    # long enough that the reader is still reading when the first batch is stored
    data = (SHARED_MARC / REAL_FILES[0]).read_bytes() * 10

    def kill_the_reader(read: int) -> None:
        for process in multiprocessing.active_children():
            if process.name == "kede-load-reader":
                process.kill()

    with pytest.raises(prepared.WorkerStopped):
        services.catalogue_load(source=source, data=data, file_name="uva.mrc",
                                progress=kill_the_reader)  # fmt: skip
    run = IngestRun.objects.get(source=source)
    assert run.status == IngestStatus.FAILED
    assert "reading process stopped" in run.error
    assert run.report["read"] < 20000
    # the batches stored before it died stay stored; loading the file again completes it
    assert CatalogRecord.objects.filter(source=source).exists()
    again = services.catalogue_load(source=source, data=data, file_name="uva.mrc")
    assert again.status == IngestStatus.DONE
    assert CatalogRecord.objects.filter(source=source).count() == 2000
