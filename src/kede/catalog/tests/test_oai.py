"""The OAI-PMH harvester against a real repository on loopback and real saved responses.

The repository is pyoai's server (see oai_server.py) holding real MARCXML records; the saved
responses are those other harvesters (sickle, pyoai, traject, VuFind) test against.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kede.catalog import oai
from kede.catalog.marc import bib_from_record
from kede.catalog.oai import (
    DAY,
    SECONDS,
    HarvestedRecord,
    HarvestState,
    MalformedResponse,
    OAIClient,
    OAIError,
    RetryPolicy,
    TransportError,
    harvest,
)
from kede.catalog.tests.oai_server import (
    Fault,
    LiveServer,
    MarcRepository,
    marcxml_records,
    oai_app,
    saved_responses_app,
    stamped,
)

BUNDLED_MARC = Path(oai.__file__).resolve().parents[1] / "demo_data"
SHARED = Path(__file__).resolve().parents[4].parent / "shared" / "data"
SAVED = SHARED / "oai"
needs_shared = pytest.mark.skipif(
    not (SAVED.is_dir() and (SHARED / "marc").is_dir()),
    reason="the shared real-data folder is not beside this checkout",
)


class Crash(Exception):
    """The process dies while committing a page."""


class Catalogue:
    """What the Django layer does: apply a page and save the state in one commit."""

    def __init__(self, crash_on_page: int | None = None, after_page=None) -> None:
        self.holdings: dict[str, HarvestedRecord] = {}
        self.delivered: list[str] = []
        self.batches: list[list[HarvestedRecord]] = []
        self.saved: str | None = None
        self.crash_on_page = crash_on_page
        self.after_page = after_page

    def on_batch(self, records: list[HarvestedRecord], state: HarvestState) -> None:
        if self.crash_on_page == len(self.batches) + 1:
            self.crash_on_page = None
            raise Crash
        self.batches.append(records)
        for r in records:
            self.delivered.append(r.identifier)
            if r.deleted:
                self.holdings.pop(r.identifier, None)
            else:
                self.holdings[r.identifier] = r
        self.saved = state.to_json()
        if self.after_page:
            self.after_page(len(self.batches))

    @property
    def state(self) -> HarvestState:
        assert self.saved is not None
        return HarvestState.from_json(self.saved)


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def repository() -> MarcRepository:
    """24 real records in two sets (British Library, DNB), two of them already deleted."""
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
def waits() -> list[float]:
    return []


@pytest.fixture
def client(live, waits) -> OAIClient:
    return OAIClient(
        live.url,
        retry=RetryPolicy(attempts=3, backoff=0.5, max_wait=30, timeout=5),
        sleep=waits.append,
    )


def full_state(url: str, **kw) -> HarvestState:
    return HarvestState(base_url=url, **kw)


def ids(repo: MarcRepository, *, deleted: bool | None = None) -> set[str]:
    return {i for i, item in repo.items.items() if deleted is None or item.deleted == deleted}


# --- the live repository ----------------------------------------------------------------------


def test_identify_and_sets_of_the_live_repository(client):
    info = client.identify()
    assert info.granularity == SECONDS and info.protocol_version == "2.0"
    assert info.earliest_datestamp == "2020-01-01T09:00:00Z"
    assert {(s.spec, s.name) for s in client.list_sets()} == {
        ("bl", "British Library"),
        ("dnb", "DNB"),
    }


def test_full_harvest_gets_every_record_across_pages(live, repository, client):
    # given a repository of 24 records served 5 to a page
    catalogue = Catalogue()
    # when it is harvested from scratch
    final = harvest(full_state(live.url), on_batch=catalogue.on_batch, client=client)
    # then every record came once, deleted ones flagged and without metadata
    assert Counter(catalogue.delivered) == Counter(ids(repository))
    assert [len(b) for b in catalogue.batches] == [5, 5, 5, 5, 4]
    assert set(catalogue.holdings) == ids(repository, deleted=False)
    deleted = [r for b in catalogue.batches for r in b if r.deleted]
    assert {r.identifier for r in deleted} == ids(repository, deleted=True)
    assert all(r.raw is None and r.marc is None for r in deleted)
    # real MARC records come through as pymarc records the catalogue can read
    live_records = list(catalogue.holdings.values())
    assert all(r.marc is not None and not r.error for r in live_records)
    assert all(bib_from_record(r.marc).title for r in live_records)
    assert {r.sets for r in live_records} == {("bl",), ("dnb",)}
    # and the state is complete, with the first responseDate as the next `from`
    assert final.to_json() == catalogue.saved
    assert not final.running and final.resumption_token is None
    assert (final.pages, final.records, final.deleted, final.unreadable) == (5, 24, 2, 0)
    assert final.granularity == SECONDS
    assert final.from_datestamp == final.run_started
    started = oai.parse_datestamp(final.from_datestamp)
    assert abs((datetime.now(UTC) - started).total_seconds()) < 60
    # the protocol: Identify once, a first ListRecords, then only tokens
    verbs = [r["verb"] for r in live.requests]
    assert verbs == ["Identify"] + ["ListRecords"] * 5
    assert live.requests[1] == {"verb": "ListRecords", "metadataPrefix": "marc21"}
    assert all(set(r) == {"verb", "resumptionToken"} for r in live.requests[2:])


def test_incremental_harvest_returns_only_the_changes(live, repository, client):
    # given a completed harvest
    catalogue = Catalogue()
    first = harvest(full_state(live.url), on_batch=catalogue.on_batch, client=client)
    # when records are modified, deleted and added, and the source is harvested again
    repository.update("oai:kede.test:bl:5")
    repository.delete("oai:kede.test:dnb:2")
    new_xml = marcxml_records(BUNDLED_MARC / "dataset__gwu.xml.gz", 1)[0]
    repository.add("oai:kede.test:gwu:0", new_xml, ["bl"])
    live.requests.clear()
    second = harvest(catalogue.state, on_batch=catalogue.on_batch, client=client)
    # then only those three come, the deletion flagged, asked `from` the last mark
    changes = catalogue.batches[len(catalogue.batches) - 1]
    assert {r.identifier: r.deleted for r in changes} == {
        "oai:kede.test:bl:5": False,
        "oai:kede.test:dnb:2": True,
        "oai:kede.test:gwu:0": False,
    }
    assert live.requests == [
        {"verb": "ListRecords", "metadataPrefix": "marc21", "from": first.from_datestamp}
    ]
    assert "oai:kede.test:dnb:2" not in catalogue.holdings
    assert set(catalogue.holdings) == ids(repository, deleted=False)
    assert (second.records, second.deleted) == (3, 1)
    assert second.from_datestamp >= first.from_datestamp


def test_nothing_new_is_not_an_error_and_still_moves_the_mark(live, client):
    catalogue = Catalogue()
    harvest(full_state(live.url), on_batch=catalogue.on_batch, client=client)
    # a mark in the future: the repository answers noRecordsMatch
    state = catalogue.state
    state.from_datestamp = "2999-01-01T00:00:00Z"
    final = harvest(state, on_batch=catalogue.on_batch, client=client)
    assert catalogue.batches[-1] == []
    assert final.records == 0 and not final.running
    assert final.from_datestamp == final.run_started


def test_day_granularity_is_honoured(repository):
    # given a repository that only knows days
    repository.granularity = DAY
    with LiveServer(oai_app(repository)) as server:
        client = OAIClient(server.url, sleep=lambda s: None)
        catalogue = Catalogue()
        first = harvest(full_state(server.url), on_batch=catalogue.on_batch, client=client)
        assert first.granularity == DAY
        assert first.from_datestamp == datetime.now(UTC).strftime("%Y-%m-%d")
        # when a record changes and the source is harvested again
        repository.update("oai:kede.test:dnb:0")
        server.requests.clear()
        harvest(catalogue.state, on_batch=catalogue.on_batch, client=client)
    # then `from` was sent as a day (a time would be a badArgument there)
    assert server.requests[0]["from"] == first.from_datestamp
    assert [r.identifier for r in catalogue.batches[-1]] == ["oai:kede.test:dnb:0"]


def test_a_crash_resumes_from_the_committed_token_without_loss_or_duplicates(
    live, repository, client
):
    # given a harvest that dies while committing page 3
    catalogue = Catalogue(crash_on_page=3)
    with pytest.raises(Crash):
        harvest(full_state(live.url), on_batch=catalogue.on_batch, client=client)
    saved = catalogue.state
    assert saved.running and saved.resumption_token and saved.cursor == 10
    assert (saved.pages, saved.records) == (2, 10)
    # when the harvest starts again from what was committed
    live.requests.clear()
    final = harvest(saved, on_batch=catalogue.on_batch, client=client)
    # then it goes on with the saved token and every record was committed exactly once
    assert live.requests[0] == {"verb": "ListRecords", "resumptionToken": saved.resumption_token}
    assert Counter(catalogue.delivered) == Counter(ids(repository))
    assert (final.pages, final.records, final.restarts) == (5, 24, 0)
    # and the mark is the responseDate of the run's first request, before the crash
    assert final.from_datestamp == saved.run_started


def test_an_expired_token_restarts_the_list_from_the_mark(live, repository, client):
    # given a completed harvest, then changes spanning two pages
    catalogue = Catalogue()
    first = harvest(full_state(live.url), on_batch=catalogue.on_batch, client=client)
    changed = [f"oai:kede.test:bl:{i}" for i in (0, 1, 2, 4, 6, 7, 8)]
    for identifier in changed:
        repository.update(identifier)
    # and an incremental harvest that crashes after its first page
    catalogue.crash_on_page = len(catalogue.batches) + 2
    with pytest.raises(Crash):
        harvest(catalogue.state, on_batch=catalogue.on_batch, client=client)
    # when the repository forgets its tokens before the harvest resumes
    repository.expire_tokens()
    live.requests.clear()
    delivered_before = len(catalogue.delivered)
    final = harvest(catalogue.state, on_batch=catalogue.on_batch, client=client)
    # then the rejected token is followed by the list again from the saved mark
    assert "resumptionToken" in live.requests[0]
    assert live.requests[1] == {
        "verb": "ListRecords",
        "metadataPrefix": "marc21",
        "from": first.from_datestamp,
    }
    assert final.restarts == 1 and not final.running
    assert set(catalogue.delivered[delivered_before:]) == set(changed)


def test_tokens_that_keep_failing_stop_the_harvest(live, repository, client):
    catalogue = Catalogue(after_page=lambda n: repository.expire_tokens())
    with pytest.raises(OAIError) as caught:
        harvest(full_state(live.url), on_batch=catalogue.on_batch, client=client)
    assert caught.value.code == "badResumptionToken"
    assert catalogue.state.running  # the last commit still says where to resume


def test_a_set_restricted_harvest(live, repository, client):
    catalogue = Catalogue()
    final = harvest(full_state(live.url, sets=["dnb"]), on_batch=catalogue.on_batch, client=client)
    assert set(catalogue.delivered) == {i for i in repository.items if ":dnb:" in i}
    assert all(r.sets == ("dnb",) for b in catalogue.batches for r in b)
    firsts = [r for r in live.requests if "metadataPrefix" in r]
    assert firsts == [{"verb": "ListRecords", "metadataPrefix": "marc21", "set": "dnb"}]
    assert final.sets == ["dnb"]


def test_several_sets_are_harvested_in_turn_and_resume_mid_way(live, repository, client):
    # given a two-set harvest (bl: 3 pages, dnb: 3) that crashes on dnb's second page
    catalogue = Catalogue(crash_on_page=5)
    state = full_state(live.url, sets=["bl", "dnb"])
    with pytest.raises(Crash):
        harvest(state, on_batch=catalogue.on_batch, client=client)
    assert catalogue.state.set_index == 1 and catalogue.state.resumption_token
    # when it resumes
    final = harvest(catalogue.state, on_batch=catalogue.on_batch, client=client)
    # then both sets came through once
    assert Counter(catalogue.delivered) == Counter(ids(repository))
    assert not final.running and final.set_index == 0
    assert [r.get("set") for r in live.requests if "metadataPrefix" in r] == ["bl", "dnb"]


def test_the_repository_s_errors_come_back_precisely(live, client):
    with pytest.raises(OAIError) as caught:
        harvest(full_state(live.url, metadata_prefix="oai_dc"), on_batch=print, client=client)
    assert caught.value.code == "cannotDisseminateFormat"
    assert "oai_dc" in caught.value.message

    with pytest.raises(OAIError) as caught:
        client.request("ListRecords", metadataPrefix="marc21", **{"from": "last tuesday"})
    assert caught.value.code == "badArgument" and "last tuesday" in caught.value.message

    with pytest.raises(OAIError) as caught:
        client.request("Harvest")
    assert caught.value.code == "badVerb" and "Harvest" in caught.value.message

    with pytest.raises(OAIError) as caught:
        client.get_record("oai:kede.test:nowhere", "marc21")
    assert caught.value.code == "idDoesNotExist"
    assert isinstance(caught.value, oai.HarvestError)


def test_get_record_of_a_live_and_a_deleted_record(client):
    record = client.get_record("oai:kede.test:bl:0", "marc21")
    assert record.marc is not None and record.marc["245"] is not None
    gone = client.get_record("oai:kede.test:bl:3", "marc21")
    assert gone.deleted and gone.raw is None


# --- HTTP trouble -----------------------------------------------------------------------------


def test_503_with_retry_after_is_waited_for(live, repository, client, waits):
    live.faults.append(Fault(headers=[("Retry-After", "7")]))
    catalogue = Catalogue()
    final = harvest(full_state(live.url), on_batch=catalogue.on_batch, client=client)
    assert waits == [7.0]
    assert final.records == len(repository.items)


def test_retry_after_is_capped_and_backoff_doubles(live, client, waits):
    live.faults.extend([Fault(headers=[("Retry-After", "86400")]), Fault(status="502 Bad Gateway")])
    assert client.identify().granularity == SECONDS
    assert waits == [30.0, 1.0]


def test_a_server_that_keeps_failing_gives_a_transport_error(live, client, waits):
    live.faults.extend(Fault(status="500 Internal Server Error") for _ in range(3))
    with pytest.raises(TransportError) as caught:
        client.identify()
    assert caught.value.code == "http-500"
    assert waits == [0.5, 1.0]


def test_a_refused_request_is_not_retried(live, client, waits):
    live.faults.append(Fault(status="403 Forbidden", body=b"go away"))
    with pytest.raises(TransportError) as caught:
        client.identify()
    assert caught.value.code == "http-403" and waits == []


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status="200 OK", body=b"", delay=1.5),
        Fault(status="200 OK", body=b'<?xml version="1.0"?><OAI-PMH>', stall=1.5),
    ],
    ids=["no-answer", "body-stalls"],
)
def test_a_timeout_is_retried_and_then_reported(live, waits, fault):
    impatient = OAIClient(
        live.url, retry=RetryPolicy(attempts=2, backoff=0.25, timeout=0.3), sleep=waits.append
    )
    live.faults.append(fault)
    assert impatient.identify().granularity == SECONDS
    assert waits == [0.25]
    live.faults.extend([fault, fault])
    with pytest.raises(TransportError) as caught:
        impatient.identify()
    assert caught.value.code == "timeout"


def test_retry_after_as_an_http_date(live, client, waits):
    live.faults.append(Fault(headers=[("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")]))
    client.identify()
    assert waits == [0.0]  # a date already past: go again at once


def test_a_broken_page_mid_harvest_is_refused_and_the_harvest_can_resume(live, repository, client):
    # given a repository that sends a truncated second page
    truncated = b'<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
    truncated += b"<responseDate>2024-01-01T00:00:00Z</responseDate><ListRecords><record>"
    page_two = Fault(status="200 OK", body=truncated)
    catalogue = Catalogue(after_page=lambda n: live.faults.append(page_two) if n == 1 else None)
    # when it is harvested, the page is refused, not half-read
    with pytest.raises(MalformedResponse) as caught:
        harvest(full_state(live.url), on_batch=catalogue.on_batch, client=client)
    assert caught.value.code == "malformed-xml"
    assert len(catalogue.batches) == 1
    # and the next run resumes from the committed page
    catalogue.after_page = None
    harvest(catalogue.state, on_batch=catalogue.on_batch, client=client)
    assert Counter(catalogue.delivered) == Counter(ids(repository))


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE OAI-PMH [<!ENTITY secret SYSTEM "file:///etc/hostname">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2024-01-01T00:00:00Z</responseDate>
<Identify><repositoryName>&secret;</repositoryName><granularity>YYYY-MM-DD</granularity></Identify>
</OAI-PMH>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
<error code="badVerb">&lol3;</error></OAI-PMH>"""


