"""What storing a record needs from it, computed before the database is touched, and a big
file read, checked and prepared in a process of its own while the loading process stores.
Pure: no Django.

`prepare(outcome)` gives an accepted record's matching form, the values its work shows, how
good a display record it is and its serial coverage: everything the store takes from the
record as read. `outcomes_in_worker` runs the whole pure half of a load (reading, the
pipeline's checks and mapping, `prepare`) in a child process and hands back the outcomes in
the file's order, each with its preparation instead of the record and its extracted data,
so the loading process is left with the database, the matching against stored records and
the index. On a machine with two cores or more, the two halves then run side by side.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import multiprocessing
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from kede.catalog.dedup import MatchRecord, display_quality
from kede.catalog.ingest import (
    CSV_MAPPING,
    FieldMapping,
    IngestError,
    IngestReport,
    Outcome,
    ScopeRule,
)
from kede.catalog.ingest.bib import BibData
from kede.catalog.ingest.mapping import HoldingData
from kede.catalog.ingest.pipeline import count_outcome, outcome_of
from kede.catalog.ingest.readers import FORMAT_CSV, RecordStream
from kede.catalog.ingest.report import ACCEPTED
from kede.catalog.marc import MarcError

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Prepared:
    """An accepted record as the store takes it: `mine` for matching, `display` for its work,
    `quality` to choose the work's display record, `coverage` (text, spans) for a serial."""

    mine: MatchRecord
    display: dict
    quality: int
    coverage: tuple[str, list]


def display_values(bib: BibData) -> dict:
    """The values a work shows when this record is its best."""
    classes = [c.number for c in bib.classifications]
    return {
        "title": bib.title,
        "author": bib.author,
        "publisher": bib.publisher,
        "year": str(bib.year or ""),
        "edition": bib.edition,
        "isbn": bib.isbns[0] if bib.isbns else "",
        "issn": bib.issns[0] if bib.issns else "",
        "format": bib.format,
        "language": bib.language,
        "title_vernacular": bib.title_vernacular,
        "lccn": bib.lccn,
        "oclc": bib.oclc_numbers[0] if bib.oclc_numbers else "",
        "classification": classes[0] if classes else "",
    }


def quality_of(record: Any | None) -> int:
    """`dedup.display_quality` as one sortable number."""
    if record is None:
        return 0
    damaged, rank, source, fields, length = display_quality(record)
    score = (10 + max(damaged, -9)) * 100 + rank * 10 + min(source, 9)
    return (score * 1000 + min(fields, 999)) * 1_000_000 + min(length, 999_999)


def match_record_of(outcome: Outcome) -> MatchRecord:
    """What matching compares: from the MARC record when it has one, else from the
    extracted data (a CSV row)."""
    record = outcome.record
    if record is not None:
        try:
            return MatchRecord.from_marc(record)
        except MarcError:  # no 001 or 245 $a where from_marc wants them: use the extraction
            logger.debug("from_marc refused %s; matching on extracted data", outcome.local_id)
    bib = outcome.bib
    assert bib is not None
    return MatchRecord(
        id=outcome.local_id,
        title=bib.title,
        authors=tuple(a for a in [bib.author, *bib.added_authors] if a),
        year=bib.year,
        venue=bib.publisher,
        edition=bib.edition,
        volume=" ".join(bib.part_numbers),
        isbns=tuple(bib.isbns),
        issns=tuple(bib.issns),
        lccn=bib.lccn,
        oclc=bib.oclc_numbers[0] if bib.oclc_numbers else "",
        oclcs=tuple(bib.oclc_numbers[1:]),
        format=bib.format,
        is_electronic=bib.electronic,
        nonfiling=bib.nonfiling,
        language=bib.language,
    )


def coverage_of(record: Any | None) -> tuple[str, list]:
    """A serial's holdings statements (866 text) and the spans they and 863 give."""
    if record is None or not record.get_fields("866", "863"):
        return "", []
    from kede.catalog.serials import holdings_by_location

    texts = [" ".join(f.get_subfields("a")) for f in record.get_fields("866")]
    spans = [
        dataclasses.asdict(span)
        for holding in holdings_by_location(record)
        for span in holding.basic.spans
    ]
    return "; ".join(t for t in texts if t)[:2000], spans


def prepare(outcome: Outcome) -> Prepared:
    """The outcome's preparation, computed here unless a reading process did it already."""
    if outcome.prepared is not None:
        return outcome.prepared
    assert outcome.bib is not None
    return Prepared(
        mine=match_record_of(outcome),
        display=display_values(outcome.bib),
        quality=quality_of(outcome.record),
        coverage=coverage_of(outcome.record),
    )


# ---- the reading process ----------------------------------------------------------------------

# Outcomes per message: big enough that passing them costs little, small enough that the
# loading process never waits long for the first. The pipe holds little more than one: the
# reader waits while the store, the slower half, catches up, so memory stays bounded.
_CHUNK = 200
_POLL_SECONDS = 1.0


