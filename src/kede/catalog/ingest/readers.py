"""Reading uploaded catalogue files into records (`kede.catalog.ingest.lean`), one position at a
time. Pure: no Django.

The format is told from the content, never from the file name; gzip is undone first:

- MARC21 ISO 2709, UTF-8 or MARC-8. Each record is framed by its leader length and checked
  against its directory; a record whose length, base address or directory is wrong is rejected
  with the reason and reading resumes after the next record terminator (0x1D). Leader/09 says
  the character set; files that lie about it are read in the set they really use, with a
  warning.
- MARCXML, namespaced or not, as a collection, a single record, or records inside wrappers
  (OAI-PMH, SRU, Z39.50 OPAC XML). lxml's feed parser reads it a piece at a time; it never
  resolves entities, never touches the network and keeps its tree-size limits; a document with
  a DTD is refused. A record that is not well-formed is rejected and reading resumes after it.
- MARC-in-JSON (code4lib): one record, a list, or one record per line; FOLIO source records
  that wrap it are unwrapped.
- The CSV template (kede.catalog.ingest.template), each row made a MARC record.

Every reader yields `ReadResult`s: a record, or the precise reason there is none (record
number, byte offset or line, what is wrong). A broken record never stops the file, and no
reader raises for bad data.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import sys
import threading
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pymarc
import pymarc.marc8
from lxml import etree
from pymarc.marc8 import marc8_to_unicode
from pymarc.marc8_mapping import CODESETS

from kede.catalog.ingest.errors import IngestError
from kede.catalog.ingest.lean import CONTROL_TAGS, Field, Record
from kede.catalog.ingest.template import CSV_COLUMNS, CSV_REQUIRED, convert_row, header_key

FORMAT_ISO2709 = "iso2709"
FORMAT_MARCXML = "marcxml"
FORMAT_MARC_JSON = "marc-in-json"
FORMAT_CSV = "csv"
FORMATS = (FORMAT_ISO2709, FORMAT_MARCXML, FORMAT_MARC_JSON, FORMAT_CSV)

_BLOCK = 1 << 20
_SNIFF = 8192


@dataclass(slots=True)
class ReadResult:
    """One position in a file: a record, or why there is none. `position` counts records,
    good and bad, from 1; `offset` is the byte where the record starts (in the uncompressed
    data) and `line` its line, when the format has them. `encoding` is the character set the
    record was read in ("utf-8", "marc-8", "ascii")."""

    position: int
    record: Record | None = None
    error: str = ""
    offset: int | None = None
    line: int | None = None
    warnings: tuple[str, ...] = ()
    encoding: str = ""

    @property
    def where(self) -> str:
        """ "record 3, line 40, byte 1234": for messages."""
        parts = [f"record {self.position}"]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.offset is not None:
            parts.append(f"byte {self.offset}")
        return ", ".join(parts)


class _Reject(Exception):
    """Internal: this record cannot be read, for this reason."""


# --- the byte source ------------------------------------------------------------------------


class _Prefixed:
    """Bytes already read from a stream, then the rest of the stream."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = prefix
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size < 0:
                data, self._prefix = self._prefix + self._stream.read(), b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._stream.read(size)


class _Source:
    """The uploaded bytes with gzip undone, a peek at the start, an optional size limit, and
    read errors (a corrupt gzip stream, a broken upload) kept as a note instead of raised."""

    def __init__(self, data: bytes | bytearray | memoryview | BinaryIO, max_bytes: int | None):
        raw: BinaryIO = (
            io.BytesIO(bytes(data)) if isinstance(data, bytes | bytearray | memoryview) else data
        )
        self.error = ""
        self.delivered = 0
        self._max = max_bytes
        self._head = b""
        self._stream: BinaryIO | gzip.GzipFile = raw
        magic = self._guarded(lambda: raw.read(2)) or b""
        if magic == b"\x1f\x8b":
            self._stream = gzip.GzipFile(fileobj=_Prefixed(magic, raw), mode="rb")  # type: ignore[arg-type]
        else:
            self._head = magic

    def _guarded(self, read: Callable[[], bytes]) -> bytes:
        if self.error:
            return b""
        try:
            return read()
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            self.error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
            return b""

    def _read_inner(self, size: int) -> bytes:
        return self._guarded(lambda: self._stream.read(size))

    def peek(self, size: int) -> bytes:
        while len(self._head) < size:
            more = self._read_inner(size - len(self._head))
            if not more:
                break
            self._head += more
        return self._head[:size]

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            parts = [self._head]
            self._head = b""
            while chunk := self.read(_BLOCK):
                parts.append(chunk)
            return b"".join(parts)
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
        else:
            data = self._read_inner(size)
        if self._max is not None and self.delivered + len(data) > self._max:
            data = data[: max(0, self._max - self.delivered)]
            self.error = f"the file is larger than the limit of {self._max} bytes"
        self.delivered += len(data)
        return data


# --- format detection -----------------------------------------------------------------------


