"""Uploaded PDFs and page scans become one PDF, in order. Pure: no database."""

import io
import struct
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen.canvas import Canvas

from kede.delivery.assemble import assemble_pdf
from kede.delivery.checks import CopyRejected

MB = 1024 * 1024


def a_pdf(*texts: str, size: tuple[float, float] = (400, 500)) -> bytes:
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=size)
    for text in texts:
        canvas.drawString(50, 250, text)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def a_scan(mode: str = "L", size: tuple[int, int] = (120, 160), ink: object = 0) -> Image.Image:
    """A page with a black block in its top-left quarter, the rest paper-white."""
    paper = {"1": 1, "L": 255, "RGB": "white", "RGBA": (0, 0, 0, 0), "CMYK": (0, 0, 0, 0)}
    image = Image.new(mode, size, paper[mode])
    ImageDraw.Draw(image).rectangle([0, 0, size[0] // 2 - 1, size[1] // 2 - 1], fill=ink)
    return image


def saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def multipage_tiff(*frames: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    frames[0].save(out, "TIFF", save_all=True, append_images=list(frames[1:]), **options)
    return out.getvalue()


def sizes_in_points(pdf: bytes) -> list[tuple[float, float]]:
    return [
        (round(float(page.mediabox.width), 1), round(float(page.mediabox.height), 1))
        for page in PdfReader(io.BytesIO(pdf)).pages
    ]


def the_image(pdf: bytes, index: int = 0):
    page = PdfReader(io.BytesIO(pdf)).pages[index]
    (name,) = page["/Resources"]["/XObject"]
    return page["/Resources"]["/XObject"][name]


def refused(files: list[tuple[str, bytes]], **limits: int) -> CopyRejected:
    with pytest.raises(CopyRejected) as exc:
        assemble_pdf(files, **{"max_bytes": MB, **limits})
    return exc.value


def test_pdfs_and_scans_become_one_pdf_with_every_page_in_upload_order():
    # given a PDF of two pages, a JPEG, a three-page TIFF and a PNG, each page a different size
    tiff_pages = [a_scan("1", (300 + 60 * i, 300)) for i in range(3)]
    files = [
        ("article.pdf", a_pdf("first pdf page", "second pdf page", size=(400, 500))),
        ("p3.jpg", saved(a_scan("RGB", (150, 300)), "JPEG", dpi=(150, 150))),
        ("p4-6.tif", multipage_tiff(*tiff_pages, dpi=(300, 300), compression="group4")),
        ("p7.png", saved(a_scan("L", (200, 100)), "PNG", dpi=(100, 100))),
    ]

    # when
    pdf = assemble_pdf(files, max_bytes=MB)

    # then there are seven pages, in the order uploaded
    assert sizes_in_points(pdf) == [
        (400, 500),
        (400, 500),
        (72, 144),
        (72, 72),
        (86.4, 72),
        (100.8, 72),
        (144, 72),
    ]
    # and the PDF's own text is still there
    reader = PdfReader(io.BytesIO(pdf))
    assert "first pdf page" in reader.pages[0].extract_text()
    assert "second pdf page" in reader.pages[1].extract_text()


@pytest.mark.parametrize(
    ("dpi", "expected"),
    [
        ((300, 300), (595.2, 841.9)),  # A4 scanned at 300 dpi is A4
        ((200, 100), (892.8, 2525.8)),  # each axis keeps its own resolution
        (None, (595.2, 841.9)),  # no resolution recorded: 300 dpi
        ((1, 1), (595.2, 841.9)),  # placeholders, not measurements: 300 dpi
        ((72, 72), (595.2, 841.9)),
    ],
)
def test_a_scan_page_is_as_large_as_its_resolution_says(dpi, expected):
    # given an A4-sized bilevel scan (2480 × 3508 pixels)
    options = {"dpi": dpi} if dpi else {}
    scan = saved(a_scan("1", (2480, 3508)), "PNG", **options)

    # when
    pdf = assemble_pdf([("a4.png", scan)], max_bytes=MB)

    # then
    assert sizes_in_points(pdf) == [expected]


def test_a_jpeg_scan_is_copied_in_untouched():
    # given
    jpeg = saved(a_scan("RGB", (160, 120)), "JPEG", quality=70)

    # when
    pdf = assemble_pdf([("p1.jpg", jpeg), ("p2.png", saved(a_scan(), "PNG"))], max_bytes=MB)

    # then the scanner's JPEG is in the PDF byte for byte: no second round of compression
    assert the_image(pdf).get_data() == jpeg
    assert the_image(pdf)["/Filter"] == "/DCTDecode"


def test_bilevel_and_grey_scans_stay_bilevel_and_grey_and_small():
    # given a 300 dpi A4 text page in black and white, and the same page in grey
    bilevel = saved(a_scan("1", (2480, 3508)), "TIFF", compression="group4", dpi=(300, 300))
    grey = saved(a_scan("L", (2480, 3508)), "PNG", dpi=(300, 300))

    # when
    pdf = assemble_pdf([("bw.tif", bilevel), ("grey.png", grey)], max_bytes=MB)

    # then the bilevel page is one bit a pixel in fax coding, the grey one is grey
    assert the_image(pdf, 0)["/BitsPerComponent"] == 1
    assert the_image(pdf, 0)["/Filter"] == "/CCITTFaxDecode"
    assert the_image(pdf, 1)["/ColorSpace"] == "/DeviceGray"
    # and a whole A4 page costs a few kilobytes, not the 26 MB of an RGB bitmap
    assert len(pdf) < 60_000


@pytest.mark.parametrize(
    ("image", "fmt"),
    [
        (a_scan("CMYK", ink=(0, 0, 0, 255)), "TIFF"),
        (a_scan("CMYK", ink=(0, 0, 0, 255)), "JPEG"),
        (a_scan("RGBA", ink=(0, 0, 0, 255)), "PNG"),
        (a_scan("L").convert("P"), "PNG"),
        (a_scan("L").convert("I;16").point(lambda value: value * 257), "PNG"),
    ],
    ids=["cmyk-tiff", "cmyk-jpeg", "rgba-png", "palette-png", "16-bit-grey-png"],
)
def test_scans_in_other_colour_models_show_black_ink_on_white_paper(image, fmt):
    # given a scan whose top-left quarter is black and the rest white (or transparent)
    data = saved(image, fmt)

    # when
    pdf = assemble_pdf([(f"scan.{fmt.lower()}", data)], max_bytes=MB)

    # then the page shows the same: the PDF image decodes to black ink on white paper
    shown = the_image(pdf).decode_as_image().convert("L")
    width, height = shown.size
    assert shown.getpixel((width // 4, height // 4)) < 40
    assert shown.getpixel((3 * width // 4, 3 * height // 4)) > 215


def test_a_phone_photo_is_turned_the_way_its_exif_says():
    # given a landscape photo that the phone marked "rotate 90° clockwise to view"
    photo = a_scan("RGB", (300, 150))
    exif = photo.getexif()
    exif[0x0112] = 6

    # when
    pdf = assemble_pdf([("photo.jpg", saved(photo, "JPEG", exif=exif))], max_bytes=MB)

    # then the page is portrait, as every image viewer shows it
    assert sizes_in_points(pdf) == [(36, 72)]


def test_the_format_comes_from_the_bytes_not_the_name():
    # given a JPEG that was saved as .pdf, and a ZIP archive named .tiff
    jpeg = saved(a_scan("RGB"), "JPEG")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("scan.tif", b"not really")

    # when / then the JPEG is a page scan
    pdf = assemble_pdf([("chapter.pdf", jpeg)], max_bytes=MB)
    assert the_image(pdf)["/Filter"] == "/DCTDecode"
    # and the archive is refused by name
    error = refused([("ok.png", saved(a_scan(), "PNG")), ("scans.tiff", archive.getvalue())])
    assert (error.code, error.params) == ("unsupported", {"name": "scans.tiff"})


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header promises width × height pixels, followed by almost nothing."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"\x00\x00\x00\x00IEND\xaeB`\x82"


def test_a_png_claiming_ten_billion_pixels_is_refused_as_an_image_bomb():
    # given a 70-byte PNG whose header claims 100 000 × 100 000 pixels
    bomb = png_claiming(100_000, 100_000)

    # when
    error = refused([("page.png", bomb)])

    # then it is refused before anything is decoded
    assert error.code == "image_bomb"
    assert error.params == {"name": "page.png", "limit": 100_000_000}


@pytest.mark.parametrize(
    "pixels",
    [
        (150, 100),  # over the limit, under twice it: Pillow only warns
        (300, 300),  # over twice the limit: Pillow refuses
    ],
)
def test_a_real_image_over_the_pixel_limit_is_refused(pixels):
    # given
    scan = saved(a_scan("L", pixels), "PNG")

    # when
    error = refused([("big.png", scan)], max_pixels=10_000)

    # then
    assert error.code == "image_bomb"
    assert error.params["name"] == "big.png"


def test_a_tiff_with_a_huge_later_page_is_refused():
    # given a TIFF whose first page is small and whose second is over the limit
    tiff = multipage_tiff(a_scan("1", (50, 50)), a_scan("1", (400, 400)))

    # when
    error = refused([("scans.tif", tiff)], max_pixels=10_000)

    # then
    assert error.code == "image_bomb"


def test_the_pixel_limit_is_only_changed_for_the_call():
    # given
    before = Image.MAX_IMAGE_PIXELS

    # when one call succeeds and one is refused
    assemble_pdf([("ok.png", saved(a_scan(), "PNG"))], max_bytes=MB, max_pixels=50_000)
    refused([("bomb.png", png_claiming(100_000, 100_000))], max_pixels=10)

    # then Pillow's limit for the rest of the process is what it was
    after = Image.MAX_IMAGE_PIXELS
    assert after == before


def test_a_truncated_jpeg_is_refused_as_a_damaged_image():
    # given a JPEG cut off half-way through, as an interrupted upload leaves it
    jpeg = saved(Image.effect_noise((200, 200), 60), "JPEG")

    # when
    error = refused([("p1.jpg", jpeg[: len(jpeg) // 2])])

    # then
    assert error.code == "damaged_image"
    assert error.params["name"] == "p1.jpg"


def test_a_damaged_pdf_among_scans_is_named():
    # given
    files = [("p1.png", saved(a_scan(), "PNG")), ("p2.pdf", b"%PDF-1.7\n garbage")]

    # when
    error = refused(files)

    # then the uploader learns which file is the bad one
    assert error.code == "damaged"
    assert error.params["name"] == "p2.pdf"


def test_an_encrypted_pdf_is_refused_by_name():
    # given
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(a_pdf("secret"))))
    writer.encrypt("owner-and-reader")
    locked = io.BytesIO()
    writer.write(locked)

    # when
    error = refused([("locked.pdf", locked.getvalue()), ("p2.png", saved(a_scan(), "PNG"))])

    # then
    assert (error.code, error.params) == ("encrypted", {"name": "locked.pdf"})


def test_uploads_over_the_size_limit_are_refused_with_their_total_size():
    # given two files that each fit but together do not
    first, second = saved(a_scan(), "PNG"), a_pdf("page")
    limit = max(len(first), len(second)) + 1

    # when
    error = refused([("a.png", first), ("b.pdf", second)], max_bytes=limit)

    # then
    assert error.code == "too_large"
    assert error.params == {"size": len(first) + len(second), "limit": limit}


def test_uploads_with_too_many_pages_are_refused():
    # given a three-page PDF and a three-page TIFF, with room for five pages
    tiff = multipage_tiff(*(a_scan("1") for _ in range(3)))

    # when
    error = refused([("a.pdf", a_pdf("1", "2", "3")), ("b.tif", tiff)], max_pages=5)

    # then
    assert (error.code, error.params) == ("too_many_pages", {"pages": 6, "limit": 5})


@pytest.mark.parametrize(
    ("files", "code", "params"),
    [
        ([], "no_files", {}),
        ([("blank.png", b"")], "empty", {"name": "blank.png"}),
        ([("notes.txt", b"Dear colleague, ...")], "unsupported", {"name": "notes.txt"}),
        ([("page.png", b"\x89PNG\r\n\x1a\n")], "damaged_image", None),
    ],
)
def test_nothing_usable_is_refused_with_a_reason(files, code, params):
    # when
    error = refused(files)

    # then
    assert error.code == code
    if params is not None:
        assert error.params == params


def test_a_single_pdf_is_delivered_byte_for_byte():
    # given
    pdf = a_pdf("only page")

    # when / then
    assert assemble_pdf([("article.pdf", pdf)], max_bytes=MB) == pdf


MAGIC = [
    b"",
    b"%PDF-1.4\n",
    b"II*\x00",
    b"MM\x00*",
    b"II+\x00",
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    png_claiming(40, 30)[:-12],
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(MAGIC), st.binary(max_size=2048)),
        min_size=1,
        max_size=3,
    )
)
def test_any_bytes_get_a_verdict_never_a_crash(uploads):
    # given files that start like a PDF or an image and continue with anything
    files = [(f"f{index}", magic + rest) for index, (magic, rest) in enumerate(uploads)]

    # when / then the only failure is a refusal with a reason
    try:
        pdf = assemble_pdf(files, max_bytes=MB, max_pixels=1_000_000)
    except CopyRejected as exc:
        assert exc.code in {
            "empty",
            "unsupported",
            "damaged",
            "damaged_image",
            "image_bomb",
            "no_pages",
            "encrypted",
            "too_many_pages",
        }
    else:
        assert len(PdfReader(io.BytesIO(pdf)).pages) >= len(files)
