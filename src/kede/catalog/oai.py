"""Harvesting a member library's catalogue over OAI-PMH 2.0. Pure: no Django.

The Django layer calls :func:`harvest` with a saved :class:`HarvestState` and an ``on_batch``
callback. Every page of ``ListRecords`` is handed over as one batch together with the state to
save *with* it, in the same transaction: a crash then resumes from the last committed
resumption token, and the records of the page in flight are fetched again (ingest is
idempotent, so the overlap is harmless).

Choices, with the OAI-PMH 2.0 specification and its harvester guidelines:

- **High-water mark.** When a harvest completes, the next one asks ``from`` = the
  ``responseDate`` of the *first* request of the completed run, at the repository's
  granularity (Identify: day or seconds). Anything changed after the run started carries a
  datestamp at or after that moment, so nothing is lost even if it changed while we were
  paging; ``from`` is inclusive, so the boundary second (or day) is harvested twice, which is
  safe. The largest record datestamp seen is *not* used: a record committed late with an
  earlier datestamp would be skipped. Only when a repository sends no usable ``responseDate``
  does the largest datestamp seen serve as the fallback.
- **Crash.** The state handed to ``on_batch`` is where to continue *after* that page. The
  saved resumption token is tried first; if the repository rejects it (``badResumptionToken``,
  typically because it expired) the current list is restarted from the saved ``from``.
- **Sets.** One list per set spec (OAI-PMH allows one ``set`` per request), in order; the
  run's high-water mark is set when the last list ends.
- **Deleted records** (``status="deleted"``) arrive flagged, without metadata.
- **noRecordsMatch** is an empty list, not an error.
- **XML safety.** sickle parses with ``recover=True`` and so silently accepts truncated or
  broken pages; we only use its HTTP layer and parse the raw bytes ourselves with lxml, with
  entity resolution, DTD loading and network access off, and refuse any document carrying a
  DTD. MARCXML is converted to pymarc records from that same safe tree (pymarc's
  ``parse_xml_to_array`` re-parses the text with ``xml.sax``).
- **HTTP.** Timeouts, connection errors and 429/5xx are retried with exponential backoff;
  ``Retry-After`` (seconds or HTTP date) is honoured but capped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pymarc
import requests
from lxml import etree
from sickle import Sickle

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
MARC_NS = "http://www.loc.gov/MARC21/slim"
DAY = "YYYY-MM-DD"
SECONDS = "YYYY-MM-DDThh:mm:ssZ"
USER_AGENT = "Kede OAI-PMH harvester (sickle)"
MAX_RESPONSE_BYTES = 200 * 1024 * 1024
_MAX_TOKEN_RESTARTS = 3


# --- errors -----------------------------------------------------------------------------------


class HarvestError(Exception):
    """Base of every harvesting failure. ``code`` is the OAI-PMH error code for errors the
    repository reported, otherwise a short name of what went wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class OAIError(HarvestError):
    """The repository answered with OAI-PMH ``<error>`` elements (all kept in ``errors``)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        code, message = errors[0]
        if len(errors) > 1:
            message = "; ".join(f"{c}: {m}" if m else c for c, m in errors)
        super().__init__(code, message)
        self.errors = errors


class TransportError(HarvestError):
    """HTTP failed: a refused status, or retries exhausted on timeouts or 5xx answers."""


class MalformedResponse(HarvestError):
    """The answer is not a well-formed, DTD-free OAI-PMH document of the expected shape."""


# --- data -------------------------------------------------------------------------------------


@dataclass
class HarvestState:
    """Everything needed to continue harvesting one source; JSON-serialisable.

    ``from_datestamp`` is the high-water mark of the last *completed* run (``None``: harvest
    everything). While a run is in progress (``running``), ``set_index``,
    ``resumption_token`` and ``cursor`` say where it stands, and the counts describe it.
    """

    base_url: str
    metadata_prefix: str = "marc21"
    sets: list[str] = field(default_factory=list)
    from_datestamp: str | None = None
    granularity: str | None = None
    running: bool = False
    set_index: int = 0
    resumption_token: str | None = None
    cursor: int = 0
    complete_list_size: int | None = None
    run_started: str | None = None
    max_datestamp: str | None = None
    pages: int = 0
    records: int = 0
    deleted: int = 0
    unreadable: int = 0
    restarts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HarvestState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> HarvestState:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True, eq=False)
class HarvestedRecord:
    """One ``<record>`` of a list. ``raw`` is the metadata element as UTF-8 XML; ``marc`` is
    set when it is readable MARCXML, otherwise ``error`` says why not (for MARC formats)."""

    identifier: str
    datestamp: str | None
    deleted: bool
    sets: tuple[str, ...] = ()
    raw: bytes | None = None
    marc: pymarc.Record | None = None
    error: str = ""


@dataclass(frozen=True)
class RecordPage:
    records: list[HarvestedRecord]
    resumption_token: str | None
    cursor: int | None
    complete_list_size: int | None
    response_date: datetime | None


@dataclass(frozen=True)
class RepositoryInfo:
    name: str
    base_url: str
    protocol_version: str
    granularity: str
    earliest_datestamp: str | None
    deleted_record: str
    admin_emails: tuple[str, ...]


@dataclass(frozen=True)
class OAISet:
    spec: str
    name: str


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries per request; waits start at ``backoff`` seconds and double; no wait,
    not even one asked for by ``Retry-After``, exceeds ``max_wait``."""

    attempts: int = 5
    backoff: float = 2.0
    max_wait: float = 300.0
    timeout: float = 60.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})


