"""Turn the files a supplier uploads into one PDF, pages in upload order. Pure: no Django.

Suppliers send what their scanners make: PDFs, and page scans as TIFF (often one multi-page
file), JPEG or PNG. The reader gets a single PDF. What a file *is* comes from its first bytes,
never from its name: scanner software and e-mail clients get extensions wrong, and an attacker
chooses them.
"""

from __future__ import annotations

import io
import logging
import math
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageOps, features
from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    BooleanObject,
    ByteStringObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    PdfObject,
    StreamObject,
)

from kede.delivery.checks import PDF_MAGIC, CopyRejected, check_pdf

DEFAULT_DPI = 300.0
# Outside this range a DPI tag is a placeholder written by software (0, 1, 72000), not a
# measurement, and trusting it would give pages the size of a stamp or of a wall.
MIN_DPI, MAX_DPI = 50.0, 4800.0
# 72 is what cameras, phones and Pillow (for a JPEG with EXIF but no resolution) write when
# they know nothing, 96 what Windows writes on screenshots; nobody scans a page at either.
PLACEHOLDER_DPI = (72.0, 96.0)
# Acrobat refuses pages longer than 200 inches; a very long strip scan is made denser instead.
MAX_PAGE_POINTS = 14_400.0
# Good enough to read and print a scanned page; about a tenth of the lossless size.
JPEG_QUALITY = 85

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF, which large-format scanners write
    (b"MM\x00+", "TIFF"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
)

# What Pillow raises on hostile or broken input; any of them means "we cannot read this image".
_IMAGE_FAILURES: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,  # Pillow's "not a PNG/TIFF" and bad chunk CRCs
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    AttributeError,
    OverflowError,
    RuntimeError,
)
_PDF_FAILURES: tuple[type[BaseException], ...] = (
    PyPdfError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    RecursionError,
)

# Image.MAX_IMAGE_PIXELS and the warnings filter are process-wide: one call at a time may
# change them, or a concurrent call could restore the other's limit half-way.
_PIXEL_LIMIT_LOCK = threading.Lock()


def assemble_pdf(
    files: list[tuple[str, bytes]],
    *,
    max_bytes: int,
    max_pixels: int = 100_000_000,
    max_pages: int = 2000,
) -> bytes:
    """Return one PDF holding every page of `files` (name, data), in the order given.

    Each file must be a PDF (checked with check_pdf) or a TIFF/JPEG/PNG page scan. The first
    file that cannot be delivered stops the whole upload with CopyRejected naming it: a copy
    with a silently missing page is worse than no copy.
    """
    if not files:
        raise CopyRejected("no_files")
    total = sum(len(data) for _, data in files)
    if total > max_bytes:
        raise CopyRejected("too_large", size=total, limit=max_bytes)
    kinds = [_sniff(name, data) for name, data in files]
    if kinds == ["PDF"]:
        name, data = files[0]
        pages = _checked_pdf_pages(name, data, max_bytes)
        _check_page_count(pages, max_pages)
        return data  # nothing to merge: the supplier's file is delivered byte for byte

    writer = PdfWriter()
    pages = 0
    for (name, data), kind in zip(files, kinds, strict=True):
        if kind == "PDF":
            pages += _checked_pdf_pages(name, data, max_bytes)
            _check_page_count(pages, max_pages)
            _append_pdf(writer, name, data)
        else:
            pages += _add_scans(
                writer,
                name,
                data,
                kind,
                max_pixels=max_pixels,
                pages_before=pages,
                max_pages=max_pages,
            )
    out = io.BytesIO()
    try:
        writer.write(out)
    except _PDF_FAILURES as exc:
        raise CopyRejected("damaged", detail=str(exc)[:200]) from exc
    return out.getvalue()


def _sniff(name: str, data: bytes) -> str:
    """Name the format from the first bytes, the way check_pdf recognises a PDF."""
    if not data:
        raise CopyRejected("empty", name=name)
    if data[:1024].lstrip().startswith(PDF_MAGIC):
        return "PDF"
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    raise CopyRejected("unsupported", name=name)


def _check_page_count(pages: int, max_pages: int) -> None:
    if pages > max_pages:
        raise CopyRejected("too_many_pages", pages=pages, limit=max_pages)


# --- PDFs ------------------------------------------------------------------------------


def _checked_pdf_pages(name: str, data: bytes, max_bytes: int) -> int:
    """check_pdf's verdict, with the file's name added so the uploader knows which one."""
    try:
        return check_pdf(data, max_bytes=max_bytes).pages
    except CopyRejected as exc:
        raise CopyRejected(exc.code, name=name, **exc.params) from exc