@pytest.mark.parametrize("body", [XXE, LAUGHS], ids=["external-entity", "entity-expansion"])
def test_documents_with_a_dtd_are_refused(live, client, body):
    with pytest.raises(MalformedResponse) as caught:
        oai.parse_response(body)
    assert caught.value.code == "dtd-refused"
    live.faults.append(Fault(status="200 OK", body=body))
    with pytest.raises(MalformedResponse):
        client.identify()


def test_state_round_trips_through_json():
    state = HarvestState(base_url="https://opac.example.org/oai", sets=["a", "b"], running=True)
    state.resumption_token = "tok&en=1"
    assert HarvestState.from_json(state.to_json()) == state
    assert HarvestState.from_dict({**state.to_dict(), "from_a_newer_version": 1}) == state


# --- real saved responses ---------------------------------------------------------------------


def saved(folder: str, name: str) -> Path:
    return next((SAVED / folder).glob(f"*{name}"))


def serve(routes: dict[str, str]):
    """A static repository: routes map a verb, or `token:<resumptionToken>`, to a saved file."""

    def answer(params: dict[str, str]) -> Path | None:
        key = (
            f"token:{params['resumptionToken']}" if "resumptionToken" in params else params["verb"]
        )
        target = routes.get(key)
        return saved(*target.split("/", 1)) if target else None

    return LiveServer(saved_responses_app(answer))


