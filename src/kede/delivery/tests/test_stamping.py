"""A delivered copy carries a cover page and a footer naming its reader. Pure: no database."""

import io
from datetime import date

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import RectangleObject
from reportlab.pdfgen.canvas import Canvas

from kede.delivery.assemble import assemble_pdf
from kede.delivery.checks import CopyRejected
from kede.delivery.stamping import FOOTER_BAND, stamp_copy

NOTICE = (
    "本复制件依据《中华人民共和国著作权法》第二十四条提供，仅供读者个人学习、研究使用。"
    "不得转让、再复制或用于任何商业目的；违者自负法律责任。"
    "This copy is supplied for private study and research only and may not be copied again."
)
ZH_LABELS = {
    "title": "可得文献传递",
    "request": "申请号",
    "reader": "读者",
    "institution": "读者单位",
    "supplier": "提供馆",
    "date": "传递日期",
}


def a_pdf(pages: int = 3, size: tuple[float, float] = (595, 842)) -> bytes:
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=size)
    for number in range(1, pages + 1):
        canvas.drawString(40, size[1] - 60, f"Original text of page {number}")
        canvas.drawString(40, 20, f"Last line of page {number}")
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def reshaped(pdf: bytes, *, rotate: int = 0, mediabox: tuple | None = None) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    for page in writer.pages:
        page.rotation = rotate
        if mediabox:
            page.mediabox = RectangleObject(mediabox)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def stamped(pdf: bytes, **overrides: object) -> PdfReader:
    arguments = {
        "request_number": "KD-2025-000123",
        "reader_name": "李明",
        "institution": "上海理工大学图书馆",
        "supplier": "复旦大学图书馆",
        "notice": NOTICE,
        "delivered_on": date(2025, 3, 14),
        "labels": ZH_LABELS,
        **overrides,
    }
    return PdfReader(io.BytesIO(stamp_copy(pdf, **arguments)))


def box(rectangle) -> tuple[float, float, float, float]:
    return tuple(round(float(value), 2) for value in rectangle)


def footer_as_seen(page) -> tuple[tuple[float, float, float, float], tuple[float, float]]:
    """Where the footer strip is as the reader sees the page, and which way its text runs.

    Reads the footer's placement from the page content, then turns the page by its /Rotate
    (clockwise, as the PDF specification says viewers show it) with the visible box's
    bottom-left corner as the origin. Returns the strip's box and the text's direction.
    """
    operations = page.get_contents().operations
    (index,) = [
        at
        for at, (operands, operator) in enumerate(operations)
        if operator == b"Do" and operands[0].startswith("/KedeFooter")
    ]
    operands, operator = operations[index - 1]
    assert operator == b"cm"
    a, b, c, d, e, f = (float(value) for value in operands)
    form = page["/Resources"]["/XObject"][operations[index][0][0]]
    x0, y0, x1, y1 = (float(value) for value in form["/BBox"])
    left, bottom, right, top = box(page.cropbox)
    rotate = page.rotation % 360

    def seen(x: float, y: float) -> tuple[float, float]:
        x, y = a * x + c * y + e, b * x + d * y + f
        return {
            0: (x - left, y - bottom),
            90: (y - bottom, right - x),
            180: (right - x, top - y),
            270: (top - y, x - left),
        }[rotate]

    corners = [seen(x, y) for x in (x0, x1) for y in (y0, y1)]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    origin, along = seen(0, 0), seen(1, 0)
    direction = (round(along[0] - origin[0], 3), round(along[1] - origin[1], 3))
    return (min(xs), min(ys), max(xs), max(ys)), direction


def test_the_cover_page_comes_first_and_names_request_reader_institution_and_library():
    # given a three-page article
    pdf = a_pdf(pages=3)

    # when
    copy = stamped(pdf)

    # then there is one more page, and the first says who the copy is for, in Chinese
    assert len(copy.pages) == 4
    cover = copy.pages[0].extract_text()
    for expected in (
        "可得文献传递",
        "申请号",
        "KD-2025-000123",
        "李明",
        "上海理工大学图书馆",
        "复旦大学图书馆",
        "2025-03-14",
    ):
        assert expected in cover
    assert "Original text" not in cover


def test_the_cover_carries_the_whole_copyright_notice_over_several_lines():
    # when
    cover = stamped(a_pdf(pages=1)).pages[0].extract_text()

    # then every part of the notice is there, wrapped rather than cut off at the margin
    lines = cover.splitlines()
    notice_lines = lines[lines.index(next(line for line in lines if "本复制件" in line)) :]
    assert len(notice_lines) >= 3
    joined = "".join(line.strip() for line in notice_lines).replace(" ", "")
    assert NOTICE.replace(" ", "") in joined


def test_every_original_page_keeps_its_text_and_gains_the_footer():
    # when
    copy = stamped(a_pdf(pages=3))

    # then
    for number, page in enumerate(copy.pages[1:], start=1):
        text = page.extract_text()
        assert f"Original text of page {number}" in text
        assert f"Last line of page {number}" in text
        footer = next(line for line in text.splitlines() if "KD-2025-000123" in line)
        assert "李明" in footer
        assert "上海理工大学图书馆" in footer
        # one short line: the notice's first sentence, not all of it
        assert "本复制件" in footer
        assert "This copy is supplied" not in footer