# --- datestamps -------------------------------------------------------------------------------


def parse_datestamp(text: str) -> datetime:
    """A UTC datestamp (day or seconds, tolerating fractions and offsets) as an aware datetime.
    Raises ValueError."""
    text = text.strip()
    if len(text) == 10:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_datestamp(value: datetime, granularity: str | None) -> str:
    value = value.astimezone(UTC)
    if granularity == SECONDS:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.strftime("%Y-%m-%d")


def _granularity(text: str | None) -> str:
    # Every repository must support day granularity; anything unknown falls back to it.
    return SECONDS if (text or "").strip() == SECONDS else DAY


# --- XML --------------------------------------------------------------------------------------


def _parse_xml(body: bytes) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise MalformedResponse("malformed-xml", str(exc)) from exc
    if root is None:
        raise MalformedResponse("malformed-xml", "empty document")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise MalformedResponse("dtd-refused", "the response declares a DTD; refused")
    return root


def _is(element: Any, name: str) -> bool:
    # OAI-PMH elements; a namespace-less envelope (seen in the wild) is tolerated.
    return isinstance(element.tag, str) and element.tag in (f"{{{OAI_NS}}}{name}", name)


def _child(element: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in element if _is(c, name)), None)


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in element if _is(c, name)]


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _int_attr(element: etree._Element, name: str) -> int | None:
    try:
        return int(element.get(name, ""))
    except ValueError:
        return None


@dataclass(frozen=True)
class OAIDocument:
    root: etree._Element
    response_date: datetime | None
    no_records: bool

    def payload(self, verb: str) -> etree._Element | None:
        return _child(self.root, verb)


def parse_response(body: bytes) -> OAIDocument:
    """Check and read one OAI-PMH response. Raises OAIError for ``<error>`` answers other
    than noRecordsMatch, MalformedResponse for anything that is not OAI-PMH."""
    root = _parse_xml(body)
    if not _is(root, "OAI-PMH"):
        raise MalformedResponse("not-oai-pmh", f"root element is {root.tag!r}")
    errors = [
        (e.get("code") or "unknown", " ".join(_text(e).split())) for e in _children(root, "error")
    ]
    if errors and any(code != "noRecordsMatch" for code, _ in errors):
        raise OAIError([e for e in errors if e[0] != "noRecordsMatch"])
    try:
        response_date = parse_datestamp(_text(_child(root, "responseDate")))
    except ValueError:
        response_date = None
    return OAIDocument(root, response_date, no_records=bool(errors))


# --- MARCXML ----------------------------------------------------------------------------------


def _local(element: etree._Element) -> tuple[str | None, str]:
    qname = etree.QName(element)
    return qname.namespace, qname.localname


def _is_marcxml(element: etree._Element) -> bool:
    namespace, name = _local(element)
    # Namespace-less MARCXML is common; inside an OAI-PMH envelope with a default namespace
    # it may come out in the OAI namespace (nothing of OAI-PMH's own is called "record" there).
    return name in ("record", "collection") and namespace in (MARC_NS, None, OAI_NS)