@needs_shared
def test_sickle_s_four_page_list_with_deleted_records():
    routes = {
        "Identify": "sickle/Identify.xml",
        "ListRecords": "sickle/ListRecords.xml",
        "token:ListRecords2.xml": "sickle/ListRecords2.xml",
        "token:ListRecords3.xml": "sickle/ListRecords3.xml",
        "token:ListRecords4.xml": "sickle/ListRecords4.xml",
    }
    catalogue = Catalogue()
    with serve(routes) as server:
        state = full_state(server.url, metadata_prefix="oai_dc")
        final = harvest(state, on_batch=catalogue.on_batch, client=OAIClient(server.url))
    assert [len(b) for b in catalogue.batches] == [2, 2, 2, 2]
    assert (final.records, final.deleted, final.unreadable) == (8, 4, 0)
    deleted = [r for b in catalogue.batches for r in b if r.deleted]
    assert deleted[0].identifier == "oai:test.example.com:1585310" and deleted[0].raw is None
    # Identify said days: the mark is the day of the first responseDate
    assert final.granularity == DAY and final.from_datestamp == "2013-02-27"
    assert final.complete_list_size is None


@needs_shared
def test_vufind_s_marc21_page_then_a_page_with_a_deletion_and_foreign_metadata():
    routes = {
        "ListRecords": "vufindharvest/tests__fixtures__marc.xml",
        "token:fakeresumptiontoken": "vufindharvest/tests__fixtures__list_records_response.xml",
    }
    catalogue = Catalogue()
    with serve(routes) as server:
        state = full_state(server.url, sets=["TESTING_DIGI_TEST"], granularity=SECONDS)
        final = harvest(state, on_batch=catalogue.on_batch, client=OAIClient(server.url))
        assert server.requests[0]["set"] == "TESTING_DIGI_TEST"
    marc_page, second = catalogue.batches
    assert len(marc_page) == 100 and all(r.marc is not None for r in marc_page)
    titles = [bib_from_record(r.marc).title for r in marc_page]
    assert titles[0].startswith("Der Soldat, oder, Abhandlung vom Kriegs-Stand")
    assert all("TESTING_DIGI_TEST" in r.sets for r in marc_page)
    gone, foreign = second
    assert gone.deleted and gone.identifier == "fake:foo1" and gone.datestamp is None
    assert foreign.marc is None and "not MARCXML" in foreign.error and foreign.raw
    assert (final.records, final.deleted, final.unreadable) == (102, 1, 1)
    assert final.from_datestamp == "2016-06-01T07:57:34Z"