def _append_pdf(writer: PdfWriter, name: str, data: bytes) -> None:
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        writer.append(PdfReader(io.BytesIO(data), strict=False))
    except _PDF_FAILURES as exc:
        # check_pdf only counts pages; copying them reads every object and can still fail.
        raise CopyRejected("damaged", name=name, detail=str(exc)[:200]) from exc


# --- Page scans ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Raster:
    """One page scan encoded for a PDF image XObject, with its size on paper."""

    width: int
    height: int
    width_pt: float
    height_pt: float
    colour_space: PdfObject
    bits: int
    filter: str
    data: bytes
    decode_parms: DictionaryObject | None = None


@contextmanager
def _pixel_limit(max_pixels: int) -> Iterator[None]:
    """Make Pillow refuse images over max_pixels for this call only, then put things back.

    Pillow only warns between max_pixels and twice that; the warning becomes an error here.
    """
    with _PIXEL_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _add_scans(
    writer: PdfWriter,
    name: str,
    data: bytes,
    kind: str,
    *,
    max_pixels: int,
    pages_before: int,
    max_pages: int,
) -> int:
    """Add every page of one image file (all frames of a TIFF); return how many were added.

    Frames are decoded one at a time, so a 300-page TIFF never holds more than one page in
    memory. Each is decoded in full even when its bytes are then copied as they are: that is
    the only way to learn that a scan is truncated before the reader does.
    """
    added = 0
    with _pixel_limit(max_pixels):
        try:
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                while True:
                    _check_page_count(pages_before + added + 1, max_pages)
                    _check_pixels(name, image.size, max_pixels)
                    image.load()
                    _add_image_page(writer, _encode(image, data if kind == "JPEG" else None))
                    added += 1
                    if kind != "TIFF":
                        return added  # a PNG's animation or a JPEG's thumbnails are not pages
                    try:
                        image.seek(image.tell() + 1)
                    except EOFError:
                        return added
        except CopyRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise CopyRejected("image_bomb", name=name, limit=max_pixels) from exc
        except _IMAGE_FAILURES as exc:
            raise CopyRejected("damaged_image", name=name, detail=str(exc)[:200]) from exc


def _check_pixels(name: str, size: tuple[int, int], max_pixels: int) -> None:
    """Refuse a frame before decoding it; Pillow checks the first frame only when opening."""
    width, height = size
    if width <= 0 or height <= 0:
        raise CopyRejected("damaged_image", name=name, detail=f"size {width}x{height}")
    if width * height > max_pixels:
        raise CopyRejected("image_bomb", name=name, limit=max_pixels)


def _encode(image: Image.Image, jpeg: bytes | None) -> _Raster:
    """Pick the PDF encoding that keeps the page readable and the file small.

    `jpeg` is the file's own bytes when it is a JPEG, to be copied in if nothing must change.
    """
    dpi_x, dpi_y = _dpi(image)
    orientation = image.getexif().get(0x0112, 1)
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        # Phones record how the page was held instead of turning the pixels; viewers obey it.
        image = ImageOps.exif_transpose(image)
        jpeg = None
        if orientation >= 5:  # a quarter turn: the axes, and their resolutions, swap
            dpi_x, dpi_y = dpi_y, dpi_x
    width, height = image.size
    width_pt, height_pt = width * 72.0 / dpi_x, height * 72.0 / dpi_y
    scale = max(width_pt, height_pt) / MAX_PAGE_POINTS
    if scale > 1:
        width_pt, height_pt = width_pt / scale, height_pt / scale
    size = (width, height, width_pt, height_pt)

    if jpeg is not None and image.mode in ("L", "RGB"):
        # The scanner's JPEG goes in untouched: no second generation of artefacts, no cost.
        return _Raster(*size, _device(image.mode), 8, "/DCTDecode", jpeg)
    image = _normalise(image)
    if image.mode == "1":
        # Bilevel text scans: CCITT G4 makes an A4 page at 300 dpi a few dozen kilobytes.
        group4 = _group4(image)
        if group4 is not None:
            parms = DictionaryObject(
                {
                    NameObject("/K"): NumberObject(-1),
                    NameObject("/Columns"): NumberObject(width),
                    NameObject("/Rows"): NumberObject(height),
                    NameObject("/BlackIs1"): BooleanObject(True),
                }
            )
            return _Raster(*size, _device("L"), 1, "/CCITTFaxDecode", group4, parms)
        # Pillow's bit order (1 = white) is DeviceGray's at one bit per pixel.
        return _Raster(*size, _device("L"), 1, "/FlateDecode", zlib.compress(image.tobytes()))
    if image.mode == "P":
        # Few-colour scans (maps, diagrams) stay indexed: exact colours, one byte a pixel.
        palette = (image.getpalette() or [])[: 3 * 256]
        palette += [0] * (3 * 256 - len(palette))
        indexed = ArrayObject(
            [
                NameObject("/Indexed"),
                NameObject("/DeviceRGB"),
                NumberObject(255),
                ByteStringObject(bytes(palette)),
            ]
        )
        return _Raster(*size, indexed, 8, "/FlateDecode", zlib.compress(image.tobytes()))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return _Raster(*size, _device(image.mode), 8, "/DCTDecode", out.getvalue())


