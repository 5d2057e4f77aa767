"""Stamp a delivered copy with who it is for: a cover page, and a footer on every page. Pure.

Copyright law lets a library supply one copy to one reader for study; the stamp is how the
copy says so. Text comes in already translated (`labels`), so this module needs no Django.

The footer goes in a strip added below each page, not on the page: the page box is made
taller by FOOTER_BAND points and the footer drawn there. Nothing of the original is covered
or scaled, so a full-bleed scan keeps its last line, a page keeps its true size, and links,
form fields and annotations stay where they were (their coordinates do not change). The
price is a page 5 mm taller than A4, which print dialogs fit to paper by default. Page
content is never parsed or rewritten: the footer is one small form object shared by every
page of the same width, so stamping a 300-page scan costs little more than copying it.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
    RectangleObject,
    StreamObject,
)
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from kede.delivery.checks import CopyRejected

# Adobe's standard Simplified Chinese font: viewers bring it, so nothing is embedded or
# downloaded. Latin text is set in Helvetica, which looks better than STSong's Latin.
CJK_FONT = "STSong-Light"
LATIN_FONT = "Helvetica"
pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))

FOOTER_BAND = 14.0  # points (about 5 mm) added below the visible area of every page
FOOTER_SIZE = 6.5
MIN_FOOTER_SIZE = 4.0
FOOTER_GREY = 0.3
COVER_SIZE = A4
COVER_MARGIN = 72.0
ELLIPSIS = "…"

DEFAULT_LABELS = {
    "title": "Kede document delivery",
    "request": "Request",
    "reader": "Reader",
    "institution": "Institution",
    "supplier": "Supplied by",
    "date": "Date",
    "pages": "Pages",
}

_PDF_FAILURES: tuple[type[BaseException], ...] = (
    PyPdfError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    RecursionError,
)


def stamp_copy(
    pdf: bytes,
    *,
    request_number: str,
    reader_name: str,
    institution: str,
    supplier: str,
    notice: str,
    delivered_on: date,
    labels: dict[str, str],
) -> bytes:
    """Return `pdf` with a cover page first and a one-line footer on every original page.

    `labels` holds the caller's translations of DEFAULT_LABELS' keys; a missing key falls
    back to English. `labels["footer_notice"]`, if given, replaces the notice's first
    sentence in the footer.
    """
    labels = {key: _clean(value) for key, value in {**DEFAULT_LABELS, **labels}.items()}
    request_number, reader_name = _clean(request_number), _clean(reader_name)
    institution, supplier = _clean(institution), _clean(supplier)
    notice = "\n".join(_clean(line) for line in notice.splitlines())
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(pdf), strict=False)
        if reader.is_encrypted:
            raise CopyRejected("encrypted")
        writer = PdfWriter(clone_from=reader)
        pages = list(writer.pages)
        placements = [_placement(page) for page in pages]
        footer = " · ".join(
            part
            for part in (
                request_number,
                reader_name,
                institution,
                labels.get("footer_notice") or _first_sentence(notice),
            )
            if part
        )
        cover = _Cover(
            title=labels["title"],
            rows=[
                (labels["request"], request_number),
                (labels["reader"], reader_name),
                (labels["institution"], institution),
                (labels["supplier"], supplier),
                (labels["date"], delivered_on.isoformat()),
                (labels["pages"], str(len(pages))),
            ],
            notice=notice,
        )
        widths = sorted({placement.width for placement in placements})
        stamps = PdfReader(io.BytesIO(_draw_stamps(cover, footer, widths)))
        forms = {
            width: _as_form(writer, stamps.pages[index + 1], width)
            for index, width in enumerate(widths)
        }
        streams = _Streams(writer)
        for page, placement in zip(pages, placements, strict=True):
            _add_footer(page, placement, forms[placement.width], streams)
        writer.insert_page(stamps.pages[0], 0)
        out = io.BytesIO()
        writer.write(out)
    except CopyRejected:
        raise
    except _PDF_FAILURES as exc:
        raise CopyRejected("damaged", detail=str(exc)[:200]) from exc
    return out.getvalue()


def _clean(text: str) -> str:
    """One line of printable text: names typed into forms bring tabs, NULs and zero-width spaces."""
    return " ".join(
        "".join(" " if unicodedata.category(char)[0] in "CZ" else char for char in text).split()
    )


def _first_sentence(notice: str) -> str:
    """The footer has one line; the notice's first sentence says enough, the cover says all."""
    notice = " ".join(notice.split())
    match = re.match(r"(.+?(?:[。！？]|[.!?](?=\s)))", notice)
    return match.group(1) if match else notice


# --- Where the footer goes ---------------------------------------------------------------


@dataclass(frozen=True)
class _Placement:
    """How one page will look: its new visible box, and the footer's place in it.

    `matrix` maps the footer's own coordinates (origin at the bottom left as the reader sees
    the page, x to the right) into the page's user space, whatever its /Rotate and origin.
    """

    box: tuple[float, float, float, float]
    media: tuple[float, float, float, float]
    matrix: tuple[float, float, float, float, float, float]
    width: float