def test_the_footer_sits_in_a_strip_below_the_page_and_covers_nothing():
    # given an A4 page
    pdf = a_pdf(pages=1)

    # when
    page = stamped(pdf).pages[1]

    # then the page grew by the footer strip at the bottom, and the footer is in that strip
    assert box(page.cropbox) == (0, -FOOTER_BAND, 595, 842)
    strip, direction = footer_as_seen(page)
    assert strip == (0, 0, 595, FOOTER_BAND)
    assert direction == (1, 0)


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_a_rotated_page_gets_its_footer_at_the_bottom_as_the_reader_sees_it(rotate):
    # given an A4 page that viewers show turned by `rotate` degrees
    pdf = reshaped(a_pdf(pages=1), rotate=rotate)

    # when
    page = stamped(pdf).pages[1]

    # then the footer is there
    text = page.extract_text()
    assert "KD-2025-000123" in text
    assert "Original text of page 1" in text
    # and it runs left to right along the bottom edge of the page as shown
    shown_width = 595 if rotate == 180 else 842
    strip, direction = footer_as_seen(page)
    assert strip == (0, 0, shown_width, FOOTER_BAND)
    assert direction == (1, 0)


def test_a_page_whose_box_does_not_start_at_the_origin_gets_its_footer_below_it():
    # given a page whose media box runs from (-100, 200) to (495, 1042)
    pdf = reshaped(a_pdf(pages=1), mediabox=(-100, 200, 495, 1042))

    # when
    page = stamped(pdf).pages[1]

    # then the strip is added under that box, not at y = 0 somewhere inside or outside it
    assert box(page.cropbox) == (-100, 200 - FOOTER_BAND, 495, 1042)
    assert footer_as_seen(page) == ((0, 0, 595, FOOTER_BAND), (1, 0))


def test_a_cropped_page_keeps_its_crop_and_gains_the_strip_below_it():
    # given a page shown cropped to its middle
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(a_pdf(pages=1))))
    writer.pages[0].cropbox = RectangleObject((50, 100, 545, 742))
    out = io.BytesIO()
    writer.write(out)

    # when
    page = stamped(out.getvalue()).pages[1]

    # then
    assert box(page.cropbox) == (50, 100 - FOOTER_BAND, 545, 742)
    assert footer_as_seen(page)[0] == (0, 0, 495, FOOTER_BAND)


def test_a_long_footer_on_a_narrow_page_is_shortened_but_keeps_the_request_number():
    # given a page the width of a library catalogue card
    pdf = a_pdf(pages=1, size=(150, 100))

    # when
    text = (
        stamped(pdf, institution="上海理工大学图书馆（军工路校区）期刊部").pages[1].extract_text()
    )

    # then
    footer = next(line for line in text.splitlines() if "KD-2025-000123" in line)
    assert footer.endswith("…")


def test_latin_names_and_english_labels_are_set_too():
    # when the caller gives no labels and the reader has a Latin name
    copy = stamped(
        a_pdf(pages=1), labels={}, reader_name="Zoë Müller", institution="ETH-Bibliothek"
    )

    # then the English defaults are used
    cover = copy.pages[0].extract_text()
    assert "Kede document delivery" in cover
    assert "Zoë Müller" in cover
    assert "Zoë Müller · ETH-Bibliothek" in copy.pages[1].extract_text()


def test_scans_assembled_by_kede_can_be_stamped():
    # given a PDF assembled from two page scans
    scans = []
    for _ in range(2):
        out = io.BytesIO()
        Image.new("L", (600, 800), 255).save(out, "PNG", dpi=(100, 100))
        scans.append(("scan.png", out.getvalue()))
    pdf = assemble_pdf(scans, max_bytes=1024 * 1024)

    # when
    copy = stamped(pdf)

    # then
    assert len(copy.pages) == 3
    assert all("KD-2025-000123" in page.extract_text() for page in copy.pages)
    assert box(copy.pages[1].cropbox) == (0, -FOOTER_BAND, 432, 576)


@pytest.mark.parametrize(
    ("pdf", "code"), [(b"%PDF-1.7\n not a pdf", "damaged"), (None, "encrypted")]
)
def test_a_pdf_that_cannot_be_stamped_is_refused(pdf, code):
    # given
    if pdf is None:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(a_pdf(pages=1))))
        writer.encrypt("secret")
        out = io.BytesIO()
        writer.write(out)
        pdf = out.getvalue()

    # when
    with pytest.raises(CopyRejected) as exc:
        stamped(pdf)

    # then
    assert exc.value.code == code


def test_stray_control_characters_in_names_are_not_printed():
    # given a name pasted from a spreadsheet, with a tab, a NUL and a zero-width space
    name = "李明\t\x00\u200b"

    # when
    copy = stamped(a_pdf(pages=1), reader_name=name)

    # then the footer reads cleanly
    assert "KD-2025-000123 · 李明 · 上海理工大学图书馆" in copy.pages[1].extract_text()
