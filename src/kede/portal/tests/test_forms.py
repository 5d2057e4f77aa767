"""The request form: precise, translated messages next to the field; nothing half-stored."""

import pytest
from django.urls import reverse
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from kede.conftest import PASSWORD
from kede.ill.models import Request
from kede.portal.forms import CitationForm


def errors_for(**data):
    form = CitationForm(data={"title": "A chapter", "container_title": "A journal", **data})
    form.is_valid()
    return form.errors


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("issn", "1234-5678"),
        ("isbn", "978-0-00-000000-1"),
        ("doi", "doi.org/nothing"),
        ("year", "19x5"),
        ("year", "3021"),
        ("pages", "12--"),
    ],
)
def test_bad_values_get_a_message_on_their_field(field, value):
    assert field in errors_for(**{field: value})


def test_good_identifiers_are_normalised():
    form = CitationForm(
        data={
            "title": "A chapter",
            "issn": "0028 0836",
            "isbn": "0-306-40615-2",
            "doi": "https://doi.org/10.1000/XYZ123",
            "pages": "45–67",
        }
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["issn"] == "0028-0836"
    assert form.cleaned_data["isbn"] == "9780306406157"
    assert form.cleaned_data["doi"] == "10.1000/XYZ123"


def test_a_citation_must_say_where_it_was_published():
    form = CitationForm(data={"title": "Orphan"})
    assert not form.is_valid()
    assert form.non_field_errors()


def test_messages_are_translated():
    with translation.override("zh-hans"):
        zh = errors_for(issn="1234-5678")["issn"][0]
    with translation.override("en"):
        en = errors_for(issn="1234-5678")["issn"][0]
    assert "ISSN" in en and zh != en


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(list(CitationForm.base_fields)), st.text(max_size=60)))
def test_any_input_gets_a_verdict_never_a_crash(data):
    form = CitationForm(data=data)
    if form.is_valid():
        assert form.cleaned_data["title"].strip()


@pytest.mark.django_db
def test_a_bad_form_creates_nothing_and_shows_the_error_beside_the_field(client, network):
    assert client.login(username=network.readers["USST"].username, password=PASSWORD)
    response = client.post(
        reverse("portal:request-new") + f"?work={network.work.id}",
        {"title": "Ch", "container_title": "J", "issn": "1234-5678"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert 'aria-describedby="id_issn_error"' in page
    assert 'id="id_issn_error"' in page
    assert Request.objects.count() == 0


@pytest.mark.parametrize("year", ["¹⁹⁹⁹", "１９９９", "١٩٩٩"])
def test_years_in_other_digit_forms_are_refused_not_crashed(year):
    assert "year" in errors_for(year=year)


@pytest.mark.django_db
def test_a_strange_work_parameter_is_ignored(client, network):
    assert client.login(username=network.readers["USST"].username, password=PASSWORD)
    assert client.get(reverse("portal:request-new") + "?work=¹").status_code == 200