@needs_shared
def test_traject_s_pages_with_an_empty_final_token():
    routes = {
        "ListRecords": "traject/test__test_support__oai-pmh-one-record-first.xml",
        "token:dummy_resumption": "traject/test__test_support__oai-pmh-one-record-2.xml",
    }
    catalogue = Catalogue()
    with serve(routes) as server:
        state = full_state(server.url, metadata_prefix="oai_dc", granularity=SECONDS)
        final = harvest(state, on_batch=catalogue.on_batch, client=OAIClient(server.url))
    assert catalogue.delivered == [
        "oai:sciencehistoryorg:fq977t769",
        "oai:sciencehistoryorg:w0892992w",
    ]
    assert not final.running and final.complete_list_size is None


@needs_shared
def test_a_namespace_less_page_reads_like_the_proper_one():
    def identifiers(name: str) -> list[str]:
        document = oai.parse_response(saved("traject", name).read_bytes())
        listing = document.payload("ListRecords")
        return [oai._record(r, "oai_dc").identifier for r in oai._children(listing, "record")]

    proper = identifiers("sample-oai-pmh.xml")
    assert len(proper) == 10 and identifiers("sample-oai-no-namespace.xml") == proper


@needs_shared
def test_pyoai_s_recorded_list_with_deletions():
    catalogue = Catalogue()
    with serve({"ListRecords": "pyoai/src__oaipmh__tests__fake2__00002.xml"}) as server:
        state = full_state(server.url, metadata_prefix="oai_dc", granularity=SECONDS)
        final = harvest(state, on_batch=catalogue.on_batch, client=OAIClient(server.url))
    assert (final.records, final.deleted) == (81, 2)
    assert final.from_datestamp == "2004-02-17T13:44:55Z"