def _placement(page: PageObject) -> _Placement:
    media = _box(_inherited(page, "/MediaBox")) or (0.0, 0.0, 612.0, 792.0)
    crop = _box(_inherited(page, "/CropBox")) or media
    # Viewers show the crop box clipped to the media box.
    left, bottom = max(crop[0], media[0]), max(crop[1], media[1])
    right, top = min(crop[2], media[2]), min(crop[3], media[3])
    if right <= left or top <= bottom:
        left, bottom, right, top = media
    rotate = _rotation(page)
    band = FOOTER_BAND
    # Grow the box on the side the reader sees as the bottom, then map the strip there.
    if rotate == 0:
        bottom -= band
        matrix = (1.0, 0.0, 0.0, 1.0, left, bottom)
    elif rotate == 90:  # shown turned clockwise: the user-space right edge is at the bottom
        right += band
        matrix = (0.0, 1.0, -1.0, 0.0, right, bottom)
    elif rotate == 180:
        top += band
        matrix = (-1.0, 0.0, 0.0, -1.0, right, top)
    else:  # 270: the user-space left edge is at the bottom
        left -= band
        matrix = (0.0, -1.0, 1.0, 0.0, left, top)
    width = (right - left) if rotate in (0, 180) else (top - bottom)
    box = (left, bottom, right, top)
    media = (
        min(media[0], left),
        min(media[1], bottom),
        max(media[2], right),
        max(media[3], top),
    )
    return _Placement(box=box, media=media, matrix=matrix, width=round(width, 2))


def _inherited(page: DictionaryObject, key: str) -> object:
    """A page attribute, looked up the page tree as PDF readers do (boxes, /Rotate, /Resources)."""
    node: DictionaryObject | None = page
    for _ in range(64):  # a page tree deeper than this is a loop
        if node is None:
            return None
        if key in node:
            return node[key]
        parent = node.get("/Parent")
        node = parent if isinstance(parent, DictionaryObject) else None
    return None


def _box(value: object) -> tuple[float, float, float, float] | None:
    """A rectangle as (left, bottom, right, top), whichever corners the file lists."""
    try:
        x1, y1, x2, y2 = (float(number) for number in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    if x1 == x2 or y1 == y2:
        return None
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def _rotation(page: PageObject) -> int:
    try:
        rotate = int(float(_inherited(page, "/Rotate") or 0))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
    return ((rotate + 45) // 90 * 90) % 360


class _Streams:
    """Small content streams, each written once however many pages use it."""

    def __init__(self, writer: PdfWriter) -> None:
        self._writer = writer
        self._made: dict[bytes, IndirectObject] = {}

    def __call__(self, data: bytes) -> IndirectObject:
        if data not in self._made:
            stream = StreamObject()
            stream.set_data(data)
            self._made[data] = self._writer._add_object(stream)
        return self._made[data]


def _add_footer(
    page: PageObject, placement: _Placement, form: IndirectObject, streams: _Streams
) -> None:
    """Enlarge the page and draw the footer form in the new strip, leaving the content as is."""
    page[NameObject("/MediaBox")] = RectangleObject(placement.media)
    page[NameObject("/CropBox")] = RectangleObject(placement.box)

    # Resources may be shared between pages: give this page its own shallow copies.
    resources = DictionaryObject()
    old = _inherited(page, "/Resources")
    if isinstance(old, DictionaryObject):
        for key in old:
            resources[key] = old.raw_get(key)
    xobjects = DictionaryObject()
    old_xobjects = resources.get("/XObject")
    if isinstance(old_xobjects, DictionaryObject):
        for key in old_xobjects:
            xobjects[key] = old_xobjects.raw_get(key)
    name = "/KedeFooter"
    while name in xobjects:
        name += "X"
    xobjects[NameObject(name)] = form
    resources[NameObject("/XObject")] = xobjects
    page[NameObject("/Resources")] = resources

    a, b, c, d, e, f = placement.matrix
    draw = b"q %s cm %s Do Q\n" % (
        b" ".join(_number(value) for value in (a, b, c, d, e, f)),
        name.encode("ascii"),
    )
    # q ... Q around the original content resets whatever state it leaves behind.
    contents = [streams(b"q\n"), *_content_parts(page), streams(b"\nQ\n"), streams(draw)]
    page[NameObject("/Contents")] = ArrayObject(contents)


def _content_parts(page: PageObject) -> Iterator[object]:
    if "/Contents" not in page:
        return
    raw = page.raw_get("/Contents")
    resolved = raw.get_object() if isinstance(raw, IndirectObject) else raw
    if isinstance(resolved, ArrayObject):
        yield from (resolved.raw_get(index) for index in range(len(resolved)))
    elif isinstance(resolved, StreamObject):
        yield raw


def _number(value: float) -> bytes:
    return b"%.4f" % value


def _as_form(writer: PdfWriter, page: PageObject, width: float) -> IndirectObject:
    """Turn a drawn footer page into a form XObject that any page can show."""
    drawn = page.get_contents()
    form = StreamObject()
    form.set_data(drawn.get_data() if drawn is not None else b"")
    form = form.flate_encode()
    form.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject(
                [FloatObject(0), FloatObject(0), FloatObject(width), FloatObject(FOOTER_BAND)]
            ),
            NameObject("/Resources"): page["/Resources"].clone(writer),
        }
    )
    return writer._add_object(form)