def marc_from_element(element: etree._Element) -> pymarc.Record:
    """A MARCXML ``record`` (or a ``collection`` of exactly one) as a pymarc Record, from an
    already parsed tree. Raises ValueError with the reason when it is not usable MARCXML."""
    _ns, name = _local(element)
    if name == "collection":
        inner = [c for c in element if isinstance(c.tag, str) and _local(c)[1] == "record"]
        if len(inner) != 1:
            raise ValueError(f"a MARCXML collection of {len(inner)} records, expected 1")
        element = inner[0]
    record = pymarc.Record()
    leader = None
    for child in element:
        if not isinstance(child.tag, str):
            continue
        kind = _local(child)[1]
        if kind == "leader":
            leader = child.text or ""
            if len(leader) != 24:
                raise ValueError(f"leader of {len(leader)} characters, expected 24")
            record.leader = pymarc.Leader(leader)
        elif kind in ("controlfield", "datafield"):
            record.add_field(_marc_field(child, kind))
    if leader is None:
        raise ValueError("no leader")
    return record


def _marc_field(element: etree._Element, kind: str) -> pymarc.Field:
    tag = element.get("tag") or ""
    if len(tag) != 3 or not tag.isalnum():
        raise ValueError(f"{kind} with tag {tag!r}")
    if kind == "controlfield":
        return pymarc.Field(tag=tag, data=element.text or "")
    indicators = []
    for attr in ("ind1", "ind2"):
        value = element.get(attr, " ") or " "
        if len(value) != 1:
            raise ValueError(f"field {tag}: {attr} {value!r} is not one character")
        indicators.append(value)
    subfields = []
    for sub in element:
        if not isinstance(sub.tag, str) or _local(sub)[1] != "subfield":
            continue
        code = sub.get("code") or ""
        if len(code) != 1:
            raise ValueError(f"field {tag}: subfield code {code!r}")
        subfields.append(pymarc.Subfield(code=code, value=sub.text or ""))
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(*indicators), subfields=subfields)


def _looks_marc(prefix: str) -> bool:
    return "marc" in prefix.lower()


def _record(element: etree._Element, prefix: str) -> HarvestedRecord:
    header = _child(element, "header")
    if header is None:
        return HarvestedRecord("", None, False, error="record without a header")
    identifier = _text(_child(header, "identifier"))
    datestamp = _text(_child(header, "datestamp")) or None
    sets = tuple(_text(s) for s in _children(header, "setSpec"))
    deleted = header.get("status") == "deleted"
    if deleted:
        return HarvestedRecord(identifier, datestamp, True, sets)
    problem = "" if identifier else "header without an identifier"
    metadata = _child(element, "metadata")
    content = None
    if metadata is not None:
        content = next((c for c in metadata if isinstance(c.tag, str)), None)
    if content is None:
        return HarvestedRecord(identifier, datestamp, False, sets, error=problem or "no metadata")
    raw = etree.tostring(content, encoding="UTF-8")
    marc = None
    if _is_marcxml(content):
        try:
            marc = marc_from_element(content)
        except ValueError as exc:
            problem = problem or f"unreadable MARCXML: {exc}"
    elif _looks_marc(prefix):
        problem = problem or f"metadata is not MARCXML: <{content.tag}>"
    return HarvestedRecord(identifier, datestamp, False, sets, raw, marc, problem)


# --- client -----------------------------------------------------------------------------------


class _Transport(Sickle):
    """sickle's request layer (GET, parameters, request arguments) with bounded retries,
    timeouts and a size cap. The body is returned as bytes: sickle's own parser recovers
    from broken XML, ours refuses it."""

    def __init__(self, endpoint: str, retry: RetryPolicy, sleep: Callable[[float], Any]) -> None:
        super().__init__(
            endpoint,
            max_retries=0,
            timeout=retry.timeout,
            stream=True,
            headers={"User-Agent": USER_AGENT},
        )
        self.retry = retry
        self.sleep = sleep

    def fetch(self, params: dict[str, str]) -> tuple[int, bytes]:
        """One OAI-PMH request through sickle, retried: the final status and body."""
        policy = self.retry
        for attempt in range(1, policy.attempts + 1):
            last = attempt == policy.attempts
            backoff = min(policy.backoff * 2 ** (attempt - 1), policy.max_wait)
            try:
                response = self._request(params)
                if response.status_code in policy.retry_statuses and not last:
                    response.close()
                    self.sleep(_retry_after(response, backoff, policy.max_wait))
                    continue
                return response.status_code, _read_capped(response)
            except requests.RequestException as exc:
                # a timeout, a refused or dropped connection, a body cut short
                if last:
                    code = "timeout" if _timed_out(exc) else "connection-error"
                    raise TransportError(code, f"{self.endpoint}: {exc}") from exc
                self.sleep(backoff)
        raise AssertionError("unreachable")  # pragma: no cover