def _device(mode: str) -> NameObject:
    return NameObject("/DeviceGray" if mode in ("1", "L") else "/DeviceRGB")


def _dpi(image: Image.Image) -> tuple[float, float]:
    """The scan's resolution, so a page scanned from A4 comes out A4; 300 dpi when unknown."""
    try:
        dpi_x, dpi_y = (float(value) for value in image.info["dpi"])
    except (KeyError, TypeError, ValueError):
        return DEFAULT_DPI, DEFAULT_DPI
    if not (MIN_DPI <= dpi_x <= MAX_DPI and MIN_DPI <= dpi_y <= MAX_DPI):
        return DEFAULT_DPI, DEFAULT_DPI
    if dpi_x == dpi_y and round(dpi_x, 1) in PLACEHOLDER_DPI:
        return DEFAULT_DPI, DEFAULT_DPI
    return dpi_x, dpi_y


def _normalise(image: Image.Image) -> Image.Image:
    """Bring any mode to one a PDF shows as is, without making small scans big.

    1-bit and grayscale stay what they are (a grey scan turned RGB triples in size); alpha is
    laid on white paper, since a transparent area printed on a page is white; CMYK and other
    colour models become RGB, which every viewer renders the same.
    """
    mode = image.mode
    if mode in ("1", "L", "RGB"):
        return image
    if mode == "P" and "transparency" not in image.info:
        return image
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey scans: keep the tones rather than clipping everything above 255 to white.
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if mode == "F":
        return image.convert("L")
    if mode in ("LA", "La"):
        return _on_white(image.convert("RGBA")).convert("L")
    if "A" in mode or "a" in mode or mode == "P":
        return _on_white(image.convert("RGBA"))
    return image.convert("RGB")


def _on_white(image: Image.Image) -> Image.Image:
    paper = Image.new("RGB", image.size, "white")
    paper.paste(image, mask=image.getchannel("A"))
    return paper


def _group4(image: Image.Image) -> bytes | None:
    """The image's CCITT G4 bit stream, taken from the single strip of a TIFF Pillow writes."""
    if not features.check("libtiff"):
        return None
    out = io.BytesIO()
    width, height = image.size
    image.save(out, "TIFF", compression="group4", strip_size=math.ceil(width / 8) * height)
    with Image.open(out, formats=["TIFF"]) as tiff:
        offsets, counts = tiff.tag_v2.get(273), tiff.tag_v2.get(279)
    if not offsets or not counts or len(offsets) != 1 or len(counts) != 1:
        return None
    return out.getvalue()[offsets[0] : offsets[0] + counts[0]]


def _add_image_page(writer: PdfWriter, raster: _Raster) -> None:
    """A page exactly the size of the scan, with the scan filling it."""
    image = StreamObject()
    image.set_data(raster.data)
    image.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Image"),
            NameObject("/Width"): NumberObject(raster.width),
            NameObject("/Height"): NumberObject(raster.height),
            NameObject("/ColorSpace"): raster.colour_space,
            NameObject("/BitsPerComponent"): NumberObject(raster.bits),
            NameObject("/Filter"): NameObject(raster.filter),
        }
    )
    if raster.decode_parms is not None:
        image[NameObject("/DecodeParms")] = raster.decode_parms
    page = writer.add_blank_page(raster.width_pt, raster.height_pt)
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): writer._add_object(image)})}
    )
    content = StreamObject()
    content.set_data(b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q" % (raster.width_pt, raster.height_pt))
    page[NameObject("/Contents")] = writer._add_object(content)