# --- Drawing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cover:
    title: str
    rows: list[tuple[str, str]]
    notice: str


def _draw_stamps(cover: _Cover, footer: str, widths: list[float]) -> bytes:
    """One small PDF: the cover page, then one footer strip for each page width in the copy."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=COVER_SIZE, pageCompression=1)
    _draw_cover(canvas, cover)
    canvas.showPage()
    for width in widths:
        canvas.setPageSize((width, FOOTER_BAND))
        _draw_footer(canvas, footer, width)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def _draw_cover(canvas: Canvas, cover: _Cover) -> None:
    page_width, page_height = COVER_SIZE
    text_width = page_width - 2 * COVER_MARGIN
    y = page_height - COVER_MARGIN - 20
    for line in _wrap(cover.title, 20, text_width):
        _draw_text(canvas, COVER_MARGIN, y, line, 20)
        y -= 28
    y -= 18

    label_width = max(_width(label, 11) for label, _ in cover.rows) + 16
    for label, value in cover.rows:
        canvas.setFillGray(0.4)
        _draw_text(canvas, COVER_MARGIN, y, label, 11)
        canvas.setFillGray(0)
        for line in _wrap(value, 12, text_width - label_width) or [""]:
            _draw_text(canvas, COVER_MARGIN + label_width, y, line, 12)
            y -= 18
        y -= 6

    y -= 10
    canvas.setStrokeGray(0.6)
    canvas.setLineWidth(0.5)
    canvas.line(COVER_MARGIN, y, page_width - COVER_MARGIN, y)
    y -= 24
    for line in _wrap(cover.notice, 10, text_width):
        if y < COVER_MARGIN:
            break  # a notice longer than a page is a configuration mistake, not the reader's
        _draw_text(canvas, COVER_MARGIN, y, line, 10)
        y -= 15


def _draw_footer(canvas: Canvas, footer: str, width: float) -> None:
    """White strip, then the footer centred, shrunk and if need be cut to fit the page."""
    canvas.setFillGray(1)
    canvas.rect(0, 0, width, FOOTER_BAND, stroke=0, fill=1)
    padding = min(18.0, width * 0.05)
    room = width - 2 * padding
    size = FOOTER_SIZE
    needed = _width(footer, size)
    if needed > room:
        size = max(MIN_FOOTER_SIZE, size * room / needed)
        footer = _cut(footer, size, room)
    canvas.setFillGray(FOOTER_GREY)
    x = (width - _width(footer, size)) / 2
    _draw_text(canvas, x, FOOTER_BAND / 2 - size * 0.35, footer, size)


def _cut(text: str, size: float, room: float) -> str:
    if _width(text, size) <= room:
        return text
    while text and _width(text + ELLIPSIS, size) > room:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def _font(char: str) -> str:
    """Helvetica for what WinAnsi can encode, the CJK font for everything else."""
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return CJK_FONT
    return LATIN_FONT


def _runs(text: str) -> Iterator[tuple[str, str]]:
    """Split text into (font, piece) runs, so mixed Chinese and Latin text sets correctly."""
    start = 0
    for index in range(1, len(text) + 1):
        if index == len(text) or _font(text[index]) != _font(text[start]):
            yield _font(text[start]), text[start:index]
            start = index


def _width(text: str, size: float) -> float:
    return sum(pdfmetrics.stringWidth(piece, font, size) for font, piece in _runs(text))


def _draw_text(canvas: Canvas, x: float, y: float, text: str, size: float) -> None:
    line = canvas.beginText(x, y)
    for font, piece in _runs(text):
        line.setFont(font, size)
        line.textOut(piece)
    canvas.drawText(line)


_TOKENS = re.compile(
    r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]|[^\s\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]+\s*|\s+"
)


def _wrap(text: str, size: float, room: float) -> list[str]:
    """Break text into lines that fit `room`: between words in Latin, anywhere in Chinese."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for token in _TOKENS.findall(paragraph):
            if _width(line + token.rstrip(), size) <= room:
                line += token
                continue
            if line.strip():
                lines.append(line.rstrip())
            line = token.lstrip()
            while _width(line.rstrip(), size) > room and len(line) > 1:
                # A word wider than the line (a URL) is broken where it must be.
                cut = len(line) - 1
                while cut > 1 and _width(line[:cut], size) > room:
                    cut -= 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    return lines
