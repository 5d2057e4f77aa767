"""Is an uploaded file a copy we can deliver? Pure: no Django."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from pypdf import PdfReader
from pypdf.errors import PyPdfError

PDF_MAGIC = b"%PDF-"


class CopyRejected(ValueError):
    """The file cannot be delivered; the message says why, for the person who uploaded it."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class PdfFacts:
    pages: int
    size: int


def check_pdf(data: bytes, *, max_bytes: int) -> PdfFacts:
    """Accept a PDF that opens and has pages, within the size limit; reject anything else."""
    size = len(data)
    if size == 0:
        raise CopyRejected("empty")
    if size > max_bytes:
        raise CopyRejected("too_large", size=size, limit=max_bytes)
    if not data[:1024].lstrip().startswith(PDF_MAGIC):
        raise CopyRejected("not_pdf")
    # pypdf logs and recovers from many small faults; we only want its verdict.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise CopyRejected("encrypted")
        pages = len(reader.pages)
    except CopyRejected:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise CopyRejected("damaged", detail=str(exc)[:200]) from exc
    if pages == 0:
        raise CopyRejected("no_pages")
    return PdfFacts(pages=pages, size=size)
