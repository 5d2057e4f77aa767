"""A real OAI-PMH repository on loopback for the harvester's tests.

The protocol side is pyoai's server (``oaipmh.server.ServerBase``: argument validation, the
envelope, error answers), fed by :class:`MarcRepository`, a small in-memory catalogue of MARCXML
records. Two things of pyoai 2.5.0 are replaced, and only here:

- its resumption-token decoder calls ``cgi.parse_qs``, removed in Python 3.8 (fixed upstream in
  infrae/pyoai#46, never released), so every request with a token fails; the repository issues
  and reads its own tokens, which also lets a test expire them;
- it writes every datestamp with seconds, so a day-granularity repository writes days itself.

:class:`LiveServer` serves any WSGI app on 127.0.0.1 (a free port) in a thread, logs each
request's parameters, and can answer the next requests with queued faults (503, a hang, a
broken page) before handing over to the app.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from lxml import etree
from oaipmh import common, error
from oaipmh.datestamp import datetime_to_datestamp
from oaipmh.metadata import MetadataRegistry
from oaipmh.server import ServerBase, XMLTreeServer, nsoai

MARC_NS = "http://www.loc.gov/MARC21/slim"
DAY = "YYYY-MM-DD"
SECONDS = "YYYY-MM-DDThh:mm:ssZ"


def utcnow() -> datetime:
    """pyoai wants naive UTC datetimes, to the second."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def marcxml_records(path: Path, limit: int | None = None) -> list[bytes]:
    """The MARCXML ``record`` elements of a file, each serialised on its own."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    found = [el for el in root.iter() if isinstance(el.tag, str) and el.tag.endswith("record")]
    return [etree.tostring(el, encoding="UTF-8") for el in found[:limit]]


# --- the repository ---------------------------------------------------------------------------


@dataclass
class Item:
    identifier: str
    datestamp: datetime
    sets: tuple[str, ...]
    marcxml: bytes | None
    deleted: bool = False


@dataclass
class MarcRepository:
    """An in-memory repository behind pyoai's server (its ResumptionOAIPMH interface)."""

    granularity: str = SECONDS
    batch_size: int = 5
    items: dict[str, Item] = field(default_factory=dict)
    set_names: dict[str, str] = field(default_factory=dict)
    generation: int = 0

    # changes, stamped now
    def add(self, identifier: str, marcxml: bytes, sets: Iterable[str], when=None) -> None:
        self.items[identifier] = Item(identifier, when or utcnow(), tuple(sets), marcxml)

    def update(self, identifier: str) -> None:
        self.items[identifier].datestamp = utcnow()

    def delete(self, identifier: str) -> None:
        item = self.items[identifier]
        item.deleted, item.marcxml, item.datestamp = True, None, utcnow()

    def expire_tokens(self) -> None:
        self.generation += 1

    # the verbs, under pyoai's names
    def identify(self) -> common.Identify:
        earliest = min((i.datestamp for i in self.items.values()), default=utcnow())
        return common.Identify(
            repositoryName="Kede test repository",
            baseURL="http://127.0.0.1/oai",
            protocolVersion="2.0",
            adminEmails=["oai@example.org"],
            earliestDatestamp=earliest,
            deletedRecord="persistent",
            granularity=self.granularity,
            compression=["identity"],
            toolkit_description=False,
        )

    def listMetadataFormats(self, identifier=None):
        return [("marc21", "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd", MARC_NS)]

    def listSets(self, resumptionToken=None):
        return [(spec, name, None) for spec, name in self.set_names.items()], None

    def getRecord(self, metadataPrefix, identifier):
        self._check_prefix(metadataPrefix)
        item = self.items.get(identifier)
        if item is None:
            raise error.IdDoesNotExistError(f"{identifier} is not in this repository")
        return self._entry(item)

    def listRecords(
        self,
        metadataPrefix=None,
        set=None,
        from_=None,
        until=None,
        resumptionToken=None,
    ):
        if resumptionToken is not None:
            args = self.token_arguments(resumptionToken)
            after = (args["after_date"], args["after_id"])
            metadataPrefix, set = args["metadataPrefix"], args.get("set")
            from_ = datetime.fromisoformat(args["from"]) if args.get("from") else None
            until = datetime.fromisoformat(args["until"]) if args.get("until") else None
        else:
            after = None
        self._check_prefix(metadataPrefix)
        if set is not None and set not in self.set_names:
            raise error.NoRecordsMatchError(f"no set {set}")
        matching = sorted(
            (i for i in self.items.values() if self._matches(i, set, from_, until)),
            key=lambda i: (i.datestamp, i.identifier),
        )
        if after is not None:
            # keyset paging: a record changed mid-harvest moves to the end, none is skipped
            matching = [i for i in matching if (i.datestamp.isoformat(), i.identifier) > after]
        page, rest = matching[: self.batch_size], matching[self.batch_size :]
        token = None
        if rest:
            last = page[-1]
            token = urlencode(
                {
                    "g": self.generation,
                    "metadataPrefix": metadataPrefix,
                    "set": set or "",
                    "from": from_.isoformat() if from_ else "",
                    "until": until.isoformat() if until else "",
                    "after_date": last.datestamp.isoformat(),
                    "after_id": last.identifier,
                }
            )
        return [self._entry(i) for i in page], token

    def token_arguments(self, token: str) -> dict[str, str]:
        args = {k: v[0] for k, v in parse_qs(token, keep_blank_values=True).items()}
        if args.get("g") != str(self.generation) or "after_id" not in args:
            raise error.BadResumptionTokenError(f"expired or unknown resumptionToken {token!r}")
        return {k: v for k, v in args.items() if v}

    def _check_prefix(self, prefix: str) -> None:
        if prefix != "marc21":
            raise error.CannotDisseminateFormatError(f"metadataPrefix {prefix!r} is not offered")

    def _matches(self, item: Item, set_spec, from_, until) -> bool:
        stamp = item.datestamp
        if self.granularity == DAY:
            stamp = stamp.replace(hour=0, minute=0, second=0)
        return (
            (set_spec is None or set_spec in item.sets)
            and (from_ is None or stamp >= from_)
            and (until is None or stamp <= until)
        )

    def _entry(self, item: Item):
        header = common.Header(None, item.identifier, item.datestamp, list(item.sets), item.deleted)
        return header, item.marcxml, None