ERROR_FILES = [
    ("sickle/badArgument.xml", "badArgument"),
    ("sickle/cannotDisseminateFormat.xml", "cannotDisseminateFormat"),
    ("sickle/idDoesNotExist.xml", "idDoesNotExist"),
    ("sickle/noSetHierarchy.xml", "noSetHierarchy"),
    ("sickle/undefinedError.xml", "undefinedError"),
    ("sickle/badResumptionToken.xml", "badResumptionToken"),
    ("vufindharvest/tests__fixtures__arbitrary_error_response.xml", "foo"),
]


@needs_shared
@pytest.mark.parametrize(("target", "code"), ERROR_FILES, ids=[c for _, c in ERROR_FILES])
def test_saved_error_answers_raise_with_their_code(target, code):
    with serve({"ListRecords": target}) as server:
        state = full_state(server.url, granularity=DAY)
        with pytest.raises(OAIError) as caught:
            harvest(state, on_batch=print, client=OAIClient(server.url))
    assert caught.value.code == code
    text = saved(*target.split("/", 1)).read_text()
    if code == "foo":
        assert caught.value.message == "bar"
    if code == "noSetHierarchy":
        assert caught.value.message == "This repository does not support sets"
    assert code in text


@needs_shared
def test_a_saved_no_records_match_is_an_empty_harvest():
    catalogue = Catalogue()
    with serve({"ListRecords": "sickle/noRecordsMatch.xml"}) as server:
        state = full_state(server.url, granularity=DAY, from_datestamp="2001-01-01")
        final = harvest(state, on_batch=catalogue.on_batch, client=OAIClient(server.url))
    assert catalogue.batches == [[]]
    assert final.records == 0 and final.from_datestamp == "2002-02-08"


