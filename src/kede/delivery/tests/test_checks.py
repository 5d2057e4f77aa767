"""What counts as a deliverable copy. Pure: no database."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kede.conftest import pdf_bytes
from kede.delivery.checks import CopyRejected, check_pdf

MB = 1024 * 1024


def test_a_real_pdf_is_accepted_with_its_page_count():
    facts = check_pdf(pdf_bytes(pages=3), max_bytes=MB)
    assert facts.pages == 3


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"GIF89a not a pdf at all", "not_pdf"),
        (b"%PDF-1.7\n this is not really a pdf", "damaged"),
    ],
)
def test_files_that_are_not_usable_pdfs_are_refused_with_a_reason(data, code):
    with pytest.raises(CopyRejected) as exc:
        check_pdf(data, max_bytes=MB)
    assert exc.value.code == code


def test_a_pdf_over_the_limit_is_refused_with_its_size():
    data = pdf_bytes()
    with pytest.raises(CopyRejected) as exc:
        check_pdf(data, max_bytes=len(data) - 1)
    assert exc.value.code == "too_large"
    assert exc.value.params == {"size": len(data), "limit": len(data) - 1}


def test_a_truncated_pdf_is_refused():
    data = pdf_bytes(pages=4)
    with pytest.raises(CopyRejected):
        check_pdf(data[: len(data) // 3], max_bytes=MB)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_any_bytes_get_a_verdict_never_a_crash(data):
    try:
        check_pdf(b"%PDF-1.4\n" + data, max_bytes=MB)
    except CopyRejected as exc:
        assert exc.code in {"damaged", "no_pages", "encrypted", "too_large"}