# --- pyoai's server, with our tokens --------------------------------------------------------


class _TreeServer(XMLTreeServer):
    def _outputResuming(self, element, input_func, output_func, kw):
        # pyoai's own, but reading tokens through the repository (see the module docstring)
        if "resumptionToken" in kw:
            result, token = input_func(resumptionToken=kw["resumptionToken"])
            token_kw = self._server.token_arguments(kw["resumptionToken"])
        else:
            result, token = input_func(**kw)
            if not result:
                raise error.NoRecordsMatchError("No records match for request.")
            token_kw = kw
        output_func(element, result, token_kw)
        if token is not None:
            etree.SubElement(element, nsoai("resumptionToken")).text = token

    def _outputHeader(self, element, header):
        super()._outputHeader(element, header)
        if self._server.granularity == DAY:
            stamp = element[-1].find(nsoai("datestamp"))
            stamp.text = datetime_to_datestamp(header.datestamp(), day_granularity=True)


def _write_marcxml(element, metadata: bytes) -> None:
    element.append(etree.fromstring(metadata))


class OAIServer(ServerBase):
    def __init__(self, repository: MarcRepository) -> None:
        registry = MetadataRegistry()
        registry.registerWriter("marc21", _write_marcxml)
        super().__init__(repository, registry)
        self._tree_server = _TreeServer(repository, registry)
        self.repository = repository

    def handleRequest(self, request_kw):
        if self.repository.granularity == DAY:
            for name in ("from", "until"):
                if "T" in request_kw.get(name, ""):
                    exc = error.BadArgumentError(f"{name}: this repository's granularity is days")
                    return self.handleException(request_kw, (type(exc), exc, None))
        return super().handleRequest(request_kw)


def request_params(environ: dict[str, Any]) -> dict[str, str]:
    if "kede.params" in environ:
        return environ["kede.params"]
    if environ.get("REQUEST_METHOD") == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        query = environ["wsgi.input"].read(length).decode()
    else:
        query = environ.get("QUERY_STRING", "")
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    environ["kede.params"] = params
    return params


def _xml(start_response, body: bytes, status: str = "200 OK") -> list[bytes]:
    start_response(
        status, [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


def oai_app(repository: MarcRepository) -> Callable:
    server = OAIServer(repository)

    def app(environ, start_response):
        return _xml(start_response, server.handleRequest(request_params(environ)))

    return app


def saved_responses_app(answer: Callable[[dict[str, str]], Path | None]) -> Callable:
    """Serves saved response files: ``answer(params)`` names the file for a request."""

    def app(environ, start_response):
        path = answer(request_params(environ))
        if path is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no saved response for this request"]
        return _xml(start_response, path.read_bytes())

    return app


# --- the live server --------------------------------------------------------------------------


@dataclass
class Fault:
    status: str = "503 Service Unavailable"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b"try later"
    delay: float = 0.0  # before the status line
    stall: float = 0.0  # after the first byte of the body


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that timed out and hung up is expected in the tests


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


class LiveServer:
    def __init__(self, app: Callable) -> None:
        self.app = app
        self.requests: list[dict[str, str]] = []
        self.faults: deque[Fault] = deque()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}/oai"

    def __enter__(self) -> LiveServer:
        self._httpd = make_server(
            "127.0.0.1",
            0,
            self._serve,
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _serve(self, environ, start_response):
        with self._lock:
            self.requests.append(request_params(environ))
            fault = self.faults.popleft() if self.faults else None
        if fault is None:
            return self.app(environ, start_response)
        time.sleep(fault.delay)
        start_response(fault.status, [("Content-Type", "text/plain"), *fault.headers])
        if not fault.stall:
            return [fault.body]
        return self._stalling(fault)

    @staticmethod
    def _stalling(fault: Fault):
        yield fault.body[:1]
        time.sleep(fault.stall)
        yield fault.body[1:]


def stamped(start: datetime, count: int) -> list[datetime]:
    """Old, distinct datestamps for a repository's initial records."""
    return [start + timedelta(minutes=i) for i in range(count)]