def _read_and_prepare(
    path: str, mapping: FieldMapping, scope: ScopeRule, max_samples: int, out: Any
) -> None:
    """The child's side: every outcome of the file, prepared, in chunks; the file's format
    first and the end last (or the error that stopped it)."""
    try:
        with open(path, "rb") as handle:
            stream = RecordStream(handle)
            out.send(("format", stream.format))
            if stream.format == FORMAT_CSV:
                mapping = CSV_MAPPING
            seen: dict[str, int] = {}
            chunk: list[tuple] = []
            samples: list[dict] = []
            sampled = 0
            for result in stream:
                if result.record is not None and sampled < max_samples:
                    samples.append(result.record.as_dict())  # as read, before any mapping
                    sampled += 1
                outcome = outcome_of(result, mapping, scope, seen)
                if outcome.status == ACCEPTED:
                    outcome.prepared = prepare(outcome)
                chunk.append(_packed(outcome))
                if len(chunk) >= _CHUNK:
                    out.send(("outcomes", chunk, samples))
                    chunk, samples = [], []
            out.send(("outcomes", chunk, samples))
        out.send(("end",))
    except Exception as exc:
        out.send(("error", f"{type(exc).__name__}: {exc}"))


# Outcomes cross the pipe as tuples of plain values: pickling the slotted dataclasses
# themselves costs more than preparing them. What the store does not use stays behind: the
# record as read and its extracted data (the preparation holds what is needed of both).
_MATCH_FIELDS = tuple(f.name for f in dataclasses.fields(MatchRecord))
_HOLDING_FIELDS = tuple(f.name for f in dataclasses.fields(HoldingData))


def _packed(outcome: Outcome) -> tuple:
    ready = outcome.prepared
    return (
        outcome.position,
        outcome.status,
        outcome.local_id,
        outcome.category,
        outcome.reason,
        outcome.offset,
        outcome.line,
        outcome.warnings,
        [tuple(getattr(h, name) for name in _HOLDING_FIELDS) for h in outcome.holdings],
        None
        if ready is None
        else (
            tuple(getattr(ready.mine, name) for name in _MATCH_FIELDS),
            ready.display,
            ready.quality,
            ready.coverage,
        ),
    )


def _unpacked(packed: tuple) -> Outcome:
    position, status, local_id, category, reason, offset, line, warnings, items, ready = packed
    return Outcome(
        position=position,
        status=status,
        local_id=local_id,
        category=category,
        reason=reason,
        offset=offset,
        line=line,
        warnings=warnings,
        holdings=[HoldingData(*item) for item in items],
        prepared=None
        if ready is None
        else Prepared(MatchRecord(*ready[0]), ready[1], ready[2], ready[3]),
    )


class WorkerStopped(IngestError):
    """The reading process ended without finishing the file."""


def _file_for_child(data: bytes | bytearray | memoryview | BinaryIO) -> tuple[Path, bool]:
    """A file the child can open holding the input, and whether it is a temporary copy: a
    plain file read from its start is opened again by its path; anything else is copied."""
    raw = getattr(data, "file", data)  # a Django File wraps the open file
    name = getattr(raw, "name", None)
    if isinstance(raw, io.BufferedReader | io.FileIO) and isinstance(name, str):
        with contextlib.suppress(OSError, ValueError):
            if raw.tell() == 0 and Path(name).is_file():
                return Path(name), False
    with tempfile.NamedTemporaryFile(prefix="kede-load-", suffix=".dat", delete=False) as out:
        if isinstance(data, bytes | bytearray | memoryview):
            out.write(data)
        else:
            shutil.copyfileobj(data, out, 1 << 20)
    return Path(out.name), True


def outcomes_in_worker(
    data: bytes | bytearray | memoryview | BinaryIO,
    *,
    mapping: FieldMapping,
    scope: ScopeRule,
    report: IngestReport,
    samples: list[dict],
    max_samples: int,
    source: str = "",
) -> Iterator[Outcome]:
    """The outcomes `ingest` would give for `data`, read, checked and prepared in a child
    process (`prepared` set; `record` and `bib` left behind): counted into `report` (and the
    file's format noted there) as they arrive here, the first `max_samples` readable records
    added to `samples` as MARC-in-JSON. If the child dies or fails, WorkerStopped says why
    after the outcomes it finished."""
    path, temporary = _file_for_child(data)
    context = multiprocessing.get_context("spawn")  # no copy of the loader's connections
    # A one-way pipe whose writing end only the child keeps: if the child dies, even in the
    # middle of a message, reading here ends (EOFError) instead of waiting for ever.
    channel, writer = context.Pipe(duplex=False)
    child = context.Process(
        target=_read_and_prepare,
        args=(str(path), mapping, scope, max_samples, writer),
        name="kede-load-reader",
        daemon=True,
    )
    child.start()
    writer.close()
    try:
        while True:
            message = _receive(channel, child)
            kind = message[0]
            if kind == "format":
                report.formats[message[1] or "unrecognised"] += 1
            elif kind == "outcomes":
                samples.extend(message[2][: max(0, max_samples - len(samples))])
                for packed in message[1]:
                    outcome = _unpacked(packed)
                    count_outcome(outcome, report, source)
                    yield outcome
            elif kind == "error":
                raise WorkerStopped(f"reading the file failed: {message[1]}")
            else:
                return
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=10)
        channel.close()
        if temporary:
            with contextlib.suppress(OSError):
                path.unlink()


def _receive(channel: Any, child: Any) -> tuple:
    """The child's next message; WorkerStopped when it died instead of sending it."""
    while not channel.poll(_POLL_SECONDS):
        if not child.is_alive():
            raise _stopped(child)
    try:
        return channel.recv()
    except (EOFError, OSError):  # OSError: "got end of file during message"
        raise _stopped(child) from None


def _stopped(child: Any) -> WorkerStopped:
    child.join(timeout=10)
    return WorkerStopped(
        f"the reading process stopped before the end of the file (exit code {child.exitcode})"
    )