@needs_shared
def test_vufind_s_expired_token_is_retried_a_few_times_then_reported():
    routes = {
        "ListRecords": "vufindharvest/tests__fixtures__list_records_token_response.xml",
        "token:more": "vufindharvest/tests__fixtures__token_error_response.xml",
    }
    catalogue = Catalogue()
    with serve(routes) as server:
        state = full_state(server.url, metadata_prefix="oai_dc", granularity=SECONDS)
        with pytest.raises(OAIError) as caught:
            harvest(state, on_batch=catalogue.on_batch, client=OAIClient(server.url))
        first_requests = [r for r in server.requests if "metadataPrefix" in r]
    assert caught.value.code == "badResumptionToken"
    assert caught.value.message == "Invalid or expired resumption token"
    assert len(first_requests) == 4  # the first list, then three restarts


@needs_shared
@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("sickle/ListRecordsBroken.xml", "malformed-xml"),
        ("pyoai/src__oaipmh__tests__fake3__00001.xml", "malformed-xml"),
        ("pyoai/src__oaipmh__tests__fake4__00001.xml", "malformed-xml"),
        ("pyoai/src__oaipmh__tests__fake1__00006.xml", "not-oai-pmh"),
        ("sickle/Identify.xml", "not-oai-pmh"),
    ],
)
def test_saved_broken_pages_are_refused(target, code):
    with serve({"ListRecords": target}) as server:
        state = full_state(server.url, granularity=DAY)
        with pytest.raises(MalformedResponse) as caught:
            harvest(state, on_batch=print, client=OAIClient(server.url))
    assert caught.value.code == code


