import pytest
from hypothesis import given
from hypothesis import strategies as st

from kede.core.identifiers import normalise_doi, normalise_isbn, normalise_issn


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0306406152", "9780306406157"),
        ("0-306-40615-2 (pbk.)", "9780306406157"),
        ("978 0 306 40615 7", "9780306406157"),
        ("(9780306406157)", "9780306406157"),
        ("0306406153", None),
        ("pbk.", None),
        ("", None),
    ],
)
def test_isbn(raw, expected):
    assert normalise_isbn(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0028-0836", "0028-0836"),
        ("0028 0836", "0028-0836"),
        ("00280836 (print)", "0028-0836"),
        ("1234-5678", None),
        ("0028-08366", None),
    ],
)
def test_issn(raw, expected):
    assert normalise_issn(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.1000/xyz123", "10.1000/xyz123"),
        ("https://doi.org/10.1038/nature12373", "10.1038/nature12373"),
        ("doi:10.1000/abc", "10.1000/abc"),
        ("11.1000/xyz", None),
        ("10.1000", None),
    ],
)
def test_doi(raw, expected):
    assert normalise_doi(raw) == expected


@given(st.text(max_size=40))
def test_identifiers_never_crash(text):
    normalise_isbn(text)
    normalise_issn(text)
    normalise_doi(text)