def _timed_out(exc: BaseException | None) -> bool:
    # a read timeout while streaming the body reaches us wrapped in a ConnectionError
    while exc is not None:
        if isinstance(exc, requests.Timeout | TimeoutError) or "timed out" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _retry_after(response: requests.Response, default: float, cap: float) -> float:
    value = response.headers.get("Retry-After", "").strip()
    wait = default
    if value.isdigit():
        wait = float(value)
    elif value:
        try:
            wait = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            wait = default
    return max(0.0, min(wait, cap))


def _read_capped(response: requests.Response) -> bytes:
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise MalformedResponse("too-large", f"response exceeds {MAX_RESPONSE_BYTES} bytes")
            chunks.append(chunk)
    finally:
        response.close()
    return b"".join(chunks)


class OAIClient:
    """One repository's OAI-PMH verbs. ``sleep`` is injectable so tests need not wait."""

    def __init__(
        self,
        base_url: str,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.base_url = base_url
        self._transport = _Transport(base_url, retry or RetryPolicy(), sleep)

    def request(self, verb: str, **params: str) -> OAIDocument:
        status, body = self._transport.fetch({"verb": verb, **params})
        if not 200 <= status < 300:
            # Some repositories send their OAI-PMH errors with a 4xx status: read those.
            try:
                document = parse_response(body)
            except MalformedResponse:
                raise TransportError(f"http-{status}", f"{verb} at {self.base_url}") from None
        else:
            document = parse_response(body)
        if document.payload(verb) is None and not document.no_records:
            raise MalformedResponse("not-oai-pmh", f"no <{verb}> element in the response")
        return document

    def identify(self) -> RepositoryInfo:
        element = self.request("Identify").payload("Identify")
        if element is None:
            raise MalformedResponse("not-oai-pmh", "no <Identify> element in the response")
        earliest = _text(_child(element, "earliestDatestamp"))
        try:
            parse_datestamp(earliest)
        except ValueError:
            earliest = ""
        return RepositoryInfo(
            name=_text(_child(element, "repositoryName")),
            base_url=_text(_child(element, "baseURL")),
            protocol_version=_text(_child(element, "protocolVersion")),
            granularity=_granularity(_text(_child(element, "granularity"))),
            earliest_datestamp=earliest or None,
            deleted_record=_text(_child(element, "deletedRecord")),
            admin_emails=tuple(_text(e) for e in _children(element, "adminEmail")),
        )

    def list_sets(self) -> list[OAISet]:
        """Every set, across resumption tokens; a repository without sets has none."""
        found: list[OAISet] = []
        params: dict[str, str] = {}
        while True:
            try:
                document = self.request("ListSets", **params)
            except OAIError as exc:
                if exc.code == "noSetHierarchy":
                    return found
                raise
            element = document.payload("ListSets")
            if element is None:
                return found
            for s in _children(element, "set"):
                found.append(OAISet(_text(_child(s, "setSpec")), _text(_child(s, "setName"))))
            token = _text(_child(element, "resumptionToken"))
            if not token or token == params.get("resumptionToken"):
                return found
            params = {"resumptionToken": token}

    def list_records(
        self,
        metadata_prefix: str,
        *,
        from_datestamp: str | None = None,
        set_spec: str | None = None,
        resumption_token: str | None = None,
    ) -> RecordPage:
        """One page of ListRecords: a first request, or the one a token continues."""
        if resumption_token:
            params = {"resumptionToken": resumption_token}
        else:
            params = {"metadataPrefix": metadata_prefix}
            if from_datestamp:
                params["from"] = from_datestamp
            if set_spec:
                params["set"] = set_spec
        document = self.request("ListRecords", **params)
        element = document.payload("ListRecords")
        if element is None:  # noRecordsMatch
            return RecordPage([], None, None, None, document.response_date)
        records = [_record(r, metadata_prefix) for r in _children(element, "record")]
        token_element = _child(element, "resumptionToken")
        token, cursor, size = None, None, None
        if token_element is not None:
            token = _text(token_element) or None
            cursor = _int_attr(token_element, "cursor")
            size = _int_attr(token_element, "completeListSize")
        if token and token == resumption_token:
            raise MalformedResponse("repeated-token", f"the repository returned {token!r} again")
        return RecordPage(records, token, cursor, size, document.response_date)

    def get_record(self, identifier: str, metadata_prefix: str) -> HarvestedRecord:
        document = self.request("GetRecord", identifier=identifier, metadataPrefix=metadata_prefix)
        element = document.payload("GetRecord")
        record = _child(element, "record") if element is not None else None
        if record is None:
            raise MalformedResponse("not-oai-pmh", "GetRecord without a record")
        return _record(record, metadata_prefix)


# --- harvesting -------------------------------------------------------------------------------

OnBatch = Callable[[list[HarvestedRecord], HarvestState], Any]


def harvest(
    state: HarvestState, *, on_batch: OnBatch, client: OAIClient | None = None
) -> HarvestState:
    """Harvest ListRecords page by page, from where ``state`` stands, and return the final
    state. ``on_batch(records, state_after_page)`` is called for every page — also for an
    empty answer, so the new high-water mark can be saved — and should commit both at once.
    An exception from ``on_batch`` stops the harvest and propagates unchanged."""
    client = client or OAIClient(state.base_url)
    if client.base_url != state.base_url:
        raise ValueError(f"client for {client.base_url}, state for {state.base_url}")
    current = replace(state, sets=list(state.sets))
    if current.granularity is None:
        current.granularity = client.identify().granularity
    if not current.running:
        current = _start(current)
    from_datestamp = None
    if current.from_datestamp:
        from_datestamp = format_datestamp(
            parse_datestamp(current.from_datestamp), current.granularity
        )
    specs: list[str | None] = list(current.sets) or [None]
    restarts = 0
    while True:
        if current.set_index >= len(specs):
            current = _finish(current)
            on_batch([], replace(current, sets=list(current.sets)))
            return current
        try:
            page = client.list_records(
                current.metadata_prefix,
                from_datestamp=from_datestamp,
                set_spec=specs[current.set_index],
                resumption_token=current.resumption_token,
            )
        except OAIError as exc:
            if exc.code != "badResumptionToken" or not current.resumption_token:
                raise
            restarts += 1
            if restarts > _MAX_TOKEN_RESTARTS:
                raise
            # The token expired (or the repository restarted): list again from the mark.
            current = replace(
                current,
                resumption_token=None,
                cursor=0,
                complete_list_size=None,
                restarts=current.restarts + 1,
            )
            continue
        current = _advance(current, page, len(specs))
        on_batch(page.records, replace(current, sets=list(current.sets)))
        if not current.running:
            return current


def _start(state: HarvestState) -> HarvestState:
    return replace(
        state,
        running=True,
        set_index=0,
        resumption_token=None,
        cursor=0,
        complete_list_size=None,
        run_started=None,
        max_datestamp=None,
        pages=0,
        records=0,
        deleted=0,
        unreadable=0,
        restarts=0,
    )


def _advance(state: HarvestState, page: RecordPage, lists: int) -> HarvestState:
    run_started = state.run_started
    if run_started is None and page.response_date is not None:
        run_started = format_datestamp(page.response_date, SECONDS)
    state = replace(
        state,
        run_started=run_started,
        max_datestamp=_latest(state.max_datestamp, (r.datestamp for r in page.records)),
        pages=state.pages + 1,
        records=state.records + len(page.records),
        deleted=state.deleted + sum(r.deleted for r in page.records),
        unreadable=state.unreadable + sum(bool(r.error) for r in page.records),
    )
    if page.resumption_token:
        return replace(
            state,
            resumption_token=page.resumption_token,
            cursor=state.cursor + len(page.records),
            complete_list_size=page.complete_list_size,
        )
    state = replace(
        state,
        resumption_token=None,
        cursor=0,
        complete_list_size=None,
        set_index=state.set_index + 1,
    )
    return _finish(state) if state.set_index >= lists else state


def _finish(state: HarvestState) -> HarvestState:
    mark = state.run_started or state.max_datestamp
    from_datestamp = state.from_datestamp
    if mark is not None:
        from_datestamp = format_datestamp(parse_datestamp(mark), state.granularity)
    return replace(
        state,
        from_datestamp=from_datestamp,
        running=False,
        set_index=0,
        resumption_token=None,
        cursor=0,
        complete_list_size=None,
    )


def _latest(current: str | None, datestamps: Iterable[str | None]) -> str | None:
    best = parse_datestamp(current) if current else None
    for text in datestamps:
        if not text:
            continue
        try:
            value = parse_datestamp(text)
        except ValueError:
            continue
        if best is None or value > best:
            best = value
    return format_datestamp(best, SECONDS) if best else None