@needs_shared
@pytest.mark.parametrize(
    ("target", "granularity", "earliest"),
    [
        ("sickle/Identify.xml", DAY, "1970-01-01T00:00:00Z"),
        ("vufindharvest/tests__fixtures__identify_response.xml", SECONDS, "2000-01-01T00:00:00Z"),
        ("pyoai/src__oaipmh__tests__fake1__00001.xml", SECONDS, "2001-01-01T00:00:00Z"),
        ("pyoai/src__oaipmh__tests__fake5__00001.xml", SECONDS, None),
    ],
)
def test_saved_identify_answers(target, granularity, earliest):
    with serve({"Identify": target}) as server:
        info = OAIClient(server.url).identify()
    assert info.granularity == granularity and info.earliest_datestamp == earliest
    assert info.name and info.admin_emails


@needs_shared
@pytest.mark.parametrize(
    ("target", "count", "first"),
    [
        ("sickle/ListSets.xml", None, None),
        ("vufindharvest/tests__fixtures__list_sets_response.xml", 2, "Audio (Music)"),
        ("pyoai/src__oaipmh__tests__fake1__00000.xml", None, "3"),
        ("sickle/noSetHierarchy.xml", 0, None),
    ],
)
def test_saved_set_lists(target, count, first):
    with serve({"ListSets": target}) as server:
        sets = OAIClient(server.url).list_sets()
    assert sets if count is None else len(sets) == count
    if first:
        assert sets[0].spec == first
    assert all(s.spec and s.name for s in sets)


@needs_shared
def test_an_unreadable_marc_record_is_reported_and_the_harvest_goes_on(live, repository, client):
    # given a real Alma record with a datafield whose tag is empty
    broken = marcxml_records(
        SHARED / "marc" / "bibdata-princeton" / "spec__fixtures__files__alma__field_with_no_tag.xml"
    )[0]
    repository.add("oai:kede.test:bl:broken", broken, ["bl"])
    catalogue = Catalogue()
    final = harvest(full_state(live.url), on_batch=catalogue.on_batch, client=client)
    record = catalogue.holdings["oai:kede.test:bl:broken"]
    assert record.marc is None and "datafield with tag ''" in record.error
    assert record.raw and b"Pawnee Bill" in record.raw
    assert final.unreadable == 1 and final.records == len(repository.items)