def _text_head(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", "ignore")
    text = head.decode("utf-8", "ignore")
    if len(text) < len(head) // 2:  # mostly not UTF-8: perhaps GB18030
        text = head.decode("gb18030", "ignore")
    return text.lstrip("\ufeff")


def detect_format(head: bytes) -> str | None:
    """The format of a file from its first bytes (after gzip), or None when it is none of the
    four. Only the content counts."""
    text = _text_head(head).lstrip()
    if text.startswith("<"):
        return FORMAT_MARCXML
    if text.startswith(("{", "[")):
        return FORMAT_MARC_JSON
    stripped = head.lstrip(b" \t\r\n\x00")
    if stripped[:5].isdigit() and (len(stripped) < 17 or stripped[12:17].isdigit()):
        return FORMAT_ISO2709
    first_line = text.splitlines()[0] if text else ""
    for delimiter in (",", ";", "\t"):
        keys = {header_key(cell) for cell in first_line.split(delimiter)}
        if "title" in keys and len(keys - {""}) >= 2:
            return FORMAT_CSV
    return None


class RecordStream:
    """The records of one uploaded file, in order. `format` is what the content turned out to
    be (None when it is none of the four; iterating then gives one rejection saying so)."""

    def __init__(
        self,
        data: bytes | bytearray | memoryview | BinaryIO,
        *,
        format: str | None = None,
        max_bytes: int | None = None,
    ) -> None:
        if format is not None and format not in FORMATS:
            raise IngestError(f"unknown format {format!r}; one of {', '.join(FORMATS)}")
        self._source = _Source(data, max_bytes)
        self.format = format or detect_format(self._source.peek(_SNIFF))

    def __iter__(self) -> Iterator[ReadResult]:
        source = self._source
        if self.format is None:
            if source.error:
                yield ReadResult(1, error=f"unreadable file: {source.error}")
            elif not source.peek(_SNIFF).strip():
                yield ReadResult(1, error="the file is empty")
            else:
                yield ReadResult(
                    1,
                    error="unrecognised format: not MARC21 (ISO 2709), MARCXML, MARC-in-JSON "
                    "or the CSV template (its header needs a title column)",
                )
            return
        reader = _READERS[self.format]
        last = 0
        try:
            for result in reader(source):
                last = result.position
                yield result
        except Exception as exc:  # a bug here must not lose the rest of the batch's report
            yield ReadResult(last + 1, error=f"internal error while reading: {exc!r}")
            return
        if source.error:
            yield ReadResult(
                last + 1,
                error=f"reading stopped after byte {source.delivered}: {source.error}",
                offset=source.delivered,
            )


def read_records(
    data: bytes | bytearray | memoryview | BinaryIO,
    *,
    format: str | None = None,
    max_bytes: int | None = None,
) -> Iterator[ReadResult]:
    """Every record of an uploaded file (bytes or a binary stream), good or bad, in order."""
    return iter(RecordStream(data, format=format, max_bytes=max_bytes))


# --- ISO 2709 -------------------------------------------------------------------------------

_RT = 0x1D
_FT = 0x1E
_BETWEEN_RECORDS = frozenset(b" \t\r\n\x00\x1a\x1d")
_MIN_RECORD = 24 + 12 + 1 + 1 + 1  # leader, one directory entry, its end, an empty field, end
_MAX_RECORD = 99999
# Bytes MARC-8 allows when no escape sequence changes the character sets: ASCII and the ANSEL
# G1 set, plus the non-sorting and joiner controls.
_MARC8_DEFAULT = bytes(sorted(set(range(0x80)) | set(CODESETS[0x45]) | {0x88, 0x89, 0x8D, 0x8E}))
_MAX_REPLACED = 3


class _Marc8Log(threading.local):
    """Where pymarc's MARC-8 converter's complaints go while this module converts a record."""

    lines: list[str] | None = None


_MARC8_LOG = _Marc8Log()


class _Marc8Stderr:
    def write(self, text: str) -> int:
        if _MARC8_LOG.lines is None:
            return sys.stderr.write(text)
        if text.strip():
            _MARC8_LOG.lines.append(text.strip())
        return len(text)

    def flush(self) -> None:
        if _MARC8_LOG.lines is None:
            sys.stderr.flush()


class _Marc8Sys:
    """pymarc.marc8 writes the characters it cannot convert to sys.stderr (and puts a space in
    their place). It sees this object as its `sys`: while we convert, its complaints become the
    record's warnings; otherwise they go to stderr as before."""

    stderr = _Marc8Stderr()

    def __getattr__(self, name: str) -> object:
        return getattr(sys, name)


pymarc.marc8.sys = _Marc8Sys()  # type: ignore[attr-defined]


class _Window:
    """A sliding window over a stream: absolute offsets, refilled a block at a time, keeping
    only what the current record still needs."""

    def __init__(self, stream: _Source) -> None:
        self._stream = stream
        self.buf = b""
        self.start = 0
        self.keep_from = 0
        self.eof = False

    def _more(self) -> None:
        chunk = self._stream.read(_BLOCK)
        if not chunk:
            self.eof = True
            return
        cut = self.keep_from - self.start
        if cut > 0:
            self.buf = self.buf[cut:] + chunk
            self.start = self.keep_from
        else:
            self.buf += chunk

    def has(self, end: int) -> bool:
        while self.start + len(self.buf) < end and not self.eof:
            self._more()
        return self.start + len(self.buf) >= end

    def byte(self, at: int) -> int:
        return self.buf[at - self.start]

    def slice(self, a: int, b: int) -> bytes:
        return self.buf[a - self.start : b - self.start]

    def find(self, byte: int, at: int, keep: int) -> int:
        """Absolute offset of the next `byte` from `at`, or -1 at the end of the stream. Only
        `keep` bytes from `at` are held on to while searching (a file of junk without the byte
        is not read into memory whole)."""
        while True:
            found = self.buf.find(bytes((byte,)), max(at - self.start, 0))
            if found >= 0:
                return self.start + found
            if self.eof:
                return -1
            scanned = self.start + len(self.buf)
            if scanned - at > keep:
                self.keep_from = max(self.keep_from, scanned)
            self._more()


def read_iso2709(stream: _Source | BinaryIO) -> Iterator[ReadResult]:
    """MARC21 records in transmission format (ISO 2709)."""
    window = _Window(stream if isinstance(stream, _Source) else _Source(stream, None))
    pos = 0
    position = 0
    while True:
        while window.has(pos + 1) and window.byte(pos) in _BETWEEN_RECORDS:
            pos += 1
        if not window.has(pos + 1):
            return
        window.keep_from = start = pos
        position += 1
        window.has(pos + 5)
        head = window.slice(pos, pos + 5)
        length = int(head) if len(head) == 5 and head.isdigit() else 0
        if (
            length >= _MIN_RECORD
            and window.has(pos + length)
            and window.byte(pos + length - 1) == _RT
        ):
            chunk = window.slice(pos, pos + length)
            if chunk.find(b"\x1d", 0, length - 1) < 0:
                pos += length
                yield _iso_result(chunk, position, start)
                continue
        # The leader's length does not lead to a record terminator: the record is broken.
        # Reject it up to the next terminator and start again after that.
        end = window.find(_RT, pos, _MAX_RECORD)
        if end < 0 or end - pos > _MAX_RECORD:
            stop = end + 1 if end >= 0 else window.start + len(window.buf)
            reason = (
                f"the file ends inside a record ({stop - pos} bytes without a record terminator)"
                if end < 0
                else f"no record terminator within {_MAX_RECORD} bytes"
            )
            pos = stop
            yield ReadResult(position, error=reason, offset=start)
            continue
        chunk = window.slice(pos, end + 1)
        pos = end + 1
        yield ReadResult(position, error=_length_problem(head, length, chunk), offset=start)


def _length_problem(head: bytes, length: int, chunk: bytes) -> str:
    if len(head) < 5 or not head.isdigit():
        return f"the record does not start with a five-digit record length (it starts {head!r})"
    if length < _MIN_RECORD:
        return f"record length {length} in the leader is too small for a record"
    reason = (
        f"the leader gives a record length of {length} bytes but the record terminator comes "
        f"after {len(chunk)} bytes"
    )
    try:
        characters = len(chunk.decode("utf-8"))
    except UnicodeDecodeError:
        return reason
    if characters == length != len(chunk):
        reason += (
            f" ({length} is its length in characters: the exporting system counted "
            "characters, not bytes)"
        )
    return reason


def _iso_result(chunk: bytes, position: int, offset: int) -> ReadResult:
    warnings: list[str] = []
    try:
        record, encoding = decode_iso2709(chunk, warnings)
    except _Reject as exc:
        return ReadResult(position, error=str(exc), offset=offset, warnings=tuple(warnings))
    return ReadResult(
        position, record=record, offset=offset, warnings=tuple(warnings), encoding=encoding
    )


def _leader_text(raw: bytes, warnings: list[str]) -> str:
    if raw.isascii():
        return raw.decode("ascii")
    chars = []
    for i, byte in enumerate(raw):
        if byte < 0x80:
            chars.append(chr(byte))
            continue
        fix = "4500"[i - 20] if i >= 20 else ("2" if i in (10, 11) else " ")
        warnings.append(
            f"leader/{i:02d} held a byte that is not ASCII (0x{byte:02X}); read as {fix!r}"
        )
        chars.append(fix)
    return "".join(chars)


def _field_at(entries: list[tuple[str, int, int]], at: int) -> str:
    for tag, a, b in entries:
        if a <= at <= b:
            return f" (field {tag})"
    return ""


def _choose_encoding(
    leader9: str, body: bytes, entries: list[tuple[str, int, int]], base: int, warnings: list[str]
) -> str:
    """ "ascii", "utf-8", "marc-8" or "utf-8-replace": what the text of the record really is.
    Valid UTF-8 with non-ASCII bytes is never MARC-8 in practice (ANSEL's combining marks and
    specials do not form UTF-8 sequences), and MARC-8 without escapes only uses ANSEL bytes."""
    escapes = b"\x1b" in body
    if body.isascii():
        if not escapes:
            return "ascii"
        if leader9 == "a":
            warnings.append(
                "leader/09 says UTF-8 but the record has MARC-8 escape sequences; read as MARC-8"
            )
        return "marc-8"
    try:
        body.decode("utf-8")
        bad: UnicodeDecodeError | None = None
    except UnicodeDecodeError as exc:
        bad = exc
    marc8 = escapes or not body.translate(None, _MARC8_DEFAULT)
    if leader9 == "a":
        if bad is None:
            return "utf-8"
        if marc8:
            warnings.append("leader/09 says UTF-8 but the text is MARC-8; read as MARC-8")
            return "marc-8"
    else:
        if bad is None and not escapes:
            warnings.append(
                f"leader/09 says {'MARC-8' if leader9 == ' ' else repr(leader9)} but the text is "
                "UTF-8; read as UTF-8"
            )
            return "utf-8"
        if marc8:
            if leader9 != " ":
                warnings.append(f"leader/09 is {leader9!r}; read as MARC-8")
            return "marc-8"
    assert bad is not None
    replaced = body.decode("utf-8", "replace").count("\ufffd") - body.decode(
        "utf-8", "ignore"
    ).count("\ufffd")
    where = _field_at(entries, base + bad.start)
    if replaced > _MAX_REPLACED:
        raise _Reject(
            f"the text is neither UTF-8 nor MARC-8 (leader/09 is {leader9!r}): {replaced} "
            f"undecodable byte sequences, the first at byte {base + bad.start}{where}"
        )
    warnings.append(
        f"{replaced} byte sequence(s) that are neither UTF-8 nor MARC-8 replaced by U+FFFD "
        f"(first at byte {base + bad.start}{where})"
    )
    return "utf-8-replace"


def decode_iso2709(chunk: bytes, warnings: list[str] | None = None) -> tuple[Record, str]:
    """One record in transmission format (leader to record terminator) as a lean Record and
    the character set it was read in. Raises an internal rejection with the reason when the
    record's structure is broken; problems it can read past go to `warnings`.

    A well-formed directory (letters or digits in every tag, digits in every length and
    offset, every field ending with its terminator) is taken in one pass; anything else goes
    through `_checked_entries`, which says what is wrong."""
    notes: list[str] = [] if warnings is None else warnings
    if len(chunk) < _MIN_RECORD or chunk[-1] != _RT:
        raise _Reject("the record is shorter than a leader, a directory and one field")
    head = chunk[:24]
    leader = head.decode("ascii") if head.isascii() else _leader_text(head, notes)
    base_text = chunk[12:17]
    if not base_text.isdigit():
        raise _Reject(f"the base address of data (leader/12-16) is not a number: {base_text!r}")
    base = int(base_text)
    end = len(chunk) - 1
    if base < 25 or base > end:
        raise _Reject(f"the base address of data {base} is outside the record ({len(chunk)} bytes)")
    if chunk[base - 1] != _FT:
        raise _Reject(
            f"the directory does not end with a field terminator at byte {base - 1} "
            f"(base address {base})"
        )
    directory = chunk[24 : base - 1]
    if len(directory) % 12:
        raise _Reject(
            f"the directory ({len(directory)} bytes up to the base address {base}) is not a whole "
            "number of 12-byte entries"
        )
    if not directory:
        raise _Reject("the record has no fields (its directory is empty)")
    size = end - base
    entries = _entries(chunk, directory, base, size) if _DIRECTORY.fullmatch(directory) else None
    if entries is None:
        entries = _checked_entries(chunk, directory, base, size, notes)

    encoding = _choose_encoding(leader[9], chunk[base:end], entries, base, notes)
    if encoding == "marc-8":
        _MARC8_LOG.lines = []
        try:
            fields = _marc8_fields(chunk, entries, notes)
        finally:
            _MARC8_LOG.lines = None
    else:
        fields = _unicode_fields(chunk, entries, encoding, notes)
    return Record(leader, fields), "utf-8" if encoding == "utf-8-replace" else encoding


_DIRECTORY = re.compile(rb"(?:[0-9A-Za-z]{3}[0-9]{9})+")


def _entries(
    chunk: bytes, directory: bytes, base: int, size: int
) -> list[tuple[str, int, int]] | None:
    """(tag, first byte, terminator) of each field, or None when an entry is wrong."""
    text = directory.decode("ascii")
    entries = []
    for i in range(0, len(text), 12):
        length = int(text[i + 3 : i + 7])
        offset = int(text[i + 7 : i + 12])
        stop = base + offset + length - 1
        if not length or offset + length > size or chunk[stop] != _FT:
            return None
        entries.append((text[i : i + 3], base + offset, stop))
    return entries


def _checked_entries(
    chunk: bytes, directory: bytes, base: int, size: int, notes: list[str]
) -> list[tuple[str, int, int]]:
    entries: list[tuple[str, int, int]] = []
    for i in range(0, len(directory), 12):
        number = i // 12 + 1
        tag_bytes = directory[i : i + 3]
        tag = tag_bytes.decode("latin-1")
        length_text, offset_text = directory[i + 3 : i + 7], directory[i + 7 : i + 12]
        if not (length_text.isdigit() and offset_text.isdigit()):
            raise _Reject(
                f"directory entry {number} (tag {tag}): length {length_text!r} or offset "
                f"{offset_text!r} is not a number"
            )
        length, offset = int(length_text), int(offset_text)
        if length == 0:
            raise _Reject(f"directory entry {number} (tag {tag}): the field has length 0")
        if offset + length > size:
            raise _Reject(
                f"directory entry {number} (tag {tag}): the field (offset {offset}, length "
                f"{length}) runs past the end of the record's data ({size} bytes)"
            )
        stop = base + offset + length - 1
        if chunk[stop] != _FT:
            raise _Reject(
                f"field {tag} (directory entry {number}) does not end with a field terminator: "
                "the directory's lengths or offsets are wrong"
            )
        if not tag_bytes.isalnum():
            notes.append(
                f"directory entry {number}: tag {tag_bytes!r} is not three letters or digits; "
                "field dropped"
            )
            continue
        entries.append((tag, base + offset, stop))
    return entries


_REFERENCE = re.compile(r"&([\u0300-\u036f\ufe20-\ufe23]*)#x([0-9A-Fa-f]{2,6});")


def _numeric_references(text: str) -> str:
    """MARC-8 writes characters it has no code for as "&#xXXXX;" (LC's lossless conversion);
    a diacritic meant for that character lands on the "&". Both put right."""

    def character(match: re.Match[str]) -> str:
        code = int(match.group(2), 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return match.group(0)
        return chr(code) + match.group(1)

    return unicodedata.normalize("NFC", _REFERENCE.sub(character, text))


# Bytes that read the same in MARC-8 and ASCII (controls and escapes go through the tables).
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _unicode_fields(
    chunk: bytes, entries: list[tuple[str, int, int]], encoding: str, notes: list[str]
) -> list[Field]:
    """Fields of an ASCII or UTF-8 record: each decoded once, its subfields split when first
    read (`Field.parts`)."""
    if encoding == "ascii":
        whole = chunk.decode("latin-1")  # the fields are ASCII (the leader may not be)
        texts = [whole[a:b] for _tag, a, b in entries]
    else:
        errors = "replace" if encoding == "utf-8-replace" else "strict"
        try:
            texts = [chunk[a:b].decode("utf-8", errors) for _tag, a, b in entries]
        except UnicodeDecodeError:
            texts = []
            for tag, a, b in entries:
                try:
                    texts.append(chunk[a:b].decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise _Reject(
                        f"field {tag} (byte {a}) is not UTF-8 on its own: the directory's "
                        f"offset points inside a character (bad byte at {a + exc.start})"
                    ) from None
    fields = []
    control = CONTROL_TAGS
    for (tag, _a, _b), text in zip(entries, texts, strict=True):
        if tag in control:
            fields.append(Field(tag, True, text))
        elif text[2:3] == "\x1f" and "\x1f" not in text[:2]:
            fields.append(Field(tag, False, None, text[0], text[1], None, text[2:]))
        else:
            cut = text.find("\x1f")
            indicators = text if cut < 0 else text[:cut]
            rest = text[len(indicators) :]
            if len(indicators) != 2:
                notes.append(f"field {tag} has {len(indicators)} indicator characters instead of 2")
                indicators = (indicators + "  ")[:2]
            fields.append(Field(tag, False, None, indicators[0], indicators[1], None, rest))
    return fields


def _marc8_fields(
    chunk: bytes, entries: list[tuple[str, int, int]], notes: list[str]
) -> list[Field]:
    log = _MARC8_LOG.lines
    seen = 0
    fields: list[Field] = []
    for tag, a, b in entries:
        raw = chunk[a:b]
        if tag in CONTROL_TAGS:
            fields.append(Field(tag, True, raw.decode("latin-1")))
            continue
        pieces = raw.split(b"\x1f")
        indicators = pieces[0].decode("latin-1")
        parts = []
        for piece in pieces[1:]:
            if not piece:
                continue
            body = piece[1:]
            try:
                value = (
                    body.decode("ascii")  # MARC-8's default set is ASCII: nothing to convert
                    if not body.translate(None, _PRINTABLE_ASCII)
                    else marc8_to_unicode(body, hide_utf8_warnings=False)
                )
            except Exception as exc:  # pymarc's MARC-8 tables raise several kinds
                notes.append(
                    f"field {tag}: broken MARC-8 ({exc.__class__.__name__}); only its ASCII "
                    "characters kept"
                )
                value = body.decode("ascii", "replace").replace("\ufffd", " ")
            if "&" in value:
                value = _numeric_references(value)
            parts.append(piece[:1].decode("latin-1") + value)
        # pymarc's tables lack the space of the alternate sets (Hebrew, Cyrillic ...): it
        # complains, and puts the space it would have put anyway. Only real losses count.
        complaints = [line for line in (log or ())[seen:] if "character 0x20 " not in line]
        seen = len(log or ())
        if complaints:
            notes.append(
                f"field {tag}: {len(complaints)} MARC-8 character(s) could not be converted "
                f"and became spaces ({complaints[0]})"
            )
        if len(indicators) != 2:
            notes.append(f"field {tag} has {len(indicators)} indicator characters instead of 2")
            indicators = (indicators + "  ")[:2]
        fields.append(Field(tag, False, None, indicators[0], indicators[1], parts))
    return fields


# --- MARCXML --------------------------------------------------------------------------------

_MARC_NAMESPACES = frozenset(
    {
        "",
        "http://www.loc.gov/MARC21/slim",
        "info:lc/xmlns/marcxchange-v1",
        "info:lc/xmlns/marcxchange-v2",
    }
)
_RECORD_END = re.compile(rb"</(?:[A-Za-z_][\w.\-]*:)?record\s*>")
_XML_DECLARATION = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*\?>")
_TAG = re.compile(r"[0-9A-Za-z]{3}")
_MAX_PIECE = 8 << 20
_ENTITY_REFERENCE = re.compile(rb"&([A-Za-z_:][A-Za-z0-9_.:\-]*);")
_PREDEFINED = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})


def _xml_parser() -> etree.XMLPullParser:
    return etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def _split_name(name: str) -> tuple[str, str]:
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return "", name


def _start_tag(element: etree._Element) -> str:
    """An opening tag that re-creates `element`'s name, namespaces and attributes."""
    namespace, local = _split_name(element.tag)
    prefixes = {uri: prefix for prefix, uri in element.nsmap.items()}
    qname = f"{prefixes[namespace]}:{local}" if prefixes.get(namespace) else local
    parts = [qname]
    for prefix, uri in element.nsmap.items():
        parts.append(f'xmlns{":" + prefix if prefix else ""}="{_attr(uri)}"')
    for name, value in element.attrib.items():
        ns, attr_local = _split_name(name)
        if ns and not prefixes.get(ns):
            continue
        parts.append(f'{prefixes[ns] + ":" if ns else ""}{attr_local}="{_attr(value)}"')
    return "<" + " ".join(parts) + ">"


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def _fix_leader(text: str, warnings: list[str]) -> str:
    if len(text) == 24:
        return text
    if len(text) > 24 and not text[24:].strip():
        return text[:24]
    if len(text) < 24 and len(text) >= 12:
        warnings.append(f"the leader has {len(text)} characters; padded to 24")
        return text.ljust(24)
    raise _Reject(f"the leader has {len(text)} characters instead of 24: {text!r}")


class _XmlReader:
    def __init__(self, stream: _Source) -> None:
        self.stream = stream
        self.parser = _xml_parser()
        self.declaration = b""
        self.encoding = "utf-8"
        self.stack: list[etree._Element] = []
        self.current: etree._Element | None = None
        self.position = 0
        self.records = 0
        self.refused = False
        self.started = False
        self.line_base = 0  # lines in the file before what the current parser was fed
        self.lines_fed = 0
        self.root_name = ""
        self.entity: tuple[str, int] | None = None

    def run(self) -> Iterator[ReadResult]:
        pending = self.stream.read(_BLOCK)
        declaration = _XML_DECLARATION.match(pending)
        if declaration:
            self.declaration = declaration.group(0).replace(b"\r", b" ").replace(b"\n", b" ")
        cut = 0
        offset = 0  # absolute offset of pending[0]
        eof = not pending
        while not self.refused:
            match = _RECORD_END.search(pending, cut)
            if match:
                yield from self._feed(pending[cut : match.end()], offset + cut)
                cut = match.end()
                continue
            if eof:
                if cut < len(pending):
                    yield from self._feed(pending[cut:], offset + cut)
                yield from self._close()
                return
            if len(pending) - cut > _MAX_PIECE:
                yield from self._feed(pending[cut:], offset + cut)
                cut = len(pending)
            more = self.stream.read(_BLOCK)
            if not more:
                eof = True
                continue
            offset += cut
            pending = pending[cut:] + more
            cut = 0

    def _feed(self, piece: bytes, offset: int) -> Iterator[ReadResult]:
        if b"&" in piece:
            piece = self._defuse(piece)
        try:
            self.parser.feed(piece)
        except etree.XMLSyntaxError as exc:
            yield from self._events(offset)
            if not self.refused:
                yield from self._broken(exc, offset)
                self._restart(piece)
            return
        yield from self._events(offset)
        self.lines_fed += piece.count(b"\n")
        self.entity = None

    def _defuse(self, piece: bytes) -> bytes:
        """An entity reference other than XML's five is never parsed (with entities off,
        libxml2 loses the markup after one): it is written as text and the record that holds
        it rejected."""

        def literal(match: re.Match[bytes]) -> bytes:
            if match.group(1) in _PREDEFINED:
                return match.group(0)
            if self.entity is None:
                line = self.line_base + self.lines_fed + piece.count(b"\n", 0, match.start()) + 1
                self.entity = (match.group(1).decode("ascii", "replace"), line)
            return b"&amp;" + match.group(0)[1:]

        return _ENTITY_REFERENCE.sub(literal, piece)

    def _close(self) -> Iterator[ReadResult]:
        try:
            self.parser.close()
        except etree.XMLSyntaxError as exc:
            yield from self._events(None)
            if self.started and not self.refused:
                inside = self.current is not None
                self.position += 1
                yield ReadResult(
                    self.position,
                    error=(
                        "the file ends inside a record (truncated?)"
                        if inside
                        else f"the XML ends before its closing tags (truncated?): {exc.msg}"
                    ),
                    line=self.line_base + self.lines_fed + 1,
                )
                return
        else:
            yield from self._events(None)
        if self.refused or self.records or self.position:
            return
        self.position += 1
        if not self.started:
            yield ReadResult(self.position, error="no XML element in the file")
        else:
            yield ReadResult(
                self.position,
                error=f"no MARC records in this XML (its root element is <{self.root_name}>)",
            )

    def _events(self, offset: int | None) -> Iterator[ReadResult]:
        for event, element in self.parser.read_events():
            if self.refused:
                return
            if event == "start":
                if not self.started:
                    self.started = True
                    info = element.getroottree().docinfo
                    if info.doctype or info.internalDTD is not None:
                        self.refused = True
                        self.position += 1
                        yield ReadResult(
                            self.position,
                            error="refused: the XML declares a DTD (<!DOCTYPE ...>); MARCXML "
                            "needs none, and a DTD can carry entity attacks",
                        )
                        return
                    self.encoding = info.encoding or "utf-8"
                    self.root_name = _split_name(element.tag)[1]
                self.stack.append(element)
                if self.current is None:
                    namespace, local = _split_name(element.tag)
                    if local == "record" and namespace in _MARC_NAMESPACES:
                        self.current = element
                continue
            if self.stack:
                self.stack.pop()
            if element is self.current:
                self.current = None
                result = self._record(element, offset)
                if result is not None:
                    yield result
            elif self.current is not None:
                continue
            if element.getparent() is not None:
                element.clear()
                while element.getprevious() is not None:
                    del element.getparent()[0]

    def _record(self, element: etree._Element, offset: int | None) -> ReadResult | None:
        line = self.line_base + element.sourceline if element.sourceline else None
        warnings: list[str] = []
        if self.entity is not None:
            name, at = self.entity
            self.entity = None
            self.position += 1
            return ReadResult(
                self.position,
                error=f"the record uses the entity &{name}; (line {at}); entities are not allowed",
                offset=offset,
                line=line,
            )
        try:
            record = _record_from_xml(element, self.line_base, warnings)
        except _Reject as exc:
            self.position += 1
            return ReadResult(self.position, error=str(exc), offset=offset, line=line)
        if record is None:  # a <record> that holds no MARC (another vocabulary's record)
            return None
        self.position += 1
        self.records += 1
        return ReadResult(
            self.position,
            record=record,
            offset=offset,
            line=line,
            warnings=tuple(warnings),
            encoding="utf-8",
        )

    def _broken(self, exc: etree.XMLSyntaxError, offset: int) -> Iterator[ReadResult]:
        self.position += 1
        line = self.line_base + exc.lineno if exc.lineno else None
        message = exc.msg or str(exc)
        where = f" at line {line}" if line else ""
        yield ReadResult(
            self.position, error=f"not well-formed XML{where}: {message}", offset=offset, line=line
        )

    def _restart(self, piece: bytes) -> None:
        """A fresh parser after a broken piece, fed the wrappers that were open around it (the
        collection, an OAI-PMH envelope ...) so the next records parse in their context."""
        wrappers = self.stack
        if self.current is not None and self.current in wrappers:
            wrappers = wrappers[: wrappers.index(self.current)]
        header = "".join(_start_tag(element) for element in wrappers)
        self.line_base += self.lines_fed + piece.count(b"\n")
        self.lines_fed = 0
        self.stack = []
        self.current = None
        self.entity = None
        self.parser = _xml_parser()
        try:
            self.parser.feed(self.declaration + header.encode(self.encoding, "xmlcharrefreplace"))
            for _event, element in self.parser.read_events():
                self.stack.append(element)
        except (etree.XMLSyntaxError, LookupError):
            self.parser = _xml_parser()
            self.stack = []


def _line(node: etree._Element, line_base: int) -> str:
    return f" (line {line_base + node.sourceline})" if node.sourceline else ""


def _record_from_xml(element: etree._Element, line_base: int, warnings: list[str]) -> Record | None:
    """A MARCXML <record> as a Record; None when it holds no MARC at all (a record of
    another vocabulary). XML marks where each field begins and ends, so a field with a broken
    tag or a subfield without a code is dropped with a warning and the record kept."""
    leader: str | None = None
    fields: list[Field] = []
    marc = False
    for child in element:
        name = child.tag
        if name.__class__ is not str:
            continue  # comments and processing instructions
        local = name[name.rfind("}") + 1 :]
        if local == "datafield":
            kind = 2
        elif local == "controlfield":
            kind = 1
        elif local == "leader":
            marc = True
            leader = _fix_leader(child.text or "", warnings)
            continue
        else:
            continue
        marc = True
        tag = child.get("tag")
        if tag is None or len(tag) != 3 or not _TAG.fullmatch(tag):
            what = (
                "without a tag" if tag is None else f"with tag {tag!r}, not three letters or digits"
            )
            warnings.append(f"a {local} {what}{_line(child, line_base)}: dropped")
            continue
        if kind == 1:
            fields.append(Field.control(tag, child.text or ""))
            continue
        ind1 = child.get("ind1") or " "
        ind2 = child.get("ind2") or " "
        if len(ind1) != 1 or len(ind2) != 1:
            where = _line(child, line_base)
            warnings.append(
                f"field {tag}: indicators {ind1!r}, {ind2!r} are not one character each{where}"
            )
            ind1, ind2 = ind1[:1], ind2[:1]
        subfields = []
        for sub in child:
            name = sub.tag
            if name.__class__ is not str or not name.endswith("subfield"):
                continue
            code = sub.get("code")
            if not code or len(code) != 1:
                where = _line(sub, line_base)
                if not code:
                    warnings.append(f"field {tag}: a subfield without a code{where}: dropped")
                    continue
                warnings.append(f"field {tag}: subfield code {code!r} is not one character{where}")
            subfields.append((code[0], sub.text or ""))
        fields.append(Field.make(tag, ind1, ind2, subfields))
    if not marc:
        return None
    if leader is None:
        raise _Reject("the record has no leader")
    return Record(leader, fields)


def read_marcxml(stream: _Source | BinaryIO) -> Iterator[ReadResult]:
    """MARCXML records, streamed."""
    yield from _XmlReader(stream if isinstance(stream, _Source) else _Source(stream, None)).run()


# --- MARC-in-JSON ---------------------------------------------------------------------------

_JSON_RECORD_START = re.compile(r'\{\s*"(?:leader|fields)"\s*:')


def _unwrap_json(value: object) -> list[object]:
    """The MARC-in-JSON records in a JSON value: the value itself, the items of a list, or the
    records in FOLIO's wrappers (source records, inventory exports)."""
    if isinstance(value, list):
        return [inner for item in value for inner in _unwrap_json(item)] if value else []
    if isinstance(value, dict) and "leader" not in value and "fields" not in value:
        parsed = value.get("parsedRecord")
        if isinstance(parsed, dict) and "content" in parsed:
            content = parsed["content"]
            if isinstance(content, str):
                try:
                    content = json.loads(content)
                except ValueError:
                    return [value]
            return [content]
        for key in ("source_record", "sourceRecords", "records"):
            if isinstance(value.get(key), list):
                return [inner for item in value[key] for inner in _unwrap_json(item)]
    return [value]


def _record_from_json(value: object, warnings: list[str]) -> Record:
    if not isinstance(value, dict):
        raise _Reject(
            f"a JSON {type(value).__name__} where a MARC-in-JSON record (an object with "
            "'leader' and 'fields') was expected"
        )
    leader, fields = value.get("leader"), value.get("fields")
    if leader is None or fields is None:
        if "controlfield" in value or "datafield" in value:
            raise _Reject("MARC-JSON with controlfield/datafield lists is not MARC-in-JSON")
        keys = ", ".join(sorted(map(str, value))[:6])
        raise _Reject(f"not a MARC-in-JSON record: no 'leader' or 'fields' (its keys: {keys})")
    if not isinstance(leader, str):
        raise _Reject("'leader' is not a string")
    if not isinstance(fields, list):
        raise _Reject("'fields' is not a list")
    record = Record(_fix_leader(leader, warnings))
    out: list[Field] = []
    for number, item in enumerate(fields, start=1):
        if not isinstance(item, dict) or len(item) != 1:
            raise _Reject(f"fields[{number}] is not an object with one tag as its only key")
        ((tag, content),) = item.items()
        if not _TAG.fullmatch(tag):
            raise _Reject(f"fields[{number}]: tag {tag!r} is not three letters or digits")
        control = tag < "010" and tag.isdigit()
        if isinstance(content, str):
            if not control:
                raise _Reject(f"fields[{number}] ({tag}): a string where subfields were expected")
            out.append(Field(tag, True, content))
            continue
        if not isinstance(content, dict) or control:
            raise _Reject(
                f"fields[{number}] ({tag}): "
                + (
                    "a control field must be a string"
                    if control
                    else "not an object with subfields"
                )
            )
        subfields = content.get("subfields")
        if not isinstance(subfields, list):
            raise _Reject(f"fields[{number}] ({tag}): 'subfields' is not a list")
        indicators = []
        for key in ("ind1", "ind2"):
            indicator = content.get(key, " ")
            if not isinstance(indicator, str) or len(indicator) > 1:
                raise _Reject(f"fields[{number}] ({tag}): {key} {indicator!r} is not one character")
            indicators.append(indicator or " ")
        codes = []
        for sub_number, sub in enumerate(subfields, start=1):
            if not isinstance(sub, dict) or not sub:
                raise _Reject(
                    f"fields[{number}] ({tag}) subfield {sub_number} is not a "
                    "{code: value} object"
                )
            for code, text in sub.items():
                if len(code) != 1 or not isinstance(text, str):
                    raise _Reject(
                        f"fields[{number}] ({tag}) subfield {sub_number}: code {code!r} must be "
                        "one character with a string value"
                    )
                codes.append((code, text))
        out.append(Field.make(tag, indicators[0], indicators[1], codes))
    record.fields = out
    return record


def _json_results(
    value: object, position: int, line: int | None, offset: int | None
) -> Iterator[ReadResult]:
    for item in _unwrap_json(value):
        position += 1
        warnings: list[str] = []
        try:
            record = _record_from_json(item, warnings)
        except _Reject as exc:
            yield ReadResult(position, error=str(exc), line=line, offset=offset)
        else:
            yield ReadResult(
                position,
                record=record,
                line=line,
                offset=offset,
                warnings=tuple(warnings),
                encoding="utf-8",
            )


def _lines(stream: _Source) -> Iterator[bytes]:
    rest = b""
    while chunk := stream.read(_BLOCK):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from (line + b"\n" for line in lines)
    if rest:
        yield rest


def read_marc_json(stream: _Source | BinaryIO) -> Iterator[ReadResult]:
    """MARC-in-JSON: one record per line (streamed), or a document with one record or a list."""
    source = stream if isinstance(stream, _Source) else _Source(stream, None)
    lines = _lines(source)
    head: list[bytes] = []
    first = b""
    for raw in lines:
        head.append(raw)
        if raw.strip():
            first = raw
            break
    try:
        value = json.loads(first.strip().lstrip(b"\xef\xbb\xbf").decode("utf-8"))
        one_per_line = isinstance(value, dict | list)
    except (ValueError, UnicodeDecodeError):
        one_per_line = False
    position = 0
    if one_per_line:
        number = len(head)
        for result in _json_results(value, position, number, None):
            position = result.position
            yield result
        for raw in lines:
            number += 1
            if not raw.strip():
                continue
            try:
                value = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                position += 1
                yield ReadResult(
                    position, error=f"line {number} is not valid JSON: {exc}", line=number
                )
                continue
            for result in _json_results(value, position, number, None):
                position = result.position
                yield result
        return
    data = b"".join(head) + b"".join(lines)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield ReadResult(
            1, error=f"the JSON is not UTF-8 (bad byte at {exc.start})", offset=exc.start
        )
        return
    yield from _json_document(text)


def _json_document(text: str) -> Iterator[ReadResult]:
    decoder = json.JSONDecoder()
    position = 0
    counted_to, line = 0, 1

    def line_at(index: int) -> int:
        nonlocal counted_to, line
        if index > counted_to:
            line += text.count("\n", counted_to, index)
            counted_to = index
        return line

    def skip(index: int) -> int:
        while index < len(text) and text[index] in " \t\r\n":
            index += 1
        return index

    index = skip(0)
    in_list = text.startswith("[", index)
    if in_list:
        index = skip(index + 1)
    while index < len(text):
        if in_list and text[index] == "]":
            return
        at_line = line_at(index)
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            position += 1
            yield ReadResult(
                position,
                error=f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                line=exc.lineno,
            )
            resync = _JSON_RECORD_START.search(text, max(exc.pos, index + 1))
            if resync is None:
                return
            index = resync.start()
            continue
        for result in _json_results(value, position, at_line, None):
            position = result.position
            yield result
        index = skip(end)
        if index < len(text) and text[index] == ",":
            index = skip(index + 1)


# --- the CSV template -----------------------------------------------------------------------


def _decode_text(data: bytes) -> tuple[str, str]:
    """Text of a CSV file and the name of its character set."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace"), "UTF-16"
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GB18030"
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), ""


def read_csv(stream: _Source | BinaryIO) -> Iterator[ReadResult]:
    """The CSV template, each row a MARC record (see kede.catalog.ingest.template)."""
    source = stream if isinstance(stream, _Source) else _Source(stream, None)
    text, charset = _decode_text(source.read())
    if not charset:
        yield ReadResult(1, error="the file is not UTF-8, UTF-16 or GB18030 text", line=1)
        return
    first_line = text.split("\n", 1)[0]
    delimiter = max(
        (",", ";", "\t"),
        key=lambda d: len({header_key(c) for c in first_line.split(d)} - {""}),
    )
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(rows)
    except (StopIteration, csv.Error):
        yield ReadResult(1, error="the CSV file has no header line", line=1)
        return
    columns = [header_key(cell) for cell in header]
    missing = [name for name in CSV_REQUIRED if name not in columns]
    if missing:
        yield ReadResult(
            1,
            error=f"the header has no {' or '.join(missing)} column; the template's columns "
            f"are {', '.join(CSV_COLUMNS)}",
            line=1,
        )
        return
    notes = []
    if charset == "GB18030":
        notes.append("the file is not UTF-8; read as GB18030 (save it as 'CSV UTF-8' to be sure)")
    unknown = [
        cell.strip() for cell, key in zip(header, columns, strict=True) if cell.strip() and not key
    ]
    if unknown:
        notes.append(f"columns not in the template were ignored: {', '.join(unknown)}")
    duplicated = sorted({key for key in columns if key and columns.count(key) > 1})
    if duplicated:
        notes.append(f"columns given twice (the first is used): {', '.join(duplicated)}")
    seen: dict[str, int] = {}
    position = 0
    line = rows.line_num
    while True:
        try:
            cells = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            position += 1
            yield ReadResult(position, error=f"line {rows.line_num}: {exc}", line=rows.line_num)
            return
        start, line = line + 1, rows.line_num
        if not any(cell.strip() for cell in cells):
            continue
        position += 1
        errors: list[str] = []
        if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
            errors.append(f"the row has {len(cells)} cells but the header has {len(columns)}")
        row: dict[str, str] = {}
        for key, cell in zip(columns, cells, strict=False):
            if key and key not in row:
                row[key] = cell
        converted = convert_row(row)
        errors += converted.errors
        local_id = " ".join(row.get("local_id", "").split())
        if local_id and local_id in seen:
            errors.append(f"local_id {local_id!r} is already used on line {seen[local_id]}")
        elif local_id:
            seen[local_id] = start
        warnings = tuple(notes + converted.warnings)
        notes = []
        if errors:
            yield ReadResult(position, error="; ".join(errors), line=start, warnings=warnings)
        else:
            yield ReadResult(
                position, record=converted.record, line=start, warnings=warnings, encoding="utf-8"
            )


_READERS: dict[str, Callable[[_Source], Iterator[ReadResult]]] = {
    FORMAT_ISO2709: read_iso2709,
    FORMAT_MARCXML: read_marcxml,
    FORMAT_MARC_JSON: read_marc_json,
    FORMAT_CSV: read_csv,
}
